/* Shared helpers of the vault's route files (see common.h). */
#include "common.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../crypto/seal.h"
#include "../identity/pages.h"
#include "../store/rows_admin.h"
#include "../store/vault.h"

char *vault_new_id(http_req *req, const char *prefix)
{
    uint8_t raw[16];
    char text[40];
    hash_random(raw, sizeof(raw));
    enc_base62(raw, sizeof(raw), text, sizeof(text));
    return arena_printf(http_req_arena(req), "%s%s", prefix, text);
}

void vault_wipe(void *p)
{
    sodium_memzero(p, strlen(p));
}

/* Request memory wiped when the request ends: for anything holding a secret. */
char *vault_secret_printf(http_req *req, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = arena_alloc(http_req_arena(req), (size_t)(n > 0 ? n : 0) + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
    va_end(ap);
    arena_cleanup(http_req_arena(req), vault_wipe, s);
    return s;
}

/* Seals text for one row; base64 of the box. */
const char *vault_seal_text(http_req *req, const char *text, const char *ad)
{
    arena *a = http_req_arena(req);
    size_t n = strlen(text), bn = n + SEAL_OVERHEAD, tl = (bn + 2) / 3 * 4 + 1;
    uint8_t *box = arena_alloc(a, bn);
    char *b64 = arena_alloc(a, tl);
    if (seal_box(http_req_app(req)->master_key, SEAL_VERSION, (const uint8_t *)text, n,
                 (const uint8_t *)ad, strlen(ad), box, bn) < 0 ||
        enc_b64(box, bn, b64, tl) < 0)
        return NULL;
    return b64;
}

/* Opens what seal_text made; NULL when absent or when it does not open
 * (another row's ciphertext, another master key). */
const char *vault_open_text(http_req *req, const char *b64, const char *ad)
{
    if (b64 == NULL)
        return NULL;
    arena *a = http_req_arena(req);
    size_t bl = strlen(b64);
    uint8_t *box = arena_alloc(a, bl + 1);
    long n = enc_b64_decode(b64, bl, box, bl + 1);
    if (n < SEAL_OVERHEAD)
        return NULL;
    char *out = arena_calloc(a, (size_t)n);
    arena_cleanup(a, vault_wipe, out);
    long m = seal_open(http_req_app(req)->master_key, box, (size_t)n, (const uint8_t *)ad,
                       strlen(ad), (uint8_t *)out, (size_t)n - 1);
    if (m < 0)
        return NULL;
    out[m] = '\0';
    return out;
}

const char *vault_conn_ad(http_req *req, const char *conn_id, const char *provider_id)
{
    return arena_printf(http_req_arena(req), "%s|%s", conn_id, provider_id);
}

/* RFC 3986 percent-encoding of everything but unreserved characters (for
 * query strings and application/x-www-form-urlencoded alike). */
char *vault_pct(http_req *req, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = arena_alloc(http_req_arena(req), strlen(s) * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p) != NULL) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    arena_cleanup(http_req_arena(req), vault_wipe, out); /* may encode a secret */
    return out;
}

/* --------------------------------------------------- provider calls */

/* Opens the provider's client secret (AD = provider id). Returns -1 when a
 * stored secret does not open. */
int vault_provider_call_init(http_req *req, provider_call *pc, const char *provider_id,
                             const char *token_url, const char *client_id,
                             const char *secret_sealed, const char *auth_style)
{
    pc->token_url = token_url;
    pc->client_id = client_id ? client_id : "";
    pc->basic = auth_style != NULL && strcmp(auth_style, "basic") == 0;
    pc->client_secret = vault_open_text(req, secret_sealed, provider_id);
    return secret_sealed != NULL && pc->client_secret == NULL ? -1 : 0;
}

/* POSTs form `params` (already encoded) to url with the client's
 * authentication: Basic (RFC 6749 §2.3.1, form-encoded id and secret) or
 * the credentials in the body. */
int vault_provider_post(http_req *req, const provider_call *pc, const char *url, const char *params,
                        fetch_cb cb, void *ud)
{
    const char *body = params, *auth = NULL;
    if (pc->basic && pc->client_secret != NULL) {
        const char *cred = vault_secret_printf(req, "%s:%s", vault_pct(req, pc->client_id),
                                               vault_pct(req, pc->client_secret));
        size_t cl = strlen(cred), bl = (cl + 2) / 3 * 4 + 1;
        char *b64 = arena_alloc(http_req_arena(req), bl);
        enc_b64((const uint8_t *)cred, cl, b64, bl);
        arena_cleanup(http_req_arena(req), vault_wipe, b64);
        auth = vault_secret_printf(req, "Authorization: Basic %s", b64);
    } else if (pc->client_secret != NULL) {
        body = vault_secret_printf(req, "%s&client_id=%s&client_secret=%s", params,
                                   vault_pct(req, pc->client_id),
                                   vault_pct(req, pc->client_secret));
    } else {
        body = vault_secret_printf(req, "%s&client_id=%s", params, vault_pct(req, pc->client_id));
    }
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded",
                             "Accept: application/json", auth, NULL};
    fetch_request rq = {
        .method = "POST", .url = url, .headers = headers, .body = body, .body_len = strlen(body)};
    return fetch_submit(http_req_app(req), &rq, cb, ud, http_req_loop(req));
}

