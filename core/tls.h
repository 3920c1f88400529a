/* tls: the server's OpenSSL context for --tls-cert/--tls-key (TLS 1.2+). */
#ifndef SHARK_CORE_TLS_H
#define SHARK_CORE_TLS_H

#include <stddef.h>

struct ssl_ctx_st;

/* NULL with a message in err when the files cannot be used. */
struct ssl_ctx_st *tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen);
void tls_ctx_free(struct ssl_ctx_st *ctx);

#endif
