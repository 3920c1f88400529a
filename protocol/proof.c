#include "proof.h"

#include <string.h>
#include <time.h>

#include "access.h"
#include "dpopkeys.h"
#include "oauth.h"

enum oauth_proof oauth_proof_check(http_req *req, const char *path, const char *access_token,
                                   const char *jkt, dpop_result *out, const char **why)
{
    int n = http_req_header_count(req, "DPoP");
    *why = "invalid DPoP proof";
    if (n == 0)
        return OAUTH_PROOF_NONE;
    if (n > 1) {
        *why = "exactly one DPoP header is allowed";
        return OAUTH_PROOF_INVALID;
    }
    app *a = http_req_app(req);
    char htu[2200];
    oauth_url(a, path, htu, sizeof(htu));
    int64_t now = (int64_t)time(NULL);
    bool nonces = strcmp(a->cfg.dpop_nonce, "on") == 0;
    char nonce[44], prev[44];
    if (nonces) {
        oauth_dpop_nonce(a, now, 0, nonce);
        oauth_dpop_nonce(a, now, 1, prev);
        http_header(req, "DPoP-Nonce", nonce);
    }
    const char *proof = http_req_header(req, "DPoP");
    const char *htm = http_req_method(req);
    int rc = dpop_verify_keys(oauth_dpop_keys(http_req_loop_ctx(req)), proof, htm, htu, now, a->cfg.dpop_window_s,
                              access_token, jkt, nonces ? nonce : NULL, out);
    /* The nonce of the window just ended stays good for one more window. */
    if (rc == DPOP_ERR_NONCE)
        rc = dpop_verify_keys(oauth_dpop_keys(http_req_loop_ctx(req)), proof, htm, htu, now, a->cfg.dpop_window_s,
                              access_token, jkt, prev, out);
    if (rc == DPOP_ERR_NONCE) {
        *why = "resend the proof with the DPoP-Nonce";
        return OAUTH_PROOF_NONCE;
    }
    if (rc != 0) {
        if (out->reason != NULL && *out->reason)
            *why = out->reason;
        return OAUTH_PROOF_INVALID;
    }
    return OAUTH_PROOF_OK;
}
