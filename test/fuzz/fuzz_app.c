#include "fuzz_app.h"

#include <stdio.h>

#include "core/log.h"

void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: property does not hold: %s\n", file, line, what);
    abort();
}

worker *fuzz_worker(int (*routes)(router *r))
{
    static app a;
    static worker w;
    if (w.app != NULL)
        return &w;
    log_set_level(LOG_OFF);
    config_defaults(&a.cfg, 1);
    a.cfg.max_body = FUZZ_MAX_BODY;
    a.cfg.max_header = FUZZ_MAX_HEADER;
    a.cfg.n_trusted_proxies = cidr_parse_list("127.0.0.0/8", a.cfg.trusted_proxies,
                                              CONFIG_MAX_PROXIES);
    a.router = router_new();
    a.rl = rl_new(0, 0); /* rate limiting off: every input is routed */
    if (a.cfg.n_trusted_proxies != 1 || a.router == NULL || a.rl == NULL || routes(a.router) != 0 ||
        (a.metrics = metrics_new(router_count(a.router), 1)) == NULL)
        fuzz_fail(__FILE__, __LINE__, "set-up");
    w.app = &a;
    return &w;
}
