/* Typed rows of the token path (see rows.h). The column orders are those
 * the statements in auth.c, device.c and oauth.c select. */
#include "rows.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

enum {
    CODE_REUSED,
    CODE_EXPIRED,
    CODE_CLIENT,
    CODE_USER,
    CODE_REDIRECT,
    CODE_SCOPE,
    CODE_CHALLENGE,
    CODE_NONCE,
    CODE_RESOURCE,
    CODE_AUTH_TIME,
    CODE_REVOKED,
    CODE_SESSION,
    CODE_DPOP_JKT,
    CODE_REDIRECT_SENT
};
enum {
    RT_SPENT,
    RT_EXPIRED,
    RT_FAMILY,
    RT_CLIENT,
    RT_USER,
    RT_SUBJECT,
    RT_SCOPE,
    RT_JKT,
    RT_AUDIENCE,
    RT_AUTH_TIME,
    RT_LIVE,
    RT_SESSION
};
enum { DEV_STATUS, DEV_EXPIRED, DEV_TOO_FAST, DEV_CLIENT, DEV_USER, DEV_SCOPE, DEV_AUTH_TIME };

static const char *text(const PGresult *res, arena *a, int c)
{
    return PQgetisnull(res, 0, c) ? NULL : arena_strdup(a, PQgetvalue(res, 0, c));
}

/* SQL NULL as "" (where callers have always read it so). */
static const char *text0(const PGresult *res, arena *a, int c)
{
    return arena_strdup(a, PQgetvalue(res, 0, c));
}

static bool flag(const PGresult *res, int c)
{
    return PQgetvalue(res, 0, c)[0] == 't';
}

static int64_t number(const PGresult *res, int c)
{
    return strtoll(PQgetvalue(res, 0, c), NULL, 10);
}

bool store_code_row_read(const PGresult *res, arena *a, store_code_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->reused = flag(res, CODE_REUSED);
    out->expired = flag(res, CODE_EXPIRED);
    out->client_id = text(res, a, CODE_CLIENT);
    out->user_id = text(res, a, CODE_USER);
    out->redirect_uri = text(res, a, CODE_REDIRECT);
    out->scope = text(res, a, CODE_SCOPE);
    out->code_challenge = text(res, a, CODE_CHALLENGE);
    out->nonce = text(res, a, CODE_NONCE);
    out->resource = text(res, a, CODE_RESOURCE);
    out->auth_time = number(res, CODE_AUTH_TIME);
    out->session_id = text(res, a, CODE_SESSION);
    out->dpop_jkt = text(res, a, CODE_DPOP_JKT);
    out->redirect_uri_sent = flag(res, CODE_REDIRECT_SENT);
    return true;
}

bool store_refresh_row_read(const PGresult *res, arena *a, store_refresh_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->spent = flag(res, RT_SPENT);
    out->expired = flag(res, RT_EXPIRED);
    out->live = flag(res, RT_LIVE);
    out->family_id = text(res, a, RT_FAMILY);
    out->client_id = text(res, a, RT_CLIENT);
    out->user_id = text(res, a, RT_USER);
    out->subject = text(res, a, RT_SUBJECT);
    out->scope = text(res, a, RT_SCOPE);
    out->jkt = text(res, a, RT_JKT);
    out->audience = text(res, a, RT_AUDIENCE);
    out->auth_time = number(res, RT_AUTH_TIME);
    out->session_id = text(res, a, RT_SESSION);
    return true;
}

bool store_device_row_read(const PGresult *res, arena *a, store_device_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->status = text(res, a, DEV_STATUS);
    out->expired = flag(res, DEV_EXPIRED);
    out->too_fast = flag(res, DEV_TOO_FAST);
    out->client_id = text(res, a, DEV_CLIENT);
    out->user_id = text(res, a, DEV_USER);
    out->scope = text(res, a, DEV_SCOPE);
    out->auth_time = number(res, DEV_AUTH_TIME);
    return true;
}

bool store_code_replayed(const PGresult *res)
{
    return PQntuples(res) == 1 && flag(res, 0);
}

