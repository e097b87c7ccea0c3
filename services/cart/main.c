/* The cart service: carts in Redis, names and prices from the product service. Wiring only. */
#include <curl/curl.h>
#include <stdlib.h>

#include "cart.h"
#include "ms/config.h"
#include "ms/depconfig.h"
#include "ms/log.h"
#include "ms/server.h"
#include "service.gen.h"

struct settings {
    struct ms_server_config server;
    struct ms_redis_config redis;
    struct ms_upstream_config product;
    int ttl_s;
};

static int load_settings(struct settings *s)
{
    if (ms_log_init_from_env(SERVICE_NAME) ||
        ms_server_config_load(&s->server, SERVICE_NAME, SERVICE_PORT) ||
        ms_redis_config_from_env(&s->redis, "cart", DEFAULT_REDIS_URL) ||
        ms_upstream_config_from_env(&s->product, "product", PRODUCT_DEFAULT_URL, 300) ||
        ms_config_i("CART_TTL_S", 604800, 1, 31536000, &s->ttl_s))
        return -1;
    return 0;
}

/* Routes and readiness: Redis only, since without the product service the cart degrades. */
static int wire(struct ms_server *srv, struct cart_svc *svc)
{
    if (ms_server_add_routes(srv, cart_routes, cart_routes_len) ||
        ms_server_add_check(srv, "redis", ms_redis_check, svc->redis, true))
        return -1;
    return 0;
}

int main(void)
{
    struct settings s;
    struct cart_svc svc = {0};
    struct ms_server *srv = NULL;
    int status = EXIT_FAILURE;

    if (load_settings(&s))
        return MS_CONFIG_EXIT;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) /* before any thread */
        return EXIT_FAILURE;
    json_object_seed(0);
    srv = ms_server_new(&s.server, &svc); /* first: it sets the signal mask threads inherit */
    svc.redis = ms_redis_pool_new(&s.redis);
    svc.product = ms_upstream_new(&s.product);
    if (!srv || !svc.redis || !svc.product)
        goto out;
    cart_svc_init(&svc, s.ttl_s);
    if (wire(srv, &svc) || ms_server_start(srv))
        goto out;
    ms_server_wait_and_drain(srv);
    status = EXIT_SUCCESS;
out:
    ms_server_free(srv); /* stops the workers, whose curl handles go with them */
    ms_upstream_free(svc.product);
    ms_redis_pool_free(svc.redis);
    curl_global_cleanup();
    return status;
}
