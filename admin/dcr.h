/* admin/dcr: /api/v1/admin/dcr/initial-access-tokens (see dcr.c). */
#ifndef SHARK_ADMIN_DCR_H
#define SHARK_ADMIN_DCR_H

#include "../core/router.h"

int admin_dcr_register(router *r);

#endif
