/* cli/table: output for people — aligned columns and "field  value" blocks
 * built from the server's JSON. Text from the server is printed with control
 * characters replaced so it cannot drive the terminal. */
#ifndef SHARK_CLI_TABLE_H
#define SHARK_CLI_TABLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

typedef struct cli_table cli_table;

/* Columns are headed by headers[0..ncols-1] (kept by pointer). */
cli_table *cli_table_new(size_t ncols, const char *const *headers);
void cli_table_free(cli_table *t);

/* Adds a row: cell i is field keys[i] of obj as cli_value_text (arrays comma-joined). */
void cli_table_add_json(cli_table *t, const json_t *obj, const char *const *keys);

/* Prints the header (first call only) and the rows added since the last
 * call, padded to the widest cell seen so far; the last column is not padded.
 * Calling it again after more rows lets a follow loop stream a table. */
void cli_table_flush(cli_table *t, FILE *out);

/* A JSON value as people read it: strings bare, arrays joined with sep,
 * null or missing "-", objects compact JSON. Caller frees. */
char *cli_value_text(const json_t *v, const char *sep);

/* Prints "label  value" lines for fields keys[0..n-1] of obj, labels aligned. */
void cli_fields_print(const json_t *obj, const char *const *keys, size_t n, FILE *out);

#endif
