/* The notification service: one notification per confirmed order, from the order events stream
 * into PostgreSQL, and the API that reads them back. Wiring only. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ms/config.h"
#include "ms/depconfig.h"
#include "ms/log.h"
#include "ms/server.h"
#include "notification.h"

#define DEFAULT_DATABASE_URL "postgresql://ms@127.0.0.1:9432/notification"
#define DEFAULT_REDIS_URL "redis://127.0.0.1:9379/0"

enum { NAME_MAX_LEN = 200 };

struct settings {
    struct ms_server_config server;
    struct ms_pg_config pg;
    struct ms_redis_config redis;
    struct ms_redis_config stream_redis;
    struct notify_stream stream;
    char default_consumer[NAME_MAX_LEN + 1]; /* hostname-pid */
};

/* The consumer's connection: its own, since XREADGROUP holds it for a whole block, with a
 * command timeout that outlasts the block. */
static void stream_redis_config(struct settings *s)
{
    s->stream_redis = s->redis;
    s->stream_redis.name = "notification_stream";
    s->stream_redis.size = 1;
    s->stream_redis.command_timeout_ms = NOTIFY_BLOCK_MS + 1000;
}

static int load_stream_settings(struct settings *s)
{
    char host[NAME_MAX_LEN - 16] = "localhost";

    gethostname(host, sizeof(host) - 1);
    snprintf(s->default_consumer, sizeof(s->default_consumer), "%s-%d", host, (int)getpid());
    if (ms_config_str("ORDER_EVENTS_STREAM", "orders.events", NAME_MAX_LEN, &s->stream.key) ||
        ms_config_str("NOTIFICATION_GROUP", "notification", NAME_MAX_LEN, &s->stream.group) ||
        ms_config_str("NOTIFICATION_CONSUMER", s->default_consumer, NAME_MAX_LEN,
                      &s->stream.consumer) ||
        ms_config_i("NOTIFICATION_CLAIM_IDLE_MS", 30000, 100, 86400000, &s->stream.claim_idle_ms))
        return -1;
    return 0;
}

static int load_settings(struct settings *s)
{
    if (ms_log_init_from_env("notification") ||
        ms_server_config_load(&s->server, "notification", 3006) ||
        ms_pg_config_from_env(&s->pg, "notification", DEFAULT_DATABASE_URL) ||
        ms_redis_config_from_env(&s->redis, "notification", DEFAULT_REDIS_URL) ||
        load_stream_settings(s))
        return -1;
    stream_redis_config(s);
    return 0;
}

static int wire(struct ms_server *srv, struct notification_svc *svc)
{
    /* Redis is reported, not critical: the API serves from PostgreSQL while the consumer waits */
    if (ms_server_add_routes(srv, notification_routes, notification_routes_len) ||
        ms_server_add_check(srv, "redis", ms_redis_check, svc->redis, false))
        return -1;
    return ms_migrator_serve(&svc->migrator, srv, svc->pg, "notification", ms_service_migrations,
                             ms_service_migrations_len);
}

int main(void)
{
    struct settings s = {0};
    struct notification_svc svc = {0};
    struct ms_server *srv = NULL;
    int status = EXIT_FAILURE;

    if (load_settings(&s))
        return MS_CONFIG_EXIT;
    json_object_seed(0);
    srv = ms_server_new(&s.server, &svc); /* first: it sets the signal mask threads inherit */
    svc.pg = ms_pg_pool_new(&s.pg);
    svc.redis = ms_redis_pool_new(&s.redis);
    svc.stream_redis = ms_redis_pool_new(&s.stream_redis);
    if (!srv || !svc.pg || !svc.redis || !svc.stream_redis)
        goto out;
    notification_svc_init(&svc, &s.stream);
    if (wire(srv, &svc) || ms_server_start(srv) || notification_consumer_start(&svc))
        goto out;
    ms_server_wait_and_drain(srv);
    status = EXIT_SUCCESS;
out:
    notification_consumer_stop(&svc); /* before the pools it uses are freed */
    ms_migrator_stop(&svc.migrator);
    ms_server_free(srv);
    ms_redis_pool_free(svc.stream_redis);
    ms_redis_pool_free(svc.redis);
    ms_pg_pool_free(svc.pg);
    return status;
}
