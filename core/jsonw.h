/*
 * jsonw: a JSON object writer for hot responses, building compact text in the
 * request arena without a document tree. Members are written in call order;
 * keys are literals the caller controls (not escaped). String values are
 * escaped; a value that is not valid UTF-8 marks the writer failed and
 * jsonw_finish returns NULL, so bad input never yields invalid JSON.
 */
#ifndef SHARK_CORE_JSONW_H
#define SHARK_CORE_JSONW_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

typedef struct jsonw jsonw;

/* Opens the top-level object. */
jsonw *jsonw_new(arena *a);
void jsonw_str(jsonw *w, const char *key, const char *val);
void jsonw_int(jsonw *w, const char *key, int64_t val);
/* `json` is a complete JSON value already serialised (by jansson or jsonw). */
void jsonw_raw(jsonw *w, const char *key, const char *json, size_t len);
/* Opens a nested object as the value of `key`; jsonw_close ends it. */
void jsonw_open(jsonw *w, const char *key);
void jsonw_close(jsonw *w);
/* Closes every open object; the text (NUL-terminated, arena memory) and its
 * length, or NULL if a string value was not valid UTF-8. */
const char *jsonw_finish(jsonw *w, size_t *len);

#endif
