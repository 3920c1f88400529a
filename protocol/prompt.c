#include "prompt.h"

#include <string.h>

const char *const oauth_prompt_values[] = {"none", "login", "consent", "select_account", NULL};

int oauth_prompt_parse(const char *s, oauth_prompt *out)
{
    memset(out, 0, sizeof(*out));
    int n = 0;
    for (const char *p = s; p != NULL && *p;) {
        size_t len = strcspn(p, " ");
        bool *flag = len == 4 && strncmp(p, "none", 4) == 0         ? &out->none
                     : len == 5 && strncmp(p, "login", 5) == 0      ? &out->login
                     : len == 7 && strncmp(p, "consent", 7) == 0    ? &out->consent
                     : len == 14 && strncmp(p, "select_account", 14) == 0 ? &out->select_account
                                                                    : NULL;
        if (flag == NULL || *flag)
            return -1;
        *flag = true;
        n++;
        p += len;
        while (*p == ' ')
            p++;
    }
    return out->none && n > 1 ? -1 : 0;
}

int64_t oauth_max_age_parse(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 10)
        return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

bool oauth_prompt_reauth(const oauth_prompt *p, int64_t max_age, int64_t auth_time, int64_t now)
{
    /* max_age=0 is prompt=login (Core §3.1.2.1), whatever the clock says */
    return p->login || p->select_account || max_age == 0 ||
           (max_age > 0 && now - auth_time > max_age);
}
