/* admin/agents: /api/v1/apps and /api/v1/agents (see agents.c). */
#ifndef SHARK_ADMIN_AGENTS_H
#define SHARK_ADMIN_AGENTS_H

#include "../core/router.h"

int admin_agents_register(router *r);

#endif
