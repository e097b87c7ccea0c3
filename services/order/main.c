/* The order service: orchestrates a purchase across user, cart, product and inventory, and
 * publishes order.confirmed events for notification. Wiring only. */
#include <curl/curl.h>
#include <stdlib.h>

#include "ms/config.h"
#include "ms/depconfig.h"
#include "ms/log.h"
#include "ms/server.h"
#include "order.h"

#define DEFAULT_DATABASE_URL "postgresql://ms@127.0.0.1:9432/order"
#define DEFAULT_REDIS_URL "redis://127.0.0.1:9379/0"

struct settings {
    struct ms_server_config server;
    struct ms_pg_config pg;
    struct ms_redis_config redis;
    struct ms_upstream_config user, cart, product, inventory;
    const char *stream;
    int idem_claim_ttl_s;
    int backorder_retry_s;
    int key_retention_s;
    int outbox_retention_s;
    int stream_maxlen;
};

static int load_settings(struct settings *s)
{
    if (ms_log_init_from_env("order") || ms_server_config_load(&s->server, "order", 3003) ||
        ms_pg_config_from_env(&s->pg, "order", DEFAULT_DATABASE_URL) ||
        ms_redis_config_from_env(&s->redis, "order", DEFAULT_REDIS_URL) ||
        ms_upstream_config_from_env(&s->user, "user", "http://127.0.0.1:3004", 500) ||
        ms_upstream_config_from_env(&s->cart, "cart", "http://127.0.0.1:3002", 500) ||
        ms_upstream_config_from_env(&s->product, "product", "http://127.0.0.1:3001", 500) ||
        ms_upstream_config_from_env(&s->inventory, "inventory", "http://127.0.0.1:3005", 1000) ||
        ms_config_str("ORDER_EVENTS_STREAM", "orders.events", 128, &s->stream) ||
        ms_config_i("IDEMPOTENCY_CLAIM_TTL_S", 30, 1, 86400, &s->idem_claim_ttl_s) ||
        ms_config_i("BACKORDER_RETRY_S", 30, 1, 86400, &s->backorder_retry_s) ||
        ms_config_i("IDEMPOTENCY_KEY_RETENTION_S", 86400, 3600, 31 * 86400, &s->key_retention_s) ||
        ms_config_i("OUTBOX_RETENTION_S", 3600, 60, 31 * 86400, &s->outbox_retention_s) ||
        ms_config_i("ORDER_STREAM_MAXLEN", 100000, 100, 100000000, &s->stream_maxlen))
        return -1;
    return 0;
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

static int connect_deps(struct order_svc *svc, const struct settings *s)
{
    svc->stream = s->stream;
    svc->idem_claim_ttl_s = s->idem_claim_ttl_s;
    svc->backorder_retry_s = s->backorder_retry_s;
    svc->key_retention_s = s->key_retention_s;
    svc->outbox_retention_s = s->outbox_retention_s;
    svc->stream_maxlen = s->stream_maxlen;
    svc->pg = ms_pg_pool_new(&s->pg);
    svc->redis = ms_redis_pool_new(&s->redis);
    svc->user = ms_upstream_new(&s->user);
    svc->cart = ms_upstream_new(&s->cart);
    svc->product = ms_upstream_new(&s->product);
    svc->inventory = ms_upstream_new(&s->inventory);
    if (!svc->pg || !svc->redis || !svc->user || !svc->cart || !svc->product || !svc->inventory)
        return -1;
    order_results_init(svc);
    ambiguous_init(svc);
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

static int wire(struct ms_server *srv, struct order_svc *svc)
{
    /* Redis only carries events, which wait in the outbox meanwhile: not a readiness need */
    if (ms_server_add_routes(srv, order_routes, order_routes_len) ||
        ms_server_add_check(srv, "redis", ms_redis_check, svc->redis, false) ||
        ms_migrator_serve(&svc->migrator, srv, svc->pg, "order", ms_service_migrations,
                          ms_service_migrations_len))
        return -1;
    return worker_start(svc);
}

static void disconnect(struct order_svc *svc)
{
    ms_upstream_free(svc->user);
    ms_upstream_free(svc->cart);
    ms_upstream_free(svc->product);
    ms_upstream_free(svc->inventory);
    ms_redis_pool_free(svc->redis);
    ms_pg_pool_free(svc->pg);
}

int main(void)
{
    struct settings s;
    struct order_svc svc = {0};
    struct ms_server *srv = NULL;
    int status = EXIT_FAILURE;

    if (load_settings(&s))
        return MS_CONFIG_EXIT;
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread exists */
    json_object_seed(0);
    srv = ms_server_new(&s.server, &svc); /* sets the signal mask threads inherit */
    if (!srv || connect_deps(&svc, &s) || wire(srv, &svc) || ms_server_start(srv))
        goto out;
    ms_server_wait_and_drain(srv);
    status = EXIT_SUCCESS;
out:
    worker_stop(&svc);
    ms_migrator_stop(&svc.migrator);
    ms_server_free(srv);
    ms_http_client_thread_cleanup();
    disconnect(&svc);
    curl_global_cleanup();
    return status;
}
