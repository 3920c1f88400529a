#include "client.h"
#include "errors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../core/server.h"
#include "../crypto/encoding.h"
#include "../crypto/hash.h"
#include "../crypto/jws.h"
#include "../store/oauth.h"
#include "../store/revoked.h"
#include "../store/rows_clients.h"
#include "../store/rows_oauth.h"
#include "cimd.h"
#include "issuer.h"

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* Client records cached per loop thread, so a token request needs no client
 * round trip in the steady state. Every entry remembers the
 * store_clients_generation it was loaded at and is refetched once that has
 * moved: a change on this node moves it before the change's callback runs,
 * a change on another node when its notification arrives. Only the stored
 * secret hashes are cached, never a secret; unknown clients are not cached. */
#define CACHE_SLOTS 4096 /* a power of two; at most this many entries per loop */

typedef struct centry {
    int refs; /* the cache's and each request's using it (one thread only) */
    uint64_t gen;
    oauth_client c; /* strings point into text[]; the JSON arrays are owned */
    const char *secret_hash, *prev_secret_hash, *jwks, *status;
    int64_t prev_until; /* prev_secret_hash accepted until (unix s); 0: never */
    char text[];
} centry;

/* One per loop, in its loop_ctx (core/loop.h). */
typedef struct client_cache {
    centry *slot[CACHE_SLOTS];
} ccache;

struct auth {
    http_req *req;
    oauth_client_cb cb;
    void *ud;
    const char *client_id, *secret, *assertion, *method;
    oauth_client client;
    int64_t assertion_exp;
    const char *assertion_jti;
};

static void fail_client(struct auth *a, const char *desc)
{
    if (strcmp(a->method, "client_secret_basic") == 0)
        http_header(a->req, "WWW-Authenticate", "Basic realm=\"shark\"");
    http_error_oauth(a->req, 401, "invalid_client", desc);
}

static void entry_unref(void *p)
{
    centry *e = p;
    if (--e->refs > 0)
        return;
    json_decref(e->c.grant_types);
    json_decref(e->c.redirect_uris);
    free(e);
}

void oauth_client_cache_free(loop_ctx *lc)
{
    ccache *cc = lc->clients;
    for (int i = 0; cc != NULL && i < CACHE_SLOTS; i++)
        if (cc->slot[i] != NULL)
            entry_unref(cc->slot[i]);
    free(cc);
    lc->clients = NULL;
}

/* The loop's cache; NULL if it cannot be had (then nothing is cached). */
static ccache *cache_get(loop_ctx *lc)
{
    if (lc->clients == NULL)
        lc->clients = calloc(1, sizeof(*lc->clients));
    return lc->clients;
}

static centry **cache_slot(ccache *cc, const char *client_id)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)client_id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &cc->slot[h & (CACHE_SLOTS - 1)];
}

/* The current entry for client_id, or NULL. */
static centry *cache_find(loop_ctx *lc, const char *client_id)
{
    ccache *cc = cache_get(lc);
    centry *e = cc ? *cache_slot(cc, client_id) : NULL;
    if (e == NULL || strcmp(e->c.client_id, client_id) != 0 || e->gen != store_clients_generation())
        return NULL;
    return e;
}

/* Stores e, replacing whatever held its slot (arbitrary eviction). */
static void cache_put(loop_ctx *lc, centry *e)
{
    ccache *cc = cache_get(lc);
    if (cc == NULL)
        return;
    centry **slot = cache_slot(cc, e->c.client_id);
    if (*slot != NULL)
        entry_unref(*slot);
    *slot = e;
    e->refs++;
}

