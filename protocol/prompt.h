/*
 * prompt: the prompt and max_age parameters of an authorization request
 * (OpenID Connect Core §3.1.2.1). none never shows a page: it answers
 * login_required or consent_required instead. login and select_account
 * (one account per browser here, so choosing one means signing in) send a
 * signed-in person through the login page again, as does a sign-in older
 * than max_age; consent asks again even when a consent covers the scopes.
 */
#ifndef SHARK_PROTOCOL_PROMPT_H
#define SHARK_PROTOCOL_PROMPT_H

#include <stdbool.h>
#include <stdint.h>

/* The values advertised in prompt_values_supported, NULL-terminated. */
extern const char *const oauth_prompt_values[];

typedef struct oauth_prompt {
    bool none, login, consent, select_account;
} oauth_prompt;

/* Parses space-separated prompt values (NULL: none given). -1 for an
 * unknown value, a repeated one, or none with another. */
int oauth_prompt_parse(const char *s, oauth_prompt *out);
/* max_age: decimal seconds, 0 allowed; -1 when malformed. */
int64_t oauth_max_age_parse(const char *s);
/* Whether the first look at a request must send a signed-in person
 * (auth_time, unix s) to sign in again. max_age < 0: not given. */
bool oauth_prompt_reauth(const oauth_prompt *p, int64_t max_age, int64_t auth_time, int64_t now);

#endif
