/* Layer 4 (POST /api/v1/admin/oauth/revoke-by-pattern) and the revocation
 * feed (GET /api/v1/revocations). */
#ifndef SHARK_ADMIN_REVOKE_H
#define SHARK_ADMIN_REVOKE_H

#include "../core/router.h"

int admin_revoke_register(router *r);

#endif
