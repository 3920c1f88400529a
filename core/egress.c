/* The outbound destination policy (see egress.h). */
#include "egress.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cidr.h"
#include "fatal.h"

/* Ranges no outbound request may reach unless allowed: the host itself, private
 * networks and cloud metadata (169.254.169.254) are the SSRF targets. */
static const struct {
    const char *cidr, *kind;
} blocked[] = {
    {"0.0.0.0/8", "unspecified"},     {"10.0.0.0/8", "private"},
    {"100.64.0.0/10", "CGNAT"},       {"127.0.0.0/8", "loopback"},
    {"169.254.0.0/16", "link-local"}, {"172.16.0.0/12", "private"},
    {"192.0.0.0/24", "reserved"},     {"192.168.0.0/16", "private"},
    {"198.18.0.0/15", "reserved"},    {"224.0.0.0/4", "multicast"},
    {"240.0.0.0/4", "reserved"},      {"::/128", "unspecified"},
    {"::1/128", "loopback"},          {"64:ff9b::/96", "NAT64"},
    {"fc00::/7", "private"},          {"fe80::/10", "link-local"},
    {"fec0::/10", "site-local"},      {"ff00::/8", "multicast"},
};

static bool allow_listed(const char *allow, const char *host, const uint8_t addr[16])
{
    char item[256];
    while (*allow != '\0') {
        size_t n = strcspn(allow, ",");
        if (n < sizeof(item)) {
            memcpy(item, allow, n);
            item[n] = '\0';
            cidr c;
            if ((host != NULL && strcasecmp(item, host) == 0) ||
                (cidr_parse(item, &c) == 0 && cidr_match(&c, addr)))
                return true;
        }
        allow += n + (allow[n] == ',');
    }
    return false;
}

const char *egress_refusal(const char *allow, const char *host, const uint8_t addr[16])
{
    for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++) {
        cidr c;
        if (cidr_parse(blocked[i].cidr, &c) != 0)
            shark_fatal("bad built-in range");
        if (cidr_match(&c, addr))
            return allow_listed(allow, host, addr) ? NULL : blocked[i].kind;
    }
    return NULL;
}

int egress_url_check(const char *allow, const char *url, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = -1;
    if (u == NULL)
        shark_fatal("out of memory");
    if (strlen(url) > 2000 || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        snprintf(err, errlen, "url must be an absolute http or https URL of at most 2000 bytes");
        goto done;
    }
    /* curl keeps IPv6 literals in brackets. */
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    uint8_t addr[16];
    const char *why;
    if (cidr_addr_parse(host, addr) == 0 && (why = egress_refusal(allow, host, addr)) != NULL) {
        snprintf(err, errlen,
                 "url points at a %s address; list it in --webhook-allowed-hosts to allow it", why);
        goto done;
    }
    rc = 0;
done:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}
