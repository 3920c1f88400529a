/*
 * pages: the server-rendered HTML of the interactive flows — login, consent,
 * device code entry, errors. Plain HTML and CSS, no JavaScript; every value
 * from a request or the database is HTML-escaped.
 */
#ifndef SHARK_PROTOCOL_PAGES_H
#define SHARK_PROTOCOL_PAGES_H

#include "../core/http.h"

/* HTML-escapes s into the request arena. */
const char *page_escape(http_req *req, const char *s);
/* Sends a complete page: title and body HTML (already escaped where needed). */
void page_send(http_req *req, int status, const char *title, const char *body_html);
/* An error page (never a redirect: used when the client or redirect URI
 * cannot be trusted). */
void page_error(http_req *req, int status, const char *message);

#endif
