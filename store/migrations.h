/*
 * The migrations embedded in the binary: store/migrations/NNNN_name.sql,
 * turned into a table at build time by embed_sql (migrations_gen.c).
 * Sorted by ascending version; versions are unique and positive.
 */
#ifndef SHARK_STORE_MIGRATIONS_H
#define SHARK_STORE_MIGRATIONS_H

struct store_migration {
    int version;      /* leading digits of the file name */
    const char *name; /* file name without ".sql", e.g. "0001_init" */
    const char *sql;  /* whole file; may hold several statements */
};

extern const struct store_migration store_migrations[];
extern const int store_migrations_count;

#endif