/* An entry from a store_client_get row (columns in store/oauth.h). */
/* A cache entry holding copies of the row's strings in one allocation. */
static centry *entry_new(const store_client_entry_row *r, uint64_t gen)
{
    const char *in[] = {r->client_id,     r->kind,         r->name,        r->auth_method,
                        r->scopes,        r->dpop_jkt,     r->created_by,  r->resources,
                        r->registered_by, r->id_token_alg, r->secret_hash, r->prev_secret_hash,
                        r->jwks,          r->status};
    enum { NTEXT = sizeof(in) / sizeof(in[0]) };
    size_t bytes = sizeof(centry);
    for (size_t i = 0; i < NTEXT; i++)
        bytes += in[i] != NULL ? strlen(in[i]) + 1 : 0;
    centry *e = calloc(1, bytes);
    if (e == NULL)
        return NULL;
    const char *v[NTEXT];
    char *s = e->text;
    for (size_t i = 0; i < NTEXT; i++) {
        v[i] = NULL;
        if (in[i] == NULL)
            continue;
        size_t len = strlen(in[i]) + 1;
        memcpy(s, in[i], len);
        v[i] = s;
        s += len;
    }
    e->refs = 1;
    e->gen = gen;
    e->c = (oauth_client){.client_id = v[0],
                          .kind = v[1],
                          .name = v[2],
                          .auth_method = v[3],
                          .scopes = v[4],
                          .dpop_jkt = v[5],
                          .created_by = v[6],
                          .resources = v[7],
                          .registered_by = v[8],
                          .id_token_alg = v[9],
                          .resource_server = r->resource_server};
    e->c.grant_types = r->grant_types ? json_loads(r->grant_types, 0, NULL) : NULL;
    e->c.redirect_uris = r->redirect_uris ? json_loads(r->redirect_uris, 0, NULL) : NULL;
    e->secret_hash = v[10];
    e->prev_secret_hash = v[11];
    e->jwks = v[12];
    e->status = v[13];
    e->prev_until = r->prev_until;
    return e;
}

static bool secret_ok(const centry *e, const char *secret)
{
    char h[65];
    hash_sha256_hex(secret, strlen(secret), h);
    bool ok = e->secret_hash != NULL && hash_ct_eq(h, 64, e->secret_hash, strlen(e->secret_hash));
    /* A rotated-out secret keeps working through its grace period. */
    if (e->prev_secret_hash != NULL && e->prev_until > (int64_t)time(NULL))
        ok |= hash_ct_eq(h, 64, e->prev_secret_hash, strlen(e->prev_secret_hash));
    return ok;
}

static void on_replay(void *ud, PGresult *res, int err, const char *msg)
{
    struct auth *a = ud;
    (void)msg;
    if (err != STORE_OK) {
        http_error_oauth(a->req, 503, "temporarily_unavailable", "database unavailable");
        return;
    }
    if (!store_replay_fresh(res)) {
        fail_client(a, "client assertion replayed");
        return;
    }
    a->cb(a->req, a->ud, &a->client);
}

/* RFC 7523 §3: signature by a registered key, iss = sub = client_id, our
 * token endpoint or issuer in aud, unexpired, with a jti. */
