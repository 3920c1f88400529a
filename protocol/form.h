/*
 * form: application/x-www-form-urlencoded bodies (RFC 6749 requests). A
 * parameter given twice is an error (RFC 6749 §3.1), as is a malformed
 * escape; empty values count as absent. Also the client credentials of an
 * Authorization: Basic header (RFC 6749 §2.3.1).
 */
#ifndef SHARK_PROTOCOL_FORM_H
#define SHARK_PROTOCOL_FORM_H

#include <stddef.h>

#include "../core/arena.h"
#include "../core/http.h"

#define FORM_MAX_FIELDS 64

typedef struct form {
    int n;
    struct {
        const char *name, *value;
    } f[FORM_MAX_FIELDS];
} form;

enum { FORM_OK = 0, FORM_EMALFORMED = -1, FORM_EDUPLICATE = -2, FORM_ETOOMANY = -3 };

/* Parses body into f (strings in a). On FORM_EDUPLICATE, *bad names the
 * parameter. */
int form_parse(arena *a, const char *body, size_t len, form *f, const char **bad);
/* Value of name, or NULL when absent or empty. */
const char *form_get(const form *f, const char *name);

/* Splits "Basic <base64(urlencoded id:urlencoded secret)>" into *id and
 * *secret (in a; the secret may be empty, the id may not). 0, or -1 when the
 * header is not well-formed Basic credentials. */
int form_basic_credentials(arena *a, const char *hdr, const char **id, const char **secret);

/* Shared by every form-posting endpoint: the Content-Type must be
 * application/x-www-form-urlencoded, then form_parse; answers 400 (RFC 6749
 * envelope) and returns -1 on any problem. */
int oauth_read_form(http_req *req, form *f);

#endif
