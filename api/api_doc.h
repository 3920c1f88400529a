/*
 * api_doc: serves the OpenAPI 3.1 description of every route, assembled from
 * the fragments in api/openapi/ at build time and embedded in the binary, at
 * /api/openapi.yaml and /api/docs/openapi.yaml (public, no credentials).
 */
#ifndef SHARK_API_DOC_H
#define SHARK_API_DOC_H

#include <stddef.h>

#include "../core/router.h"

/* The assembled document (generated: openapi_doc.c). */
extern const char api_openapi_yaml[];
extern const size_t api_openapi_yaml_len;

/* Registers the two routes that serve it. */
int api_doc_routes(router *r);

#endif
