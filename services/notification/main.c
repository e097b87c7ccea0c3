/* The notification service: one notification per confirmed order, from the order events stream
 * into PostgreSQL, and the API that reads them back. Wiring only. */
#include <stdio.h>
#include <unistd.h>

#include "ms/app.h"
#include "ms/config.h"
#include "ms/err.h"
#include "notification.h"
#include "service.gen.h"

enum { NAME_MAX_LEN = 200 };

static struct notify_stream stream;
static char default_consumer[NAME_MAX_LEN + 1]; /* hostname-pid */

static int configure(void *svc)
{
    char host[NAME_MAX_LEN - 16] = "localhost";

    (void)svc;
    gethostname(host, sizeof(host) - 1);
    snprintf(default_consumer, sizeof(default_consumer), "%s-%d", host, (int)getpid());
    return ms_config_str("ORDER_EVENTS_STREAM", "orders.events", NAME_MAX_LEN, &stream.key) ||
           ms_config_str("NOTIFICATION_GROUP", "notification", NAME_MAX_LEN, &stream.group) ||
           ms_config_str("NOTIFICATION_CONSUMER", default_consumer, NAME_MAX_LEN,
                         &stream.consumer) ||
           ms_config_i("NOTIFICATION_CLAIM_IDLE_MS", 30000, 100, 86400000, &stream.claim_idle_ms);
}

/* The consumer's connection: its own, since XREADGROUP holds it for a whole block, with a
 * command timeout that outlasts the block. */
static int init(void *state, const struct ms_app_config *cfg)
{
    struct notification_svc *svc = state;
    struct ms_redis_config stream_redis = cfg->redis;

    stream_redis.name = "notification_stream";
    stream_redis.size = 1;
    stream_redis.command_timeout_ms = NOTIFY_BLOCK_MS + 1000;
    svc->stream_redis = ms_redis_pool_new(&stream_redis);
    if (!svc->stream_redis)
        return MS_ENOMEM;
    notification_svc_init(svc, &stream);
    return 0;
}

static int start(void *svc)
{
    return notification_consumer_start(svc);
}

static void stop(void *svc)
{
    notification_consumer_stop(svc); /* before the pools it uses are freed */
}

static void close_stream(void *state)
{
    struct notification_svc *svc = state;

    ms_redis_pool_free(svc->stream_redis);
}

int main(void)
{
    static struct notification_svc svc;
    const struct ms_app app = {
        .name = SERVICE_NAME,
        .default_port = SERVICE_PORT,
        .svc = &svc,
        .routes = notification_routes,
        .nroutes = notification_routes_len,
        .database = MS_APP_DATABASE(DEFAULT_DATABASE_URL, svc),
        /* reported, not critical: the API serves from PostgreSQL while the consumer waits */
        .redis = {.default_url = DEFAULT_REDIS_URL, .pool = &svc.redis, .critical = false},
        .configure = configure,
        .init = init,
        .start = start,
        .stop = stop,
        .close = close_stream,
    };

    return ms_app_run(&app);
}
