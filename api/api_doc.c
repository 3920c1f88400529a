/* The OpenAPI document routes: the embedded YAML as it is. */
#include "api_doc.h"

#include "../core/http.h"

static void openapi_yaml(http_req *req)
{
    /* Revalidated each time: it changes with every release of the binary. */
    http_header(req, "Cache-Control", "no-cache");
    http_respond(req, 200, "application/yaml", api_openapi_yaml, api_openapi_yaml_len);
}

int api_doc_routes(router *r)
{
    if (router_add(r, "GET", "/api/openapi.yaml", openapi_yaml, NULL) != 0 ||
        router_add(r, "GET", "/api/docs/openapi.yaml", openapi_yaml, NULL) != 0)
        return -1;
    return 0;
}
