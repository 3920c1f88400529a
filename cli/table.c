#include "table.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fatal.h"

struct cli_table {
    size_t ncols;
    const char *const *headers;
    size_t *width;
    char **cells; /* pending rows, ncols per row */
    size_t nrows, cap;
    bool header_done;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        shark_fatal("out of memory");
    return p;
}

/* Display width: UTF-8 code points, which is right for everything but wide
 * CJK and emoji. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

cli_table *cli_table_new(size_t ncols, const char *const *headers)
{
    cli_table *t = xcalloc(1, sizeof(*t));
    t->ncols = ncols;
    t->headers = headers;
    t->width = xcalloc(ncols, sizeof(*t->width));
    for (size_t i = 0; i < ncols; i++)
        t->width[i] = text_width(headers[i]);
    return t;
}

static void drop_rows(cli_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    t->nrows = 0;
}

void cli_table_free(cli_table *t)
{
    if (t == NULL)
        return;
    drop_rows(t);
    free(t->cells);
    free(t->width);
    free(t);
}

void cli_table_add_json(cli_table *t, const json_t *obj, const char *const *keys)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, t->cap * t->ncols * sizeof(*c));
        if (c == NULL)
            shark_fatal("out of memory");
        t->cells = c;
    }
    char **row = t->cells + t->nrows++ * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = cli_value_text(json_object_get(obj, keys[i]), ",");
        size_t w = text_width(row[i]);
        if (w > t->width[i])
            t->width[i] = w;
    }
}

static void print_row(const cli_table *t, const char *const *cells, FILE *out)
{
    for (size_t i = 0; i < t->ncols; i++) {
        fputs(cells[i], out);
        if (i + 1 < t->ncols)
            fprintf(out, "%*s", (int)(t->width[i] - text_width(cells[i]) + 2), "");
    }
    fputc('\n', out);
}

void cli_table_flush(cli_table *t, FILE *out)
{
    if (!t->header_done) {
        print_row(t, t->headers, out);
        t->header_done = true;
    }
    for (size_t r = 0; r < t->nrows; r++)
        print_row(t, (const char *const *)(t->cells + r * t->ncols), out);
    drop_rows(t);
    fflush(out);
}

static char *dup_clean(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        shark_fatal("out of memory");
    for (char *p = d; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return d;
}

char *cli_value_text(const json_t *v, const char *sep)
{
    char *out = NULL, *tmp = NULL;
    size_t len = 0;
    if (v == NULL || json_is_null(v))
        return dup_clean("-");
    if (json_is_string(v))
        return dup_clean(json_string_value(v));
    if (json_is_array(v)) {
        FILE *f = open_memstream(&tmp, &len);
        if (f == NULL)
            shark_fatal("out of memory");
        size_t i;
        const json_t *item;
        json_array_foreach (v, i, item) {
            char *s = cli_value_text(item, sep);
            fprintf(f, "%s%s", i ? sep : "", s);
            free(s);
        }
        fclose(f);
        out = dup_clean(len ? tmp : "-");
    } else {
        tmp = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (tmp == NULL)
            shark_fatal("out of memory");
        out = dup_clean(tmp);
    }
    free(tmp);
    return out;
}

void cli_fields_print(const json_t *obj, const char *const *keys, size_t n, FILE *out)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (strlen(keys[i]) > w)
            w = strlen(keys[i]);
    for (size_t i = 0; i < n; i++) {
        char *v = cli_value_text(json_object_get(obj, keys[i]), " ");
        fprintf(out, "%-*s  %s\n", (int)w, keys[i], v);
        free(v);
    }
}
