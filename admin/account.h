/* admin/account: /api/v1/auth/ (signup, login, logout, me, sessions). */
#ifndef SHARK_ADMIN_ACCOUNT_H
#define SHARK_ADMIN_ACCOUNT_H

#include "../core/router.h"

int admin_account_register(router *r);

#endif
