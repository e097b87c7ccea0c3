/* The cart service: carts in Redis, names and prices from the product service. Wiring only. */
#include "cart.h"
#include "ms/app.h"
#include "ms/config.h"
#include "service.gen.h"

static int ttl_s; /* CART_TTL_S */

static int configure(void *svc)
{
    (void)svc;
    return ms_config_i("CART_TTL_S", 604800, 1, 31536000, &ttl_s);
}

static int init(void *svc, const struct ms_app_config *cfg)
{
    (void)cfg;
    cart_svc_init(svc, ttl_s);
    return 0;
}

int main(void)
{
    static struct cart_svc svc;
    const struct ms_app_upstream upstreams[] = {
        {.name = "product",
         .default_url = PRODUCT_DEFAULT_URL,
         .timeout_ms = 300,
         .client = &svc.product},
    };
    const struct ms_app app = {
        .name = SERVICE_NAME,
        .default_port = SERVICE_PORT,
        .svc = &svc,
        .routes = cart_routes,
        .nroutes = cart_routes_len,
        /* critical: the carts live there; without the product service the cart degrades */
        .redis = {.default_url = DEFAULT_REDIS_URL, .pool = &svc.redis, .critical = true},
        .upstreams = upstreams,
        .nupstreams = sizeof(upstreams) / sizeof(upstreams[0]),
        .configure = configure,
        .init = init,
    };

    return ms_app_run(&app);
}
