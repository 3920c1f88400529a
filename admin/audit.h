/* admin/audit: GET /api/v1/audit-logs (filters, newest first, cursor pages). */
#ifndef SHARK_ADMIN_AUDIT_H
#define SHARK_ADMIN_AUDIT_H

#include "../core/router.h"

int admin_audit_register(router *r);

#endif
