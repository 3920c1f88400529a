/* admin/webhooks: /api/v1/admin/webhooks (see webhooks.c); delivery itself
 * is core/outbound.c. */
#ifndef SHARK_ADMIN_WEBHOOKS_H
#define SHARK_ADMIN_WEBHOOKS_H

#include "../core/router.h"

int admin_webhooks_register(router *r);

#endif
