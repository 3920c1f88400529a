/*
 * store/agents: applications and agents (OAuth clients of kind 'agent') and
 * the agent-level revocation layer. Each call is one statement that makes the
 * change and writes its audit event together. List parameters (scopes,
 * grant types) travel as JSON array text; results carry ready JSON built by
 * the SQL functions shark_app_json / shark_agent_json.
 */
#ifndef SHARK_STORE_AGENTS_H
#define SHARK_STORE_AGENTS_H

#include "page.h"
#include "store.h"

/* Who did it and from where, for the audit event. */
typedef struct store_actor {
    const char *request_id, *client_ip;
} store_actor;

/* ---- apps ---- */
typedef struct store_app_in {
    const char *id, *name, *description; /* NULL = unchanged on update */
    const char *scopes, *redirect_uris;  /* JSON arrays or NULL */
    const char *resources;               /* JSON array or NULL */
} store_app_in;
/* Row: app (JSON). */
int store_app_create(store_pool *p, const store_app_in *in, const store_actor *who, store_cb cb,
                     void *ud);
/* A page of apps (store/page.h). */
int store_app_list(store_pool *p, const store_page_q *q, store_cb cb, void *ud);
/* Row (none if unknown): app. */
int store_app_get(store_pool *p, const char *id, store_cb cb, void *ud);
int store_app_update(store_pool *p, const store_app_in *in, const store_actor *who, store_cb cb,
                     void *ud);
/* Row: found, agents (count), deleted ('t' when deleted). Without cascade an
 * app with agents is kept; with it, its agents are disabled and their
 * tokens revoked first. */
int store_app_delete(store_pool *p, const char *id, int cascade, const store_actor *who,
                     store_cb cb, void *ud);

/* ---- agents ---- */
typedef struct store_agent_in {
    const char *id, *app_id, *name, *description, *created_by, *dpop_jkt;
    const char *scopes, *grant_types; /* JSON arrays */
    const char *secret_hash;
    const char *status;          /* update only */
    const char *resource_server; /* "true" / "false"; NULL: false on create, else kept */
} store_agent_in;
/* Row: app_found, user_found, scopes_ok ('t'/'f'), agent (JSON or NULL). */
int store_agent_create(store_pool *p, const store_agent_in *in, const store_actor *who, store_cb cb,
                       void *ud);
/* A page of agents (store/page.h); filters may be NULL. */
int store_agent_list(store_pool *p, const char *app_id, const char *created_by, const char *status,
                     const store_page_q *q, store_cb cb, void *ud);
/* Row (none if unknown): agent. */
int store_agent_get(store_pool *p, const char *id, store_cb cb, void *ud);
/* Row (none if unknown): scopes_ok, agent. Disabling revokes its tokens. */
int store_agent_update(store_pool *p, const store_agent_in *in, const store_actor *who, store_cb cb,
                       void *ud);
/* Row (none if unknown): revoked_count. The agent's tokens are revoked. */
int store_agent_delete(store_pool *p, const char *id, const store_actor *who, store_cb cb,
                       void *ud);
/* A page of the agent's live tokens (store/page.h; no row for an unknown
 * agent), latest expiry first: the position is (expires_at, jti). */
int store_agent_tokens(store_pool *p, const char *id, const store_page_q *q, store_cb cb, void *ud);
/* Layer 2: one watermark on the agent (migration 0026). Row (none if
 * unknown): revoked_count. A dry run only counts. */
int store_agent_revoke_all(store_pool *p, const char *id, int dry_run, const store_actor *who,
                           store_cb cb, void *ud);
/* Row (none if unknown): rotated_at. The old secret keeps working for
 * grace_s seconds (0: stops at once). */
int store_agent_rotate_secret(store_pool *p, const char *id, const char *secret_hash, int grace_s,
                              const store_actor *who, store_cb cb, void *ud);
/* Row (none if unknown): old_jkt, revoked_token_count, audit_event_id. */
int store_agent_rotate_dpop(store_pool *p, const char *id, const char *new_jkt, const char *reason,
                            int dry_run, const store_actor *who, store_cb cb, void *ud);

#endif
