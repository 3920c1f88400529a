#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>

struct ssl_ctx_st *tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        goto fail;
    return ctx;
fail:
    snprintf(err, errlen, "TLS: cannot use %s / %s: %s", cert, key,
             ERR_reason_error_string(ERR_get_error())
                 ? ERR_reason_error_string(ERR_peek_last_error())
                 : "unknown error");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

void tls_ctx_free(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}
