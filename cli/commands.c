#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

typedef void (*show_fn)(const json_t *j);

/* The common tail of every command: on success print the server's JSON
 * as is (--json) or the human form. */
static int finish(int rc, cli_resp *r, const cli_args *a, show_fn show)
{
    if (rc != 0)
        return 1;
    if (a->json)
        cli_resp_print_raw(r);
    else
        show(r->json);
    cli_resp_free(r);
    return 0;
}

static int put_str(json_t *o, const char *key, const char *v)
{
    if (v == NULL)
        return 0;
    if (json_object_set_new(o, key, json_string(v)) != 0) {
        fprintf(stderr, "shark: the value for %s is not valid UTF-8\n", key);
        return -1;
    }
    return 0;
}

/* "a b", "a,b" and "a, b" all give ["a","b"]. */
static int put_list(json_t *o, const char *key, const char *v)
{
    if (v == NULL)
        return 0;
    json_t *arr = json_array();
    int rc = 0;
    for (const char *p = v; *p;) {
        size_t skip = strspn(p, ", \t\n"), len = strcspn(p + skip, ", \t\n");
        p += skip;
        if (len > 0 && json_array_append_new(arr, json_stringn(p, len)) != 0) {
            fprintf(stderr, "shark: the value for %s is not valid UTF-8\n", key);
            rc = -1;
            break;
        }
        p += len;
    }
    if (rc == 0)
        json_object_set(o, key, arr);
    json_decref(arr);
    return rc;
}

/* A list response: a table, "no <what>" when empty, and where the server
 * has more than it sent (a next_cursor), how to get the next page. */
static void list_table(const json_t *j, const char *what, const char *const *headers,
                       const char *const *keys, size_t ncols)
{
    const json_t *data = json_object_get(j, "data");
    size_t n = json_array_size(data);
    if (n == 0) {
        printf("no %s\n", what);
        return;
    }
    cli_table *t = cli_table_new(ncols, headers);
    size_t i;
    const json_t *row;
    json_array_foreach (data, i, row)
        cli_table_add_json(t, row, keys);
    cli_table_flush(t, stdout);
    cli_table_free(t);
    const char *next = json_string_value(json_object_get(j, "next_cursor"));
    if (next != NULL)
        printf("(%zu shown; next page: --cursor %s)\n", n, next);
}

static void show_app(const json_t *j)
{
    static const char *const keys[] = {"id",     "name",          "description",
                                       "scopes", "redirect_uris", "created_at"};
    cli_fields_print(j, keys, N(keys), stdout);
}

static void show_apps(const json_t *j)
{
    static const char *const h[] = {"ID", "NAME", "SCOPES", "CREATED"};
    static const char *const k[] = {"id", "name", "scopes", "created_at"};
    list_table(j, "applications", h, k, N(h));
}

static void show_agent(const json_t *j)
{
    static const char *const keys[] = {"id",     "client_id", "client_secret", "app_id",    "name",
                                       "scopes", "status",    "created_by",    "created_at"};
    cli_fields_print(j, keys, N(keys), stdout);
    printf("\nThe client_secret is shown once: store it now.\n");
}

static void show_agents(const json_t *j)
{
    /* An agent's id is its client_id; --json shows every field. */
    static const char *const h[] = {"ID", "NAME", "APP", "STATUS", "SCOPES", "CREATED"};
    static const char *const k[] = {"id", "name", "app_id", "status", "scopes", "created_at"};
    list_table(j, "agents", h, k, N(h));
}

static void show_tokens(const json_t *j)
{
    static const char *const h[] = {"TOKEN_ID", "SCOPE", "JKT", "EXPIRES", "CREATED"};
    static const char *const k[] = {"token_id", "scope", "jkt", "expires_at", "created_at"};
    list_table(j, "active tokens", h, k, N(h));
}

static void show_revoked_tokens(const json_t *j)
{
    char *n = cli_value_text(json_object_get(j, "revoked_count"), " ");
    char *id = cli_value_text(json_object_get(j, "agent_id"), " ");
    printf("revoked %s token(s) of agent %s\n", n, id);
    free(n);
    free(id);
}

static void show_rotated(const json_t *j)
{
    static const char *const keys[] = {"agent_id", "client_id", "client_secret", "rotated_at"};
    cli_fields_print(j, keys, N(keys), stdout);
    printf("\nThe new client_secret is shown once: store it now. The old one no longer "
           "works.\n");
}

