/* The inventory service: stock per product and reservations against it, in PostgreSQL, with a
 * reaper that releases abandoned reservations. Wiring only. */
#include "inventory.h"
#include "ms/app.h"
#include "ms/config.h"
#include "service.gen.h"

static struct {
    int ttl_s;           /* a held reservation older than this is released */
    int reap_interval_s; /* how often the reaper looks */
} settings;

static int configure(void *svc)
{
    (void)svc;
    return ms_config_i("RESERVATION_TTL_S", 900, 1, 7 * 86400, &settings.ttl_s) ||
           ms_config_i("RESERVATION_REAP_INTERVAL_S", 10, 1, 3600, &settings.reap_interval_s);
}

static int init(void *svc, const struct ms_app_config *cfg)
{
    (void)cfg;
    inventory_svc_init(svc);
    return 0;
}

static int start(void *svc)
{
    return inventory_reaper_start(svc, settings.ttl_s, settings.reap_interval_s);
}

static void stop(void *svc)
{
    inventory_reaper_stop(svc);
}

int main(void)
{
    static struct inventory_svc svc;
    const struct ms_app app = {
        .name = SERVICE_NAME,
        .default_port = SERVICE_PORT,
        .svc = &svc,
        .routes = inventory_routes,
        .nroutes = inventory_routes_len,
        .database = MS_APP_DATABASE(DEFAULT_DATABASE_URL, svc),
        .configure = configure,
        .init = init,
        .start = start,
        .stop = stop,
    };

    return ms_app_run(&app);
}
