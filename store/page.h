/*
 * store/page: the keyset page every admin listing answers. A listing
 * statement (built with STORE_PAGE in its own unit) reads at most one row
 * more than the page shows, newest first by (timestamp, id), so the first
 * page and the thousandth cost the same; the exact total is counted only
 * when asked. Its result is one row (none when the listing's parent, an
 * agent or a user say, does not exist), read with store_page_row_read:
 * data, next, total and, for a listing that adds members to its answer,
 * extra.
 */
#ifndef SHARK_STORE_PAGE_H
#define SHARK_STORE_PAGE_H

#include <stdbool.h>

#include "../core/arena.h"
#include "store.h"

/* The page asked for. */
typedef struct store_page_q {
    int limit;                       /* 1..1000 */
    int offset;                      /* legacy paging; 0 with a cursor */
    const char *after_ts, *after_id; /* the last row of the previous page, or NULL */
    bool total;                      /* count every row too */
} store_page_q;

typedef struct store_page_row {
    const char *data;  /* the page's rows: JSON array text */
    const char *next;  /* "<timestamp> <id>" of the last row shown when rows follow, else NULL */
    long long total;   /* -1 when not asked */
    const char *extra; /* a JSON object of members the answer adds, or NULL */
} store_page_row;
/* false when res has no row (the listing's parent is unknown). */
bool store_page_row_read(const PGresult *res, arena *a, store_page_row *out);

/* The first five parameters of every listing statement ($1..$5), as text
 * in `buf` (which must outlive the call). */
typedef struct store_page_args {
    char limit[16], offset[16];
    const char *v[5];
} store_page_args;
void store_page_bind(const store_page_q *q, store_page_args *buf);

/*
 * A listing statement's text. `item` is the JSON of one row of `table`
 * (named `alias`), `where` the filter, `ts` and `id` the keyset columns (an
 * index on the filter's equality columns, then (ts, id), fits it), `tail`
 * what follows the final SELECT ("" or "FROM parent WHERE …" to answer no
 * row for an unknown parent). The route's own parameters start at $6. The
 * page keeps whole rows and builds the JSON of the shown ones only, so rows
 * a legacy offset skips cost no JSON.
 */
#define STORE_PAGE_TS(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define STORE_PAGE(item, table, alias, where, ts, id, tail)                               \
    "WITH pg AS (SELECT " alias " AS r, " ts " AS ts, " id " AS id FROM " table " " alias \
    " WHERE (" where ") AND (" ts ", " id ") < (coalesce($3::timestamptz, 'infinity'), "  \
    "coalesce($4::text, '')) ORDER BY " ts " DESC, " id " DESC LIMIT $1::int + 1 "        \
    "OFFSET $2::int), "                                                                   \
    "shown AS (SELECT * FROM pg ORDER BY ts DESC, id DESC LIMIT $1::int) "                \
    "SELECT coalesce((SELECT json_agg(" item " ORDER BY " ts " DESC, " id " DESC) "       \
    "  FROM (SELECT (r).* FROM shown) " alias "), '[]')::text AS data, "                  \
    "  CASE WHEN (SELECT count(*) FROM pg) > $1::int THEN (SELECT " STORE_PAGE_TS(        \
        "ts") " || ' ' || id FROM shown ORDER BY ts, id LIMIT 1) END AS next, "           \
              "  CASE WHEN $5::boolean THEN (SELECT count(*) FROM " table " " alias       \
              " WHERE " where ") END AS total " tail

#endif
