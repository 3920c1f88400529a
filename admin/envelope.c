/* The admin API's error envelope (see admin.h). */
#include "admin.h"

void admin_envelope(http_req *r, int status, const char *code, const char *message)
{
    json_t *j;
    /* 429 keeps the flat shape it has always had: clients parse it. */
    if (status == 429)
        j = json_pack("{s:s,s:s,s:s}", "error", code, "message", message, "request_id",
                      http_req_echo_id(r));
    else
        j = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message", message,
                      "request_id", http_req_echo_id(r));
    http_respond_json(r, status, j);
}
