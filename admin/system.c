/* Operational endpoints and system routes: liveness, readiness, metrics,
 * system health, and the first-boot key reveal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/server.h"
#include "../identity/web.h"
#include "../store/embed.h"
#include "../store/revoked.h"
#include "../store/system.h"
#include "../store/rows_admin.h"
#include "account.h"
#include "keys.h"
#include "admin.h"
#include "agents.h"
#include "audit.h"
#include "chain.h"
#include "console.h"
#include "dcr.h"
#include "revoke.h"
#include "session.h"
#include "users.h"
#include "webhooks.h"
#include "shark_config.h"

static void healthz(http_req *req)
{
    http_respond(req, 200, "application/json", "{\"status\":\"ok\"}", 15);
}

static void on_ready_version(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    int latest = store_schema_latest();
    if (err != STORE_OK) {
        http_respond_json(
            req, 503, json_pack("{s:s,s:s}", "status", "unavailable", "database", "unreachable"));
        return;
    }
    int v = store_schema_version_read(res);
    /* Newer is fine: a newer shark migrated during a rolling upgrade, and
     * migrations stay backward compatible across one version. */
    if (v < latest) {
        http_respond_json(req, 503,
                          json_pack("{s:s,s:s,s:i,s:i}", "status", "unavailable", "database",
                                    "not migrated", "schema_version", v, "expected_version",
                                    latest));
        return;
    }
    http_respond_json(req, 200, json_pack("{s:s,s:i}", "status", "ready", "schema_version", v));
}

static void readyz(http_req *req)
{
    /* The supervisor saw the embedded cluster die: no need to ask it. */
    if (!store_embed_up(http_req_app(req)->embed)) {
        http_respond_json(
            req, 503, json_pack("{s:s,s:s}", "status", "unavailable", "database", "restarting"));
        return;
    }
    if (store_system_schema_version(http_req_pool(req), on_ready_version, req) != 0)
        on_ready_version(req, NULL, STORE_EUNAVAIL, NULL);
}

static void free_cb(void *p)
{
    free(p);
}

static void metrics_route(http_req *req)
{
    app *a = http_req_app(req);
    double up = (double)(server_now_ms() - a->start_ms) / 1000.0;
    char *text = metrics_render(a->metrics, a->router, SHARK_VERSION, up);
    if (a->embed != NULL && text != NULL) {
        const char *more =
            "# HELP shark_embedded_db_up 1 while the embedded PostgreSQL accepts connections.\n"
            "# TYPE shark_embedded_db_up gauge\nshark_embedded_db_up %d\n"
            "# HELP shark_embedded_db_deaths_total Times the embedded PostgreSQL was found dead.\n"
            "# TYPE shark_embedded_db_deaths_total counter\nshark_embedded_db_deaths_total %ld\n"
            "# HELP shark_embedded_db_restarts_total Restarts of the embedded PostgreSQL that "
            "succeeded.\n"
            "# TYPE shark_embedded_db_restarts_total counter\n"
            "shark_embedded_db_restarts_total %ld\n";
        char *all = NULL, *tail = NULL;
        if (asprintf(&tail, more, store_embed_up(a->embed) ? 1 : 0, store_embed_deaths(a->embed),
                     store_embed_restarts(a->embed)) >= 0 &&
            asprintf(&all, "%s%s", text, tail) >= 0) {
            free(text);
            text = all;
        }
        free(tail);
    }
    arena_cleanup(http_req_arena(req), free_cb, text);
    uint64_t entries, bytes;
    store_revoked_stats(&entries, &bytes);
    const char *all = arena_printf(
        http_req_arena(req),
        "%s# HELP shark_revoked_entries Revoked jtis and watermarks held in memory.\n"
        "# TYPE shark_revoked_entries gauge\nshark_revoked_entries %llu\n"
        "# HELP shark_revoked_bytes Memory of the revoked set's table.\n"
        "# TYPE shark_revoked_bytes gauge\nshark_revoked_bytes %llu\n"
        "# HELP shark_revocation_skew_seconds Window around a watermark's time in which a "
        "token check asks the database (the largest clock skew of any live node).\n"
        "# TYPE shark_revocation_skew_seconds gauge\nshark_revocation_skew_seconds %lld\n",
        text ? text : "", (unsigned long long)entries, (unsigned long long)bytes,
        (long long)store_revoked_skew_s());
    http_header(req, "Cache-Control", "no-cache");
    http_respond(req, 200, "text/plain; version=0.0.4", all, strlen(all));
}

static void on_health_version(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    app *a = http_req_app(req);
    json_t *db;
    if (err != STORE_OK)
        db = json_pack("{s:s}", "status", "unavailable");
    else
        db = json_pack("{s:s,s:i,s:i}", "status", "ok", "schema_version",
                       store_schema_version_read(res), "expected_version", store_schema_latest());
    http_respond_json(req, 200,
                      json_pack("{s:s,s:s,s:I,s:o}", "status", err == STORE_OK ? "ok" : "degraded",
                                "version", SHARK_VERSION, "uptime_seconds",
                                (json_int_t)((server_now_ms() - a->start_ms) / 1000), "database",
                                db));
}

static void system_health(http_req *req)
{
    if (store_system_schema_version(http_req_pool(req), on_health_version, req) != 0)
        on_health_version(req, NULL, STORE_EUNAVAIL, NULL);
}

static void on_bootstrapped(void *ud, PGresult *res, int err, const char *msg)
{
    http_req *req = ud;
    (void)msg;
    if (admin_db_error(req, err))
        return;
    app *a = http_req_app(req);
    if (store_bootstrapped_read(res) || a->firstboot_key[0] == '\0') {
        http_error(req, 404, "not_found", "the first-boot key is no longer available");
        return;
    }
    http_respond_json(req, 200, json_pack("{s:s}", "admin_key", a->firstboot_key));
}

/* Only until the key is first used, and only to a client on this machine
 * (WEB_LOCAL: the connection's own address, no proxy headers, a Host that
 * names us, so neither a same-host proxy nor a rebound DNS name unlocks it). */
static void firstboot_key(http_req *req)
{
    if (store_system_bootstrapped(http_req_pool(req), on_bootstrapped, req) != 0)
        admin_db_error(req, STORE_EUNAVAIL);
}

static const web_route firstboot_routes[] = {
    {"GET", "/api/v1/admin/firstboot/key", firstboot_key, WEB_LOCAL},
};

static const admin_route system_admin_routes[] = {
    {"GET", "/api/v1/system/health", system_health},
};

int admin_register(router *r)
{
    if (router_surface(r, "/api/", admin_envelope) != 0 ||
        router_add(r, "GET", "/healthz", healthz, NULL) != 0 ||
        router_add(r, "GET", "/readyz", readyz, NULL) != 0 ||
        router_add(r, "GET", "/metrics", metrics_route, NULL) != 0 ||
        web_routes_add(r, firstboot_routes, 1) != 0)
        return -1;
    if (admin_routes_add(r, system_admin_routes,
                         sizeof(system_admin_routes) / sizeof(system_admin_routes[0])) != 0)
        return -1;
    if (admin_agents_register(r) != 0 || admin_account_register(r) != 0)
        return -1;
    if (admin_users_register(r) != 0 || admin_revoke_register(r) != 0)
        return -1;
    if (admin_webhooks_register(r) != 0 || admin_dcr_register(r) != 0)
        return -1;
    if (admin_session_register(r) != 0 || admin_chain_register(r) != 0 ||
        admin_console_register(r) != 0)
        return -1;
    if (admin_audit_register(r) != 0)
        return -1;
    return admin_keys_register(r);
}
