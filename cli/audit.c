/* shark audit: the audit log, newest first; with --follow, a poll every
 * 2 s that prints only events newer than any shown, oldest first. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "table.h"

#define POLL_SECONDS 2
#define PAGE_MAX "1000"

static const char *const headers[] = {"CREATED", "EVENT", "ACTOR", "TARGET", "ID"};
static const char *const keys[] = {"created_at", "event", "actor_id", "target_id", "id"};
#define NCOLS (sizeof(headers) / sizeof(headers[0]))

/* What --follow has shown: the newest created_at, and the ids shown with
 * exactly that timestamp (the API's `since` is inclusive). Timestamps come
 * in one fixed-width UTC format, so they compare as strings. */
struct mark {
    char ts[64];
    json_t *ids_at_ts; /* object used as a set */
};

static const char *ts_of(const json_t *ev)
{
    const char *ts = json_string_value(json_object_get(ev, "created_at"));
    return ts != NULL ? ts : "";
}

static const char *id_of(const json_t *ev)
{
    const char *id = json_string_value(json_object_get(ev, "id"));
    return id != NULL ? id : "";
}

static bool is_new(const struct mark *m, const json_t *ev)
{
    int cmp = strcmp(ts_of(ev), m->ts);
    return cmp > 0 || (cmp == 0 && json_object_get(m->ids_at_ts, id_of(ev)) == NULL);
}

static void remember(struct mark *m, const json_t *ev)
{
    if (strcmp(ts_of(ev), m->ts) > 0) {
        snprintf(m->ts, sizeof(m->ts), "%s", ts_of(ev));
        json_object_clear(m->ids_at_ts);
    }
    json_object_set_new(m->ids_at_ts, id_of(ev), json_true());
}

/* Prints the new events of a newest-first array oldest first. */
static void print_new(struct mark *m, const json_t *events, cli_table *t, bool as_json)
{
    for (size_t i = json_array_size(events); i-- > 0;) {
        const json_t *ev = json_array_get(events, i);
        if (!is_new(m, ev))
            continue;
        remember(m, ev);
        if (as_json) {
            json_dumpf(ev, stdout, JSON_COMPACT);
            putchar('\n');
        } else {
            cli_table_add_json(t, ev, keys);
        }
    }
    if (as_json)
        fflush(stdout);
    else
        cli_table_flush(t, stdout);
}

/* Everything at or after since, across as many pages as it takes. */
static int fetch_since(cli_conn *c, const cli_args *a, const char *since, json_t *out)
{
    char cursor[512] = "";
    for (;;) {
        cli_resp r;
        const cli_param q[] = {{"actor_id", a->actor},
                               {"event", a->event},
                               {"since", since},
                               {"limit", PAGE_MAX},
                               {"cursor", cursor[0] ? cursor : NULL}};
        int rc = cli_get(c, "/api/v1/audit-logs", q, sizeof(q) / sizeof(q[0]), &r);
        if (rc != 0)
            return rc;
        json_array_extend(out, json_object_get(r.json, "data"));
        const char *next = json_string_value(json_object_get(r.json, "next_cursor"));
        snprintf(cursor, sizeof(cursor), "%s", next ? next : "");
        cli_resp_free(&r);
        if (cursor[0] == '\0')
            return 0;
    }
}

static int follow(cli_conn *c, const cli_args *a, const json_t *first)
{
    struct mark m = {"", json_object()};
    cli_table *t = a->json ? NULL : cli_table_new(NCOLS, headers);
    bool warned = false;
    print_new(&m, first, t, a->json);
    for (;;) {
        sleep(POLL_SECONDS);
        json_t *events = json_array();
        int fr = fetch_since(c, a, m.ts[0] ? m.ts : a->since, events);
        if (fr == 0) {
            print_new(&m, events, t, a->json);
            warned = false;
        }
        json_decref(events);
        /* A server restart should not end a follow; a refusal (bad key,
         * bad filter) will not fix itself. */
        if (fr == CLI_EHTTP)
            break;
        if (fr == CLI_ECONN && !warned) {
            fprintf(stderr, "shark: still trying every %d s\n", POLL_SECONDS);
            warned = true;
        }
    }
    cli_table_free(t);
    json_decref(m.ids_at_ts);
    return 1; /* only a refusal ends it; Ctrl-C ends the process */
}

/* Streams page after page: nothing is held but the page being written. */
int cli_audit_export(cli_conn *c, const cli_args *a)
{
    char cursor[512] = "";
    long n = 0;
    for (;;) {
        cli_resp r;
        const cli_param q[] = {{"actor_id", a->actor},
                               {"event", a->event},
                               {"since", a->since},
                               {"until", a->until},
                               {"limit", PAGE_MAX},
                               {"cursor", cursor[0] ? cursor : NULL}};
        if (cli_get(c, "/api/v1/audit-logs", q, sizeof(q) / sizeof(q[0]), &r) != 0)
            return 1;
        size_t i;
        const json_t *ev;
        json_array_foreach(json_object_get(r.json, "data"), i, ev)
        {
            json_dumpf(ev, stdout, JSON_COMPACT);
            putchar('\n');
            n++;
        }
        const char *next = json_string_value(json_object_get(r.json, "next_cursor"));
        snprintf(cursor, sizeof(cursor), "%s", next ? next : "");
        cli_resp_free(&r);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "shark audit export: cannot write the output\n");
            return 1;
        }
        if (cursor[0] == '\0')
            break;
    }
    fprintf(stderr, "shark audit export: %ld events\n", n);
    return 0;
}

int cli_audit(cli_conn *c, const cli_args *a)
{
    cli_resp r;
    const cli_param q[] = {
        {"actor_id", a->actor}, {"event", a->event}, {"since", a->since}, {"limit", a->limit}};
    if (cli_get(c, "/api/v1/audit-logs", q, sizeof(q) / sizeof(q[0]), &r) != 0)
        return 1;
    int rc = 0;
    const json_t *data = json_object_get(r.json, "data");
    if (a->follow) {
        rc = follow(c, a, data);
    } else if (a->json) {
        cli_resp_print_raw(&r);
    } else if (json_array_size(data) == 0) {
        printf("no audit events\n");
    } else {
        cli_table *t = cli_table_new(NCOLS, headers);
        size_t i;
        const json_t *ev;
        json_array_foreach(data, i, ev) cli_table_add_json(t, ev, keys);
        cli_table_flush(t, stdout);
        cli_table_free(t);
        if (!json_is_null(json_object_get(r.json, "next_cursor")))
            printf("(older events exist: raise --limit (up to 1000) or narrow with --since)\n");
    }
    cli_resp_free(&r);
    return rc;
}
