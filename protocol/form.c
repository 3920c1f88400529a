#include "form.h"

#include <string.h>

#include "../core/http.h"

int form_parse(arena *a, const char *body, size_t len, form *f, const char **bad)
{
    f->n = 0;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && body[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(body + i, '=', j - i);
            size_t kl = eq ? (size_t)(eq - (body + i)) : j - i;
            char *name = arena_strndup(a, body + i, kl);
            char *value = eq ? arena_strndup(a, eq + 1, j - i - kl - 1) : arena_strdup(a, "");
            if (memchr(body + i, '\0', j - i) != NULL || http_pct_decode(name, true) != 0 ||
                http_pct_decode(value, true) != 0 || name[0] == '\0')
                return FORM_EMALFORMED;
            for (int k = 0; k < f->n; k++) {
                if (strcmp(f->f[k].name, name) == 0) {
                    if (bad != NULL)
                        *bad = f->f[k].name;
                    return FORM_EDUPLICATE;
                }
            }
            if (f->n == FORM_MAX_FIELDS)
                return FORM_ETOOMANY;
            f->f[f->n].name = name;
            f->f[f->n].value = value;
            f->n++;
        }
        i = j + 1;
    }
    return FORM_OK;
}

const char *form_get(const form *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->f[i].name, name) == 0)
            return f->f[i].value[0] != '\0' ? f->f[i].value : NULL;
    return NULL;
}
