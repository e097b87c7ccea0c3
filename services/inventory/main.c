/* The inventory service: stock per product and reservations against it, in PostgreSQL, with a
 * reaper that releases abandoned reservations. Wiring only. */
#include <stdlib.h>

#include "inventory.h"
#include "ms/config.h"
#include "ms/depconfig.h"
#include "ms/log.h"
#include "ms/server.h"

#define DEFAULT_DATABASE_URL "postgresql://ms@127.0.0.1:9432/inventory"

struct settings {
    struct ms_server_config server;
    struct ms_pg_config pg;
    int ttl_s;           /* a held reservation older than this is released */
    int reap_interval_s; /* how often the reaper looks */
};

static int load_settings(struct settings *s)
{
    if (ms_log_init_from_env("inventory") || ms_server_config_load(&s->server, "inventory", 3005) ||
        ms_pg_config_from_env(&s->pg, "inventory", DEFAULT_DATABASE_URL) ||
        ms_config_i("RESERVATION_TTL_S", 900, 1, 7 * 86400, &s->ttl_s) ||
        ms_config_i("RESERVATION_REAP_INTERVAL_S", 10, 1, 3600, &s->reap_interval_s))
        return -1;
    return 0;
}

static int wire(struct ms_server *srv, struct inventory_svc *svc, const struct settings *s)
{
    if (ms_server_add_routes(srv, inventory_routes, inventory_routes_len) ||
        ms_migrator_serve(&svc->migrator, srv, svc->pg, "inventory", ms_service_migrations,
                          ms_service_migrations_len))
        return -1;
    return inventory_reaper_start(svc, s->ttl_s, s->reap_interval_s);
}

int main(void)
{
    struct settings s;
    struct inventory_svc svc = {0};
    struct ms_server *srv = NULL;
    int status = EXIT_FAILURE;

    if (load_settings(&s))
        return MS_CONFIG_EXIT;
    json_object_seed(0);
    srv = ms_server_new(&s.server, &svc); /* first: it sets the signal mask threads inherit */
    svc.pg = ms_pg_pool_new(&s.pg);
    if (!srv || !svc.pg)
        goto out;
    inventory_svc_init(&svc);
    if (wire(srv, &svc, &s) || ms_server_start(srv))
        goto out;
    ms_server_wait_and_drain(srv);
    status = EXIT_SUCCESS;
out:
    /* the background threads use the pool: stop them before it goes */
    inventory_reaper_stop(&svc);
    ms_migrator_stop(&svc.migrator);
    ms_server_free(srv);
    ms_pg_pool_free(svc.pg);
    return status;
}
