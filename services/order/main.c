/* The order service: orchestrates a purchase across user, cart, product and inventory, and
 * publishes order.confirmed events for notification. Wiring only. */
#include "ms/app.h"
#include "ms/config.h"
#include "order.h"
#include "service.gen.h"

static int configure(void *state)
{
    struct order_svc *svc = state;

    return ms_config_str("ORDER_EVENTS_STREAM", "orders.events", 128, &svc->stream) ||
           ms_config_i("IDEMPOTENCY_CLAIM_TTL_S", 30, 1, 86400, &svc->idem_claim_ttl_s) ||
           ms_config_i("BACKORDER_RETRY_S", 30, 1, 86400, &svc->backorder_retry_s) ||
           ms_config_i("IDEMPOTENCY_KEY_RETENTION_S", 86400, 3600, 31 * 86400,
                       &svc->key_retention_s) ||
           ms_config_i("OUTBOX_RETENTION_S", 3600, 60, 31 * 86400, &svc->outbox_retention_s) ||
           ms_config_i("ORDER_STREAM_MAXLEN", 100000, 100, 100000000, &svc->stream_maxlen);
}

static void ambiguous_init(struct order_svc *svc)
{
    static const char *const fates[] = {"placed", "abandoned", "unknown"};
    struct ms_family *f = ms_counter_family(
        "order_ambiguous_inserts_total",
        "Order inserts whose answer was lost, by what their fate turned out to be.", "fate");

    for (int i = 0; i < 3; i++)
        svc->ambiguous[i] = ms_series_get(f, &fates[i]);
}

static void orphans_metrics_init(struct order_svc *svc)
{
    static const char *const events[] = {"left", "deleted"};
    struct ms_family *f = ms_counter_family(
        "order_idempotency_orphans_total",
        "Idempotency-Key claims whose request gave up unsure whether PostgreSQL had them, and "
        "those of them the worker found and deleted (their key free again for a retry).",
        "event");

    svc->orphans_left = ms_series_get(f, &events[0]);
    svc->orphans_deleted = ms_series_get(f, &events[1]);
}

/* The service's metrics, all exported from the start. */
static int init(void *state, const struct ms_app_config *cfg)
{
    struct order_svc *svc = state;

    (void)cfg;
    if (idem_orphans_init(&svc->orphans) != 0)
        return -1;
    order_results_init(svc);
    ambiguous_init(svc);
    orphans_metrics_init(svc);
    svc->cart_clear_failures = ms_series_only(ms_counter_family(
        "order_cart_clear_failures_total", "Carts left full after an order (harmless).", NULL));
    svc->reservations_lost = ms_series_only(ms_counter_family(
        "order_reservations_lost_total",
        "Orders whose reservation expired and whose stock was sold before they could commit it.",
        NULL));
    svc->outbox_pending = ms_series_only(
        ms_gauge_family("order_outbox_pending", "Order events not yet on the stream.", NULL));
    svc->events_published = ms_series_only(ms_counter_family(
        "order_events_published_total", "Order events published to the stream.", NULL));
    svc->republished = ms_series_only(ms_counter_family(
        "order_events_republished_total",
        "Order events published again because Redis lost its data (FLUSHALL, a restart without "
        "persistence).",
        NULL));
    return 0;
}

static int start(void *svc)
{
    return worker_start(svc);
}

static void stop(void *svc)
{
    worker_stop(svc);
}

int main(void)
{
    static struct order_svc svc;
    const struct ms_app_upstream upstreams[] = {
        {.name = "user", .default_url = USER_DEFAULT_URL, .timeout_ms = 500, .client = &svc.user},
        {.name = "cart", .default_url = CART_DEFAULT_URL, .timeout_ms = 500, .client = &svc.cart},
        {.name = "product",
         .default_url = PRODUCT_DEFAULT_URL,
         .timeout_ms = 500,
         .client = &svc.product},
        {.name = "inventory",
         .default_url = INVENTORY_DEFAULT_URL,
         .timeout_ms = 1000,
         .client = &svc.inventory},
    };
    const struct ms_app app = {
        .name = SERVICE_NAME,
        .default_port = SERVICE_PORT,
        .svc = &svc,
        .routes = order_routes,
        .nroutes = order_routes_len,
        .database = MS_APP_DATABASE(DEFAULT_DATABASE_URL, svc),
        /* Redis only carries events, which wait in the outbox meanwhile: not a readiness need */
        .redis = {.default_url = DEFAULT_REDIS_URL, .pool = &svc.redis, .critical = false},
        .upstreams = upstreams,
        .nupstreams = sizeof(upstreams) / sizeof(upstreams[0]),
        .configure = configure,
        .init = init,
        .start = start,
        .stop = stop,
    };

    return ms_app_run(&app);
}
