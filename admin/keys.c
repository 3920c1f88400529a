/* POST /api/v1/admin/keys/rotate: a new signing key (see keys.h). */
#include "keys.h"

#include <stdlib.h>
#include <string.h>

#include "../core/server.h"
#include "../protocol/keys.h"
#include "../store/oauth.h"
#include "admin.h"

struct rotation {
    http_req *req;
    char id[64];
    const char *alg, *use;
};

static void on_rotated_keys(void *ud, PGresult *res, int err, const char *msg)
{
    struct rotation *r = ud;
    (void)msg;
    if (admin_db_error(r->req, err))
        return;
    store_key_row *rows = NULL;
    int n = store_key_rows_parse(res, &rows);
    char e[256];
    app *a = http_req_app(r->req);
    if (n < 0 || keyring_load(a->keys, rows, n, e, sizeof(e)) != 0) {
        if (n >= 0)
            store_key_rows_free(rows, n);
        http_error(r->req, 500, "internal_error", "the new key could not be loaded");
        return;
    }
    store_key_rows_free(rows, n);
    http_respond_json(r->req, 201, json_pack("{s:s,s:s,s:s,s:s}", "kid", r->id, "alg", r->alg,
                                             "use", r->use, "status", "active"));
}

static void on_rotated(void *ud, PGresult *res, int err, const char *msg)
{
    struct rotation *r = ud;
    (void)res;
    (void)msg;
    if (admin_db_error(r->req, err))
        return;
    if (store_keys_list(http_req_pool(r->req), on_rotated_keys, r) != 0)
        admin_db_error(r->req, STORE_EUNAVAIL);
}

static void rotate_keys(http_req *req)
{
    app *a = http_req_app(req);
    struct rotation *r = arena_calloc(http_req_arena(req), sizeof(*r));
    r->req = req;
    r->alg = a->cfg.signing_alg;
    r->use = "tokens";
    size_t len;
    http_req_body(req, &len);
    if (len > 0) {
        json_t *j = admin_body(req);
        if (j == NULL)
            return;
        const char *alg = json_string_value(json_object_get(j, "alg"));
        const char *use = json_string_value(json_object_get(j, "use"));
        if (json_object_get(j, "alg") != NULL &&
            (alg == NULL || (strcmp(alg, "ES256") != 0 && strcmp(alg, "EdDSA") != 0 &&
                             strcmp(alg, "RS256") != 0))) {
            http_error(req, 400, "invalid_request", "alg must be ES256, EdDSA or RS256");
            return;
        }
        /* "id_token": the RS256 key that signs id_tokens beside the active one */
        if (json_object_get(j, "use") != NULL &&
            (use == NULL || (strcmp(use, "tokens") != 0 && strcmp(use, "id_token") != 0) ||
             (strcmp(use, "id_token") == 0 && alg != NULL && strcmp(alg, "RS256") != 0))) {
            http_error(req, 400, "invalid_request",
                       "use must be tokens or id_token (whose key is RS256)");
            return;
        }
        if (alg != NULL)
            r->alg = arena_strdup(http_req_arena(req), alg);
        if (use != NULL && strcmp(use, "id_token") == 0) {
            r->use = "id_token";
            r->alg = "RS256";
        }
    }
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    char *pub = NULL;
    if (keyring_generate(a->master_key, r->alg, r->id, &sealed, &sealed_len, &pub) != 0) {
        http_error(req, 500, "internal_error", "key generation failed");
        return;
    }
    /* Old keys stay published until every token they signed has expired. */
    store_key_rotation k = {r->id,           r->alg,
                            pub,             sealed,
                            sealed_len,      a->cfg.token_ttl_s + 60,
                            http_req_id(req), http_req_client_ip(req),
                            r->use};
    int rc = store_key_rotate(http_req_pool(req), &k, on_rotated, r);
    free(sealed);
    free(pub);
    if (rc != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static const admin_route routes[] = {
    {"POST", "/api/v1/admin/keys/rotate", rotate_keys},
};

int admin_keys_register(router *r)
{
    return admin_routes_add(r, routes, sizeof(routes) / sizeof(routes[0]));
}