static int check_assertion(struct auth *a, const centry *e)
{
    app *ap = http_req_app(a->req);
    jws_token *t = NULL;
    jwk_key *key = NULL;
    int rc = -1;
    json_t *jwks = e->jwks ? json_loads(e->jwks, 0, NULL) : NULL;
    if (jwks == NULL || jws_parse(a->assertion, strlen(a->assertion), &t) != 0)
        goto done;
    const char *kid = json_string_value(json_object_get(jws_header(t), "kid"));
    size_t i;
    json_t *k;
    json_array_foreach (json_object_get(jwks, "keys"), i, k) {
        const char *kk = json_string_value(json_object_get(k, "kid"));
        if (kid != NULL && (kk == NULL || strcmp(kk, kid) != 0))
            continue;
        if (jwk_from_json(k, &key) == 0 && jws_verify(t, key) == 0)
            break;
        jwk_free(key);
        key = NULL;
    }
    if (key == NULL)
        goto done;
    const json_t *c = jws_claims(t);
    const char *iss = json_string_value(json_object_get(c, "iss"));
    const char *sub = json_string_value(json_object_get(c, "sub"));
    const char *jti = json_string_value(json_object_get(c, "jti"));
    json_t *exp = json_object_get(c, "exp"), *aud = json_object_get(c, "aud");
    int64_t now = (int64_t)time(NULL);
    if (iss == NULL || sub == NULL || jti == NULL || strlen(jti) > 200 || !json_is_integer(exp) ||
        strcmp(iss, a->client.client_id) != 0 || strcmp(sub, a->client.client_id) != 0 ||
        json_integer_value(exp) <= now || json_integer_value(exp) > now + 3600)
        goto done;
    char token_url[600];
    oauth_url(ap, "/oauth/token", token_url, sizeof(token_url));
    bool aud_ok = false;
    json_t *one;
    if (json_is_string(aud))
        aud_ok = strcmp(json_string_value(aud), token_url) == 0 ||
                 strcmp(json_string_value(aud), ap->cfg.issuer) == 0;
    json_array_foreach (aud, i, one)
        aud_ok |= json_is_string(one) && (strcmp(json_string_value(one), token_url) == 0 ||
                                          strcmp(json_string_value(one), ap->cfg.issuer) == 0);
    if (!aud_ok)
        goto done;
    a->assertion_jti = arena_printf(http_req_arena(a->req), "assert:%s:%s", a->client.client_id,
                                    jti);
    a->assertion_exp = json_integer_value(exp);
    rc = 0;
done:
    jwk_free(key);
    jws_free(t);
    json_decref(jwks);
    return rc;
}

/* The cache entry of client_id, from the loop's cache or else read and
 * cached; e is NULL for a client that does not exist, or with unavailable
 * when it could not be read. cb runs at once on a hit and takes its own
 * reference to keep e. */
typedef void (*entry_cb)(void *ud, centry *e, bool unavailable);

struct fetch {
    loop_ctx *lc;
    arena *a;
    entry_cb cb;
    void *ud;
    uint64_t gen; /* generation before the query started */
};

static void on_entry_row(void *ud, PGresult *res, int err, const char *msg)
{
    struct fetch *f = ud;
    (void)msg;
    if (err != STORE_OK) {
        f->cb(f->ud, NULL, true);
        return;
    }
    store_client_entry_row row;
    if (!store_client_entry_row_read(res, f->a, &row)) {
        f->cb(f->ud, NULL, false);
        return;
    }
    centry *e = entry_new(&row, f->gen);
    if (e == NULL) {
        f->cb(f->ud, NULL, true);
        return;
    }
    cache_put(f->lc, e);
    f->cb(f->ud, e, false);
    entry_unref(e);
}

static void entry_fetch(http_req *req, const char *client_id, entry_cb cb, void *ud)
{
    centry *e = cache_find(http_req_loop_ctx(req), client_id);
    if (e != NULL) {
        cb(ud, e, false);
        return;
    }
    struct fetch *f = arena_calloc(http_req_arena(req), sizeof(*f));
    f->lc = http_req_loop_ctx(req);
    f->a = http_req_arena(req);
    f->cb = cb;
    f->ud = ud;
    /* Read before the query: a change committed while it runs moves the
     * generation past this one, so the entry is refetched on its next use. */
    f->gen = store_clients_generation();
    if (store_client_get(http_req_pool(req), client_id, on_entry_row, f) != 0)
        cb(ud, NULL, true);
}

/* Authenticates against a client record; the request holds a reference to
 * it until it ends, so the strings it hands on stay valid. */
