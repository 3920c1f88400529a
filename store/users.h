/*
 * store/users: users, their consents, the agents they created or
 * authorized, and the Layer 3 cascade (revoke a user's agents). Each
 * function runs one statement; a change and its audit event are written
 * together. Results carry ready-to-send JSON text built in SQL.
 */
#ifndef SHARK_STORE_USERS_H
#define SHARK_STORE_USERS_H

#include "agents.h"
#include "page.h"
#include "store.h"

/* A user's fields as validated by the caller; NULL = not given (keep). */
typedef struct store_user_fields {
    const char *email, *name;
    const char *email_verified; /* "true" / "false" or NULL */
} store_user_fields;

/* Row: `user` (JSON). STORE_ECONFLICT when the email (any case) is taken.
 * Audit user.created. */
int store_user_create(store_pool *p, const store_user_fields *f, const store_actor *o, store_cb cb,
                      void *ud);

/* A page of users (store/page.h). `email` (NULL = all) matches
 * case-insensitively anywhere in the address. */
int store_user_list(store_pool *p, const char *email, const store_page_q *q, store_cb cb, void *ud);

/* Row `user` (JSON), none when unknown. */
int store_user_get(store_pool *p, const char *id, store_cb cb, void *ud);

/* Row `user` after the change, none when unknown; STORE_ECONFLICT for a
 * taken email. Audit user.updated. */
int store_user_update(store_pool *p, const char *id, const store_user_fields *f,
                      const store_actor *o, store_cb cb, void *ud);

/* Row: `deleted` (0/1). Agents the user created stay, created_by cleared;
 * the user's consents go with it. Audit user.deleted. */
int store_user_delete(store_pool *p, const char *id, const store_actor *o, store_cb cb, void *ud);

/* A page of the agents the user created or consented to (store/page.h; no
 * row for an unknown user); filter is "created", "authorized" or "all". */
int store_user_agents(store_pool *p, const char *id, const char *filter, const store_page_q *q,
                      store_cb cb, void *ud);

/* A page of the user's live consents (store/page.h; no row for an unknown
 * user). */
int store_user_consents(store_pool *p, const char *id, const store_page_q *q, store_cb cb,
                        void *ud);

/* Revokes one live consent of the user and the tokens its client holds for
 * that user. Row: `revoked` (0/1). Audit user.consent_revoked. */
int store_consent_revoke(store_pool *p, const char *user_id, const char *consent_id,
                         const store_actor *o, store_cb cb, void *ud);

/* Layer 3. agent_ids is a JSON array of strings, or NULL for all of the
 * user's agents and consents. Row: `found` ('true'/'false'), `refused` (JSON array
 * of requested ids neither created nor consented to by the user; when not
 * empty nothing was changed), `body` — {revoked_agent_ids,
 * revoked_consent_count, audit_event_id}; a dry run changes nothing and
 * answers {revoked_agent_ids, revoked_consent_count, dry_run,
 * revoked_token_count, disabled_count}. Tokens are revoked by watermarks
 * (migration 0026): the agents' own, and the user's grant to each agent. */
int store_user_revoke_agents(store_pool *p, const char *user_id, const char *agent_ids,
                             const char *reason, int dry_run, const store_actor *o, store_cb cb,
                             void *ud);

#endif
