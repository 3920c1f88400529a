#include "errors.h"

#include <string.h>

void http_error_oauth(http_req *r, int status, const char *error, const char *description)
{
    json_t *j = json_pack("{s:s}", "error", error);
    if (description != NULL)
        json_object_set_new(j, "error_description", json_string(description));
    http_respond_json(r, status, j);
}

void oauth_envelope(http_req *r, int status, const char *code, const char *message)
{
    if (strcmp(code, "method_not_allowed") == 0)
        code = "invalid_request";
    http_error_oauth(r, status, code, message);
}
