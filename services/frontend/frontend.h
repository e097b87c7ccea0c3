/* The storefront service's shared state and its route table. */
#ifndef FRONTEND_H
#define FRONTEND_H

#include <stddef.h>

#include "ms/router.h"

/* What the page learns from GET /config.json, read from the environment at start. */
struct frontend_settings {
    int api_timeout_ms;      /* API_TIMEOUT_MS: the page gives up on an API call after this */
    int checkout_timeout_ms; /* CHECKOUT_TIMEOUT_MS: the same for POST /orders */
};

struct frontend_svc {
    struct frontend_settings settings;
    char config_json[160]; /* the body of GET /config.json, made once at start; read-only after */
    size_t config_len;
};

extern const struct ms_route frontend_routes[];
extern const size_t frontend_routes_len;

#endif
