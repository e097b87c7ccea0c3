/* The product service: the catalog, from PostgreSQL through a Redis cache. Wiring only. */
#include <stdlib.h>

#include "ms/config.h"
#include "ms/depconfig.h"
#include "ms/log.h"
#include "ms/server.h"
#include "product.h"

#define DEFAULT_DATABASE_URL "postgresql://ms@127.0.0.1:9432/product"
#define DEFAULT_REDIS_URL "redis://127.0.0.1:9379/0"

struct settings {
    struct ms_server_config server;
    struct ms_pg_config pg;
    struct ms_redis_config redis;
    int cache_ttl_s;
};

static int load_settings(struct settings *s)
{
    if (ms_log_init_from_env("product") || ms_server_config_load(&s->server, "product", 3001) ||
        ms_pg_config_from_env(&s->pg, "product", DEFAULT_DATABASE_URL) ||
        ms_redis_config_from_env(&s->redis, "product", DEFAULT_REDIS_URL) ||
        ms_config_i("CACHE_TTL_S", 60, 0, 86400, &s->cache_ttl_s))
        return -1;
    return 0;
}

static int wire(struct ms_server *srv, struct product_svc *svc)
{
    if (ms_server_add_routes(srv, product_routes, product_routes_len) ||
        ms_server_add_check(srv, "redis", ms_redis_check, svc->redis, false))
        return -1;
    return ms_migrator_serve(&svc->migrator, srv, svc->pg, "product", ms_service_migrations,
                             ms_service_migrations_len);
}

int main(void)
{
    struct settings s;
    struct product_svc svc = {0};
    struct ms_server *srv = NULL;
    int status = EXIT_FAILURE;

    if (load_settings(&s))
        return MS_CONFIG_EXIT;
    json_object_seed(0);
    srv = ms_server_new(&s.server, &svc); /* first: it sets the signal mask threads inherit */
    svc.pg = ms_pg_pool_new(&s.pg);
    svc.redis = ms_redis_pool_new(&s.redis);
    svc.cache_ttl_s = s.cache_ttl_s;
    if (!srv || !svc.pg || !svc.redis)
        goto out;
    product_svc_init(&svc, s.server.version);
    if (wire(srv, &svc) || ms_server_start(srv))
        goto out;
    ms_server_wait_and_drain(srv);
    status = EXIT_SUCCESS;
out:
    ms_migrator_stop(&svc.migrator);
    ms_server_free(srv);
    ms_redis_pool_free(svc.redis);
    ms_pg_pool_free(svc.pg);
    return status;
}
