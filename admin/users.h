/* /api/v1/users: users, their consents and agents, and Layer 3 (revoke a
 * user's agents). */
#ifndef SHARK_ADMIN_USERS_H
#define SHARK_ADMIN_USERS_H

#include "../core/router.h"

int admin_users_register(router *r);

#endif
