/* The frontend service: the storefront's single page and its files, served from the binary.
 * It has no database and calls no service: the page talks to the others through the gateway.
 * Wiring only. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "frontend.h"
#include "ms/config.h"
#include "ms/err.h"
#include "ms/log.h"
#include "ms/server.h"
#include "service.gen.h"

int frontend_svc_init(struct frontend_svc *svc)
{
    struct frontend_settings *s = &svc->settings;
    int n;

    if (ms_config_i("API_TIMEOUT_MS", 5000, 100, 600000, &s->api_timeout_ms) ||
        ms_config_i("CHECKOUT_TIMEOUT_MS", 20000, 100, 600000, &s->checkout_timeout_ms))
        return MS_EINVAL;
    n = snprintf(svc->config_json, sizeof(svc->config_json),
                 "{\"api_timeout_ms\":%d,\"checkout_timeout_ms\":%d}", s->api_timeout_ms,
                 s->checkout_timeout_ms);
    if (n < 0 || (size_t)n >= sizeof(svc->config_json))
        return MS_EINTERNAL;
    svc->config_len = (size_t)n;
    return 0;
}

int main(void)
{
    struct ms_server_config server;
    struct frontend_svc svc = {0};
    struct ms_server *srv = NULL;
    int status = EXIT_FAILURE;

    if (ms_log_init_from_env(SERVICE_NAME) ||
        ms_server_config_load(&server, SERVICE_NAME, SERVICE_PORT) || frontend_svc_init(&svc))
        return MS_CONFIG_EXIT;
    json_object_seed(0);
    srv = ms_server_new(&server, &svc); /* first: it sets the signal mask threads inherit */
    if (!srv)
        goto out;
    if (ms_server_add_routes(srv, frontend_routes, frontend_routes_len) || ms_server_start(srv))
        goto out;
    ms_server_wait_and_drain(srv);
    status = EXIT_SUCCESS;
out:
    ms_server_free(srv);
    return status;
}
