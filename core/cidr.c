#include "cidr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

int cidr_addr_parse(const char *s, uint8_t out[16])
{
    struct in_addr a4;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, s, out) == 1 ? 0 : -1;
}

int cidr_parse(const char *s, cidr *out)
{
    char buf[64];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n + 1);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash != NULL) {
        char *end;
        *slash = '\0';
        if (slash[1] < '0' || slash[1] > '9')
            return -1; /* strtol would take " 8" or "+8" */
        prefix = strtol(slash + 1, &end, 10);
        if (*end != '\0' || prefix < 0)
            return -1;
    }
    if (cidr_addr_parse(buf, out->addr) != 0)
        return -1;
    bool v4 = strchr(buf, ':') == NULL;
    long max = v4 ? 32 : 128;
    if (prefix > max)
        return -1;
    if (prefix < 0)
        prefix = max;
    out->prefix = (int)(v4 ? prefix + 96 : prefix);
    return 0;
}

int cidr_parse_list(const char *s, cidr *out, int max)
{
    int n = 0;
    const char *p = s;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        const char *e = p;
        while (*e != '\0' && *e != ',' && *e != ' ')
            e++;
        char item[64];
        if ((size_t)(e - p) >= sizeof(item) || n >= max)
            return -1;
        memcpy(item, p, (size_t)(e - p));
        item[e - p] = '\0';
        if (cidr_parse(item, &out[n]) != 0)
            return -1;
        n++;
        p = e;
    }
    return n;
}

bool cidr_match(const cidr *c, const uint8_t addr[16])
{
    int full = c->prefix / 8, rem = c->prefix % 8;
    if (memcmp(c->addr, addr, (size_t)full) != 0)
        return false;
    if (rem == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rem));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

bool cidr_match_any(const cidr *list, int n, const uint8_t addr[16])
{
    for (int i = 0; i < n; i++)
        if (cidr_match(&list[i], addr))
            return true;
    return false;
}