static void show_user_revoked(const json_t *j)
{
    static const char *const keys[] = {"revoked_agent_ids", "revoked_consent_count",
                                       "audit_event_id"};
    cli_fields_print(j, keys, N(keys), stdout);
}

static void show_pattern_revoked(const json_t *j)
{
    static const char *const keys[] = {"revoked_count", "pattern_matched", "audit_event_id"};
    cli_fields_print(j, keys, N(keys), stdout);
}

int cli_app_create(cli_conn *c, const cli_args *a)
{
    cli_resp r;
    int rc = 2;
    json_t *body = json_object();
    if (put_str(body, "name", a->name) != 0 || put_str(body, "description", a->description) != 0 ||
        put_list(body, "scopes", a->scopes) != 0)
        goto done;
    rc = finish(cli_post(c, "/api/v1/apps", body, &r), &r, a, show_app);
done:
    json_decref(body);
    return rc;
}

int cli_app_list(cli_conn *c, const cli_args *a)
{
    cli_resp r;
    const cli_param q[] = {{"limit", a->limit}, {"offset", a->offset}, {"cursor", a->cursor}};
    return finish(cli_get(c, "/api/v1/apps", q, N(q), &r), &r, a, show_apps);
}

int cli_agent_create(cli_conn *c, const cli_args *a)
{
    cli_resp r;
    int rc = 2;
    json_t *body = json_object();
    if (put_str(body, "app_id", a->app) != 0 || put_str(body, "name", a->name) != 0 ||
        put_list(body, "scopes", a->scopes) != 0 ||
        put_str(body, "description", a->description) != 0 ||
        put_str(body, "created_by", a->created_by) != 0)
        goto done;
    rc = finish(cli_post(c, "/api/v1/agents", body, &r), &r, a, show_agent);
done:
    json_decref(body);
    return rc;
}

int cli_agent_list(cli_conn *c, const cli_args *a)
{
    cli_resp r;
    const cli_param q[] = {{"app_id", a->app},    {"created_by", a->created_by},
                           {"status", a->status}, {"limit", a->limit},
                           {"offset", a->offset}, {"cursor", a->cursor}};
    return finish(cli_get(c, "/api/v1/agents", q, N(q), &r), &r, a, show_agents);
}

int cli_agent_tokens(cli_conn *c, const cli_args *a)
{
    cli_resp r;
    char *path = cli_pathf("/api/v1/agents/%s/tokens", a->pos[0]);
    int rc = finish(cli_get(c, path, NULL, 0, &r), &r, a, show_tokens);
    free(path);
    return rc;
}

int cli_agent_revoke_all(cli_conn *c, const cli_args *a)
{
    cli_resp r;
    char *path = cli_pathf("/api/v1/agents/%s/tokens/revoke-all", a->pos[0]);
    int rc = finish(cli_post(c, path, NULL, &r), &r, a, show_revoked_tokens);
    free(path);
    return rc;
}

int cli_agent_rotate_secret(cli_conn *c, const cli_args *a)
{
    cli_resp r;
    char *path = cli_pathf("/api/v1/agents/%s/rotate-secret", a->pos[0]);
    int rc = finish(cli_post(c, path, NULL, &r), &r, a, show_rotated);
    free(path);
    return rc;
}

int cli_user_revoke_agents(cli_conn *c, const cli_args *a)
{
    cli_resp r;
    int rc = 2;
    char *path = cli_pathf("/api/v1/users/%s/revoke-agents", a->pos[0]);
    json_t *body = json_object();
    if (put_list(body, "agent_ids", a->agents) != 0 || put_str(body, "reason", a->reason) != 0)
        goto done;
    rc = finish(cli_post(c, path, body, &r), &r, a, show_user_revoked);
done:
    json_decref(body);
    free(path);
    return rc;
}

int cli_revoke_pattern(cli_conn *c, const cli_args *a)
{
    cli_resp r;
    int rc = 2;
    json_t *body = json_object();
    if (put_str(body, "client_id_pattern", a->pos[0]) != 0 ||
        put_str(body, "reason", a->reason) != 0)
        goto done;
    rc = finish(cli_post(c, "/api/v1/admin/oauth/revoke-by-pattern", body, &r), &r, a,
                show_pattern_revoked);
done:
    json_decref(body);
    return rc;
}
