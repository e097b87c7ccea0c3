/* The product service: the catalog, from PostgreSQL through a Redis cache. Wiring only. */
#include "ms/app.h"
#include "ms/config.h"
#include "product.h"
#include "service.gen.h"

static int configure(void *svc)
{
    struct product_svc *p = svc;

    return ms_config_i("CACHE_TTL_S", 60, 0, 86400, &p->cache_ttl_s);
}

static int init(void *svc, const struct ms_app_config *cfg)
{
    product_svc_init(svc, cfg->server.version);
    return 0;
}

int main(void)
{
    static struct product_svc svc;
    const struct ms_app app = {
        .name = SERVICE_NAME,
        .default_port = SERVICE_PORT,
        .svc = &svc,
        .routes = product_routes,
        .nroutes = product_routes_len,
        .database = MS_APP_DATABASE(DEFAULT_DATABASE_URL, svc),
        /* reported, not critical: without the cache the catalog is served from PostgreSQL */
        .redis = {.default_url = DEFAULT_REDIS_URL, .pool = &svc.redis, .critical = false},
        .configure = configure,
        .init = init,
    };

    return ms_app_run(&app);
}