bool store_refresh_used(const PGresult *res)
{
    return PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "1") == 0;
}

bool store_token_issued(const PGresult *res)
{
    return PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "1") == 0;
}

enum {
    VL_USER,
    VL_AUTHORIZED,
    VL_CONN,
    VL_REAUTH,
    VL_ACCESS,
    VL_EXPIRES,
    VL_DUE,
    VL_CAN_REFRESH,
    VL_GEN,
    VL_PROVIDER
};
enum { VP_REAUTH, VP_ACCESS, VP_EXPIRES, VP_DUE, VP_REFRESHING, VP_GEN };
enum { VC_REFRESH, VC_TOKEN_URL, VC_CLIENT, VC_SECRET, VC_AUTH_STYLE };

bool store_vault_lookup_row_read(const PGresult *res, arena *a, store_vault_lookup_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->user_id = text(res, a, VL_USER);
    out->authorized = flag(res, VL_AUTHORIZED);
    out->conn_id = text(res, a, VL_CONN);
    out->needs_reauth = flag(res, VL_REAUTH);
    out->access_sealed = text(res, a, VL_ACCESS);
    out->expires_at = text(res, a, VL_EXPIRES);
    out->due = flag(res, VL_DUE);
    out->can_refresh = flag(res, VL_CAN_REFRESH);
    out->refresh_gen = number(res, VL_GEN);
    return true;
}

bool store_vault_poll_row_read(const PGresult *res, arena *a, store_vault_poll_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->needs_reauth = flag(res, VP_REAUTH);
    out->access_sealed = text(res, a, VP_ACCESS);
    out->expires_at = text(res, a, VP_EXPIRES);
    out->due = flag(res, VP_DUE);
    out->refreshing = flag(res, VP_REFRESHING);
    out->refresh_gen = number(res, VP_GEN);
    return true;
}

bool store_vault_claim_row_read(const PGresult *res, arena *a, store_vault_claim_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->refresh_sealed = text(res, a, VC_REFRESH);
    out->token_url = text(res, a, VC_TOKEN_URL);
    out->client_id = text(res, a, VC_CLIENT);
    out->client_secret_sealed = text(res, a, VC_SECRET);
    out->auth_style = text(res, a, VC_AUTH_STYLE);
    return true;
}

bool store_vault_stored_expiry(const PGresult *res, arena *a, const char **expires_at)
{
    *expires_at = PQntuples(res) == 1 ? text(res, a, 0) : NULL;
    return PQntuples(res) == 1;
}

bool store_vault_fetch_recorded(const PGresult *res)
{
    return PQntuples(res) == 1 && flag(res, 0);
}

enum {
    SES_VALID,
    SES_USER,
    SES_PUBLIC,
    SES_CSRF,
    SES_AUTH_TIME,
    SES_EMAIL,
    SES_NAME,
    SES_VERIFIED
};
enum { LOGIN_ALLOWED, LOGIN_USER, LOGIN_HASH, LOGIN_ATTEMPT };

bool store_session_row_read(const PGresult *res, arena *a, store_session_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->valid = flag(res, SES_VALID);
    out->user_id = text0(res, a, SES_USER);
    out->public_id = text0(res, a, SES_PUBLIC);
    out->csrf = text0(res, a, SES_CSRF);
    out->auth_time = number(res, SES_AUTH_TIME);
    out->email = text0(res, a, SES_EMAIL);
    out->name = text0(res, a, SES_NAME);
    out->email_verified = flag(res, SES_VERIFIED);
    return true;
}

bool store_login_row_read(const PGresult *res, arena *a, store_login_row *out)
{
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1)
        return false;
    out->allowed = flag(res, LOGIN_ALLOWED);
    out->attempt = atoi(PQgetvalue(res, 0, LOGIN_ATTEMPT));
    /* no password set: cannot sign in this way, like an unknown account */
    if (!PQgetisnull(res, 0, LOGIN_USER) && !PQgetisnull(res, 0, LOGIN_HASH)) {
        out->user_id = text(res, a, LOGIN_USER);
        out->password_hash = text(res, a, LOGIN_HASH);
    }
    return true;
}
