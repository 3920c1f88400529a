/* The routes of the authorization code flow's front half: /oauth/authorize
 * and /oauth/par are checked by authorize_request.c, the pages after them
 * (login, consent, decision) are authorize_flow.c's. */
#include "authorize.h"
#include "authorize_flow.h"
#include "authorize_request.h"

#include "../identity/web.h"

/* The pages a browser sees go through the web guard (Host, Origin). */
static const web_route pages[] = {
    {"GET", "/oauth/authorize", oauth_authorize_get, WEB_PAGE},
    {"GET", "/oauth/authorize/resume", oauth_authorize_resume, WEB_PAGE},
    {"POST", "/oauth/authorize/decision", oauth_authorize_decision, WEB_PAGE},
    {"GET", "/login", oauth_authorize_login_get, WEB_PAGE},
    {"POST", "/login", oauth_authorize_login_post, WEB_PAGE},
};

int oauth_authorize_routes(router *r)
{
    if (router_add(r, "POST", "/oauth/par", oauth_authorize_par, NULL) != 0 ||
        web_routes_add(r, pages, sizeof(pages) / sizeof(pages[0])) != 0)
        return -1;
    return 0;
}