static void authenticate(struct auth *a, centry *e)
{
    e->refs++;
    arena_cleanup(http_req_arena(a->req), entry_unref, e);
    if (strcmp(e->status, "active") != 0) {
        fail_client(a, "unknown or disabled client");
        return;
    }
    oauth_client *c = &a->client;
    *c = e->c;
    c->used_method = a->method;
    bool secret_client = strcmp(c->auth_method, "client_secret_basic") == 0 ||
                         strcmp(c->auth_method, "client_secret_post") == 0;
    if (strcmp(a->method, "none") == 0) {
        if (strcmp(c->auth_method, "none") != 0) {
            fail_client(a, "client authentication required");
            return;
        }
    } else if (strcmp(a->method, "private_key_jwt") == 0) {
        if (strcmp(c->auth_method, "private_key_jwt") != 0 || check_assertion(a, e) != 0) {
            fail_client(a, "client assertion invalid");
            return;
        }
        int ttl = (int)(a->assertion_exp - (int64_t)time(NULL)) + 60;
        if (store_replay_record(http_req_pool(a->req), a->assertion_jti, ttl, on_replay, a) != 0)
            http_error_oauth(a->req, 503, "temporarily_unavailable", "database unavailable");
        return;
    } else if (!secret_client || !secret_ok(e, a->secret)) {
        fail_client(a, "client authentication failed");
        return;
    }
    a->cb(a->req, a->ud, c);
}

static void on_auth_entry(void *ud, centry *e, bool unavailable)
{
    struct auth *a = ud;
    if (unavailable)
        http_error_oauth(a->req, 503, "temporarily_unavailable", "database unavailable");
    else if (e == NULL)
        fail_client(a, "unknown or disabled client");
    else
        authenticate(a, e);
}

static void on_resolved(http_req *req, void *ud, const char *error)
{
    struct auth *a = ud;
    if (error != NULL && strcmp(error, OAUTH_LOOKUP_UNAVAILABLE) == 0) {
        http_error_oauth(req, 503, "temporarily_unavailable", "the client cannot be resolved now");
        return;
    }
    if (error != NULL) {
        fail_client(a, arena_printf(http_req_arena(req), "client metadata document: %s", error));
        return;
    }
    entry_fetch(req, a->client_id, on_auth_entry, a);
}

/* ---- lookup without authentication (the authorization endpoint) ---- */

struct lookup {
    http_req *req;
    oauth_lookup_cb cb;
    void *ud;
    const char *client_id;
};

static void on_lookup_entry(void *ud, centry *e, bool unavailable)
{
    struct lookup *l = ud;
    if (e == NULL) {
        l->cb(l->req, l->ud, NULL, unavailable ? OAUTH_LOOKUP_UNAVAILABLE : NULL);
        return;
    }
    e->refs++;
    arena_cleanup(http_req_arena(l->req), entry_unref, e);
    l->cb(l->req, l->ud, strcmp(e->status, "active") == 0 ? &e->c : NULL, NULL);
}

static void on_lookup_resolved(http_req *req, void *ud, const char *error)
{
    struct lookup *l = ud;
    if (error != NULL)
        l->cb(req, l->ud, NULL, error);
    else
        entry_fetch(req, l->client_id, on_lookup_entry, l);
}

void oauth_client_lookup(http_req *req, const char *client_id, oauth_lookup_cb cb, void *ud)
{
    struct lookup *l = arena_calloc(http_req_arena(req), sizeof(*l));
    l->req = req;
    l->cb = cb;
    l->ud = ud;
    l->client_id = client_id;
    cimd_resolve(req, client_id, on_lookup_resolved, l);
}

