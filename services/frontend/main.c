/* The frontend service: the storefront's single page and its files, served from the binary.
 * It has no database and calls no service: the page talks to the others through the gateway.
 * Wiring only. */
#include <stdio.h>

#include "frontend.h"
#include "ms/app.h"
#include "ms/config.h"
#include "ms/err.h"
#include "service.gen.h"

/* Reads the settings and renders config_json. 0, or MS_EINVAL after printing one line naming
 * the bad variable. */
static int configure(void *state)
{
    struct frontend_svc *svc = state;
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
    static struct frontend_svc svc;
    const struct ms_app app = {
        .name = SERVICE_NAME,
        .default_port = SERVICE_PORT,
        .svc = &svc,
        .routes = frontend_routes,
        .nroutes = frontend_routes_len,
        .configure = configure,
    };

    return ms_app_run(&app);
}
