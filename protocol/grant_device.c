/* grant_type=urn:ietf:params:oauth:grant-type:device_code (RFC 8628 §3.4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "../crypto/hash.h"
#include "../store/device.h"
#include "errors.h"
#include "../store/rows.h"
#include "grant.h"

/* ---- device code polling (RFC 8628 §3.4, §3.5) ---- */

static void on_device(void *ud, PGresult *res, int err, const char *msg)
{
    struct treq *t = ud;
    (void)msg;
    if (err != STORE_OK) {
        token_unavailable(t->req);
        return;
    }
    store_device_row d;
    if (!store_device_row_read(res, http_req_arena(t->req), &d) ||
        !token_same(d.client_id, t->client->client_id)) {
        http_error_oauth(t->req, 400, "invalid_grant", "unknown device_code");
        return;
    }
    const char *status = d.status ? d.status : "";
    if (d.expired) {
        http_error_oauth(t->req, 400, "expired_token", "the device code has expired");
        return;
    }
    if (strcmp(status, "denied") == 0) {
        http_error_oauth(t->req, 400, "access_denied", "the user denied the request");
        return;
    }
    if (strcmp(status, "used") == 0) {
        http_error_oauth(t->req, 400, "invalid_grant", "the device code was already used");
        return;
    }
    if (strcmp(status, "pending") == 0) {
        bool fast = d.too_fast;
        http_error_oauth(t->req, 400, fast ? "slow_down" : "authorization_pending",
                         fast ? "polling too often: wait 5 s longer between requests"
                              : "the user has not decided yet");
        return;
    }
    t->user_id = t->sub = d.user_id;
    t->scope = d.scope;
    if (t->scope != NULL && *t->scope == '\0')
        t->scope = NULL;
    t->auth_time = d.auth_time;
    t->want_refresh = oauth_client_has_grant(t->client, GRANT_REFRESH);
    t->want_id_token = t->scope != NULL && oauth_scope_subset("openid", t->scope);
    t->event = "oauth.token_issued";
    token_issue(t);
}

void grant_device(struct treq *t)
{
    const char *dc = form_get(&t->f, "device_code");
    if (dc == NULL || strlen(dc) > 200) {
        http_error_oauth(t->req, 400, "invalid_request", "device_code is required");
        return;
    }
    char hash[65];
    hash_sha256_hex(dc, strlen(dc), hash);
    if (store_device_poll(http_req_pool(t->req), hash, on_device, t) != 0)
        token_unavailable(t->req);
}