void oauth_client_authenticate(http_req *req, const form *f, oauth_client_cb cb, void *ud)
{
    struct auth *a = arena_calloc(http_req_arena(req), sizeof(*a));
    a->req = req;
    a->cb = cb;
    a->ud = ud;
    const char *hdr = http_req_header(req, "Authorization");
    const char *form_id = form_get(f, "client_id"), *form_secret = form_get(f, "client_secret");
    const char *atype = form_get(f, "client_assertion_type");
    a->assertion = form_get(f, "client_assertion");
    int methods = (hdr != NULL && strncasecmp(hdr, "Basic ", 6) == 0) + (form_secret != NULL) +
                  (a->assertion != NULL);
    if (methods > 1 || http_req_header_count(req, "Authorization") > 1) {
        http_error_oauth(req, 400, "invalid_request",
                         "use exactly one client authentication method");
        return;
    }
    if (hdr != NULL && strncasecmp(hdr, "Basic ", 6) == 0) {
        a->method = "client_secret_basic";
        if (form_basic_credentials(http_req_arena(req), hdr, &a->client_id, &a->secret) != 0) {
            fail_client(a, "malformed Basic credentials");
            return;
        }
        if (form_id != NULL && strcmp(form_id, a->client_id) != 0) {
            http_error_oauth(req, 400, "invalid_request", "client_id differs from the credentials");
            return;
        }
    } else if (form_secret != NULL) {
        a->method = "client_secret_post";
        a->client_id = form_id;
        a->secret = form_secret;
    } else if (a->assertion != NULL) {
        a->method = "private_key_jwt";
        if (atype == NULL || strcmp(atype, ASSERTION_TYPE) != 0) {
            http_error_oauth(req, 400, "invalid_request", "unsupported client_assertion_type");
            return;
        }
        a->client_id = form_id;
        if (a->client_id == NULL) {
            /* RFC 7523: the client is the assertion's sub; checked after
             * verification against the client's own keys. */
            jws_token *t = NULL;
            if (jws_parse(a->assertion, strlen(a->assertion), &t) == 0) {
                const char *sub = json_string_value(json_object_get(jws_claims(t), "sub"));
                a->client_id = sub ? arena_strdup(http_req_arena(req), sub) : NULL;
            }
            jws_free(t);
        }
    } else {
        a->method = "none";
        a->client_id = form_id;
    }
    if (a->client_id == NULL || strlen(a->client_id) > 1000) {
        fail_client(a, "client authentication required");
        return;
    }
    cimd_resolve(req, a->client_id, on_resolved, a);
}

struct check {
    oauth_token_cb cb;
    void *ud;
};

static void on_db_active(void *ud, PGresult *res, int err, const char *msg)
{
    struct check *k = ud;
    (void)msg;
    if (err != STORE_OK)
        k->cb(k->ud, OAUTH_TOKEN_UNAVAILABLE);
    else
        k->cb(k->ud, store_token_live(res) ? OAUTH_TOKEN_ACTIVE : OAUTH_TOKEN_INACTIVE);
}

/* The token's client decides the rest; a deleted client's tokens are dead. */
static void on_check_entry(void *ud, centry *e, bool unavailable)
{
    struct check *k = ud;
    if (unavailable)
        k->cb(k->ud, OAUTH_TOKEN_UNAVAILABLE);
    else
        k->cb(k->ud, e != NULL && strcmp(e->status, "active") == 0 ? OAUTH_TOKEN_ACTIVE
                                                                   : OAUTH_TOKEN_INACTIVE);
}

void oauth_token_check(http_req *req, const oauth_access *tok, oauth_token_cb cb, void *ud)
{
    store_pool *p = http_req_pool(req);
    const char *jti = tok->jti, *client_id = tok->client_id;
    /* A person's token names them as sub; an agent's own token, itself. */
    store_revoked_token rt = {jti, client_id, strncmp(tok->sub, "usr_", 4) == 0 ? tok->sub : NULL,
                              tok->jkt, tok->iat};
    enum store_revoked rev = store_revoked_check(&rt);
    if (rev == STORE_REVOKED_YES) {
        cb(ud, OAUTH_TOKEN_INACTIVE);
        return;
    }
    struct check *k = arena_calloc(http_req_arena(req), sizeof(*k));
    k->cb = cb;
    k->ud = ud;
    if (rev == STORE_REVOKED_NO)
        entry_fetch(req, client_id, on_check_entry, k);
    else if (store_token_active(p, jti, on_db_active, k) != 0)
        cb(ud, OAUTH_TOKEN_UNAVAILABLE);
}

bool oauth_client_has_grant(const oauth_client *c, const char *grant)
{
    size_t i;
    json_t *g;
    json_array_foreach (c->grant_types, i, g)
        if (json_is_string(g) && strcmp(json_string_value(g), grant) == 0)
            return true;
    return false;
}
