/* device: RFC 8628 device authorization endpoint and the /device pages. */
#ifndef SHARK_PROTOCOL_DEVICE_H
#define SHARK_PROTOCOL_DEVICE_H

#include "../core/router.h"

int oauth_device_routes(router *r);

#endif
