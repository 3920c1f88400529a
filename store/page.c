/* The keyset page of the admin listings (see page.h). */
#include "page.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

enum { PAGE_DATA, PAGE_NEXT, PAGE_TOTAL, PAGE_EXTRA };

bool store_page_row_read(const PGresult *res, arena *a, store_page_row *out)
{
    if (PQntuples(res) < 1)
        return false;
    out->data = arena_strdup(a, PQgetvalue(res, 0, PAGE_DATA));
    out->next = PQgetisnull(res, 0, PAGE_NEXT) ? NULL
                                               : arena_strdup(a, PQgetvalue(res, 0, PAGE_NEXT));
    out->total = PQgetisnull(res, 0, PAGE_TOTAL)
                     ? -1
                     : strtoll(PQgetvalue(res, 0, PAGE_TOTAL), NULL, 10);
    out->extra = PQnfields(res) > PAGE_EXTRA ? arena_strdup(a, PQgetvalue(res, 0, PAGE_EXTRA))
                                             : NULL;
    return true;
}

void store_page_bind(const store_page_q *q, store_page_args *buf)
{
    snprintf(buf->limit, sizeof(buf->limit), "%d", q->limit);
    snprintf(buf->offset, sizeof(buf->offset), "%d", q->offset);
    buf->v[0] = buf->limit;
    buf->v[1] = buf->offset;
    buf->v[2] = q->after_ts;
    buf->v[3] = q->after_ts != NULL ? q->after_id : NULL;
    buf->v[4] = q->total ? "true" : "false";
}
