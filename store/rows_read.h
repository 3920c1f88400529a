/*
 * store/rows_read: the cell readers behind the typed rows (store/rows*.h),
 * for store/ only. Row i, column c of a result; text is copied into the
 * arena (NULL for SQL NULL, or "" with text0 where callers take "" for
 * none); flags are 't'/'f'; numbers are 0 for SQL NULL.
 */
#ifndef SHARK_STORE_ROWS_READ_H
#define SHARK_STORE_ROWS_READ_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/arena.h"

static inline const char *rows_text(const PGresult *res, int i, int c, arena *a)
{
    return PQgetisnull(res, i, c) ? NULL : arena_strdup(a, PQgetvalue(res, i, c));
}

static inline const char *rows_text0(const PGresult *res, int i, int c, arena *a)
{
    return arena_strdup(a, PQgetvalue(res, i, c));
}

static inline bool rows_flag(const PGresult *res, int i, int c)
{
    return PQgetvalue(res, i, c)[0] == 't';
}

static inline int64_t rows_int(const PGresult *res, int i, int c)
{
    return strtoll(PQgetvalue(res, i, c), NULL, 10);
}

/* The first column of a one-row answer as a number (0 without a row). */
static inline int64_t rows_first_int(const PGresult *res)
{
    return PQntuples(res) == 1 ? rows_int(res, 0, 0) : 0;
}

/* The first column of a one-row answer as a flag (false without a row). */
static inline bool rows_first_flag(const PGresult *res)
{
    return PQntuples(res) == 1 && rows_flag(res, 0, 0);
}

#endif
