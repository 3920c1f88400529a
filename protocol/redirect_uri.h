/*
 * redirect_uri: which redirect URIs a client may register (OAuth 2.1 and
 * RFC 8252): absolute https, or http to a loopback host; no fragment, no
 * user credentials, a sane port. Pure; shared by registration (register.c)
 * and metadata documents (cimd.c).
 */
#ifndef SHARK_PROTOCOL_REDIRECT_URI_H
#define SHARK_PROTOCOL_REDIRECT_URI_H

/* NULL if u is an absolute https URL (or http to a loopback host) without a
 * fragment or user credentials; otherwise what is wrong with it. */
const char *oauth_redirect_uri_problem(const char *u);

#endif