bool vault_reauth_error(const char *e)
{
    /* invalid_grant (RFC 6749); Slack answers 200 with its own names. */
    return e != NULL &&
           (strcmp(e, "invalid_grant") == 0 || strcmp(e, "invalid_refresh_token") == 0 ||
            strcmp(e, "token_revoked") == 0 || strcmp(e, "token_expired") == 0);
}

/* Granted scopes as a JSON array (space- or comma-separated in answers). */
const char *vault_scope_array(http_req *req, const char *s)
{
    json_t *a = json_array();
    char *copy = arena_strdup(http_req_arena(req), s), *save = NULL;
    for (char *t = strtok_r(copy, " ,", &save); t != NULL; t = strtok_r(NULL, " ,", &save))
        json_array_append_new(a, json_string(t));
    char *text = json_dumps(a, JSON_COMPACT);
    const char *out = arena_strdup(http_req_arena(req), text ? text : "[]");
    free(text);
    json_decref(a);
    return out;
}

enum outcome vault_read_grant(http_req *req, const fetch_response *res, grant *g)
{
    memset(g, 0, sizeof(*g));
    if (res->error != NULL) {
        g->error = arena_strdup(http_req_arena(req), res->error);
        return res->refused ? GRANT_REFUSED : GRANT_OUTAGE;
    }
    if (res->status >= 500 || res->status == 429 || res->status == 408) {
        g->error = arena_printf(http_req_arena(req), "the provider answered HTTP %ld", res->status);
        return GRANT_OUTAGE;
    }
    json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
    json_t *e = json_object_get(j, "error"), *at = json_object_get(j, "access_token");
    json_t *rt = json_object_get(j, "refresh_token"), *ex = json_object_get(j, "expires_in");
    json_t *sc = json_object_get(j, "scope");
    enum outcome o = GRANT_REFUSED;
    if (json_is_string(e)) {
        g->error = arena_strdup(http_req_arena(req), json_string_value(e));
        o = vault_reauth_error(g->error) ? GRANT_REAUTH : GRANT_REFUSED;
    } else if (res->status == 200 && json_is_string(at) && json_string_length(at) > 0) {
        g->access = vault_secret_printf(req, "%s", json_string_value(at));
        if (json_is_string(rt) && json_string_length(rt) > 0)
            g->refresh = vault_secret_printf(req, "%s", json_string_value(rt));
        if (json_is_integer(ex) && json_integer_value(ex) >= 0 &&
            json_integer_value(ex) < 100000000)
            g->expires_in = arena_printf(http_req_arena(req), "%lld",
                                         (long long)json_integer_value(ex));
        else if (json_is_string(ex) &&
                 strspn(json_string_value(ex), "0123456789") == json_string_length(ex) &&
                 json_string_length(ex) > 0 && json_string_length(ex) < 9)
            g->expires_in = arena_strdup(http_req_arena(req), json_string_value(ex));
        if (json_is_string(sc))
            g->scopes = vault_scope_array(req, json_string_value(sc));
        o = GRANT_OK;
    } else {
        g->error = arena_printf(http_req_arena(req),
                                "the provider answered HTTP %ld without a token", res->status);
    }
    json_decref(j);
    return o;
}

bool vault_scope_ok(const char *s)
{
    return *s != '\0' && strlen(s) <= 300 && strpbrk(s, " ,\"\\") == NULL;
}

/* ---- storing a connection ---- */

static void on_conn_stored(void *ud, PGresult *res, int err, const char *msg)
{
    conn_new *c = ud;
    http_req *req = c->req;
    (void)msg;
    bool raced = err == STORE_OK && store_row_count(res) == 0;
    if (c->page) {
        if (err != STORE_OK || raced)
            page_error(req, raced ? 409 : 503, "The connection could not be stored; try again.");
        else
            page_send(req, 200, "Connected",
                      arena_printf(http_req_arena(req),
                                   "<h1>Connected</h1><p>Your %s account is connected. Agents you "
                                   "authorised can now use it.</p><p class=muted>You can close "
                                   "this window.</p>",
                                   page_escape(req, c->provider_name)));
        return;
    }
    if (admin_db_error(req, err))
        return;
    if (raced) {
        http_error(req, 409, "conflict", "the connection changed meanwhile; retry");
        return;
    }
    admin_respond_text(req, c->status, store_json_doc(res, http_req_arena(req)));
}

/* Seals and stores; `existing` is the user's current connection id to the
 * provider, if any. */
void vault_conn_store(conn_new *c, const char *existing)
{
    http_req *req = c->req;
    c->in.id = existing ? existing : vault_new_id(req, "conn_");
    const char *ad = vault_conn_ad(req, c->in.id, c->in.provider_id);
    c->in.access_sealed = c->access ? vault_seal_text(req, c->access, ad) : NULL;
    c->in.refresh_sealed = c->refresh ? vault_seal_text(req, c->refresh, ad) : NULL;
    store_actor who = admin_actor(req);
    if (store_vault_conn_upsert(http_req_pool(req), &c->in, &who, on_conn_stored, c) != 0)
        on_conn_stored(c, NULL, STORE_EUNAVAIL, NULL);
}
