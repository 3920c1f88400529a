/* protocol/exchange.c: who may exchange which token (RFC 8693). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "protocol/exchange.h"

#define CALLER "agent_a"
#define DEPTH 3

/* A verified access token of client_id for sub, with claims parsed from
 * json ("{}" when NULL) and an optional DPoP binding. */
static oauth_access token(const char *client_id, const char *sub, const char *jkt, const char *json)
{
    oauth_access t = {0};
    t.claims = json_loads(json ? json : "{}", 0, NULL);
    assert_non_null(t.claims);
    t.client_id = client_id;
    t.sub = sub;
    t.jkt = jkt;
    t.act = json_object_get(t.claims, "act");
    return t;
}

static const char *deny(const oauth_access *subject, const oauth_access *actor, const char *proof)
{
    oauth_exchange_facts f = {CALLER, subject, actor, proof, DEPTH};
    return oauth_exchange_denial(&f);
}

static void test_own_token(void **state)
{
    (void)state;
    oauth_access s = token(CALLER, "user_1", NULL, NULL);
    assert_null(deny(&s, NULL, NULL));
    assert_null(deny(&s, NULL, "some_key")); /* an unbound token with a proof is fine */
    json_decref(s.claims);
}

static void test_another_clients_token(void **state)
{
    (void)state;
    oauth_access s = token("other", "user_1", NULL, NULL);
    assert_non_null(deny(&s, NULL, NULL));
    json_decref(s.claims);
    s = token("other", "user_1", NULL, "{\"aud\":\"" CALLER "\"}");
    assert_null(deny(&s, NULL, NULL));
    json_decref(s.claims);
    s = token("other", "user_1", NULL, "{\"aud\":[\"api\",\"" CALLER "\"]}");
    assert_null(deny(&s, NULL, NULL));
    json_decref(s.claims);
    s = token("other", "user_1", NULL, "{\"aud\":[\"api\",\"agent_ab\"]}");
    assert_non_null(deny(&s, NULL, NULL)); /* whole names only */
    json_decref(s.claims);
}

static void test_may_act(void **state)
{
    (void)state;
    oauth_access s = token("other", "user_1", NULL, "{\"may_act\":{\"sub\":\"" CALLER "\"}}");
    assert_null(deny(&s, NULL, NULL));
    json_decref(s.claims);
    /* may_act is enforced even on the caller's own token and over aud. */
    s = token(CALLER, "user_1", NULL, "{\"may_act\":{\"sub\":\"agent_b\"}}");
    assert_non_null(deny(&s, NULL, NULL));
    json_decref(s.claims);
    s = token("other", "user_1", NULL,
              "{\"aud\":\"" CALLER "\",\"may_act\":{\"sub\":[\"agent_b\"]}}");
    assert_non_null(deny(&s, NULL, NULL));
    json_decref(s.claims);
}

static void test_actor_token(void **state)
{
    (void)state;
    oauth_access s = token(CALLER, "user_1", NULL, NULL);
    oauth_access own = token(CALLER, CALLER, NULL, NULL);
    assert_null(deny(&s, &own, NULL));
    oauth_access foreign = token("other", "other", NULL, NULL);
    assert_non_null(deny(&s, &foreign, NULL));
    oauth_access for_someone = token(CALLER, "user_1", NULL, NULL); /* not the caller itself */
    assert_non_null(deny(&s, &for_someone, NULL));
    oauth_access bound = token(CALLER, CALLER, "actor_key", NULL);
    assert_non_null(deny(&s, &bound, NULL));
    assert_non_null(deny(&s, &bound, "other_key"));
    assert_null(deny(&s, &bound, "actor_key"));
    json_decref(s.claims);
    json_decref(own.claims);
    json_decref(foreign.claims);
    json_decref(for_someone.claims);
    json_decref(bound.claims);
}

static void test_bound_subject(void **state)
{
    (void)state;
    oauth_access s = token(CALLER, "user_1", "subject_key", NULL);
    assert_non_null(deny(&s, NULL, NULL));
    assert_non_null(deny(&s, NULL, "other_key")); /* own: proven by its key only */
    assert_null(deny(&s, NULL, "subject_key"));
    json_decref(s.claims);
    /* Handed over (aud): any proof, for the new token's binding, but a proof. */
    s = token("other", "user_1", "subject_key", "{\"aud\":\"" CALLER "\"}");
    assert_non_null(deny(&s, NULL, NULL));
    assert_null(deny(&s, NULL, "caller_key"));
    json_decref(s.claims);
}

static void test_delegation_depth(void **state)
{
    (void)state;
    /* Two hops in the subject: one more makes three, the limit. */
    oauth_access s = token(CALLER, "user_1", NULL,
                           "{\"act\":{\"sub\":\"b\",\"act\":{\"sub\":\"c\"}}}");
    assert_null(deny(&s, NULL, NULL));
    json_decref(s.claims);
    s = token(CALLER, "user_1", NULL,
              "{\"act\":{\"sub\":\"b\",\"act\":{\"sub\":\"c\",\"act\":{\"sub\":\"d\"}}}}");
    assert_non_null(deny(&s, NULL, NULL));
    json_decref(s.claims);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_token),     cmocka_unit_test(test_another_clients_token),
        cmocka_unit_test(test_may_act),       cmocka_unit_test(test_actor_token),
        cmocka_unit_test(test_bound_subject), cmocka_unit_test(test_delegation_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
