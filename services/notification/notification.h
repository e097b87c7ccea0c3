/* The notification service's shared state, and the verbs its routes and its consumer use. */
#ifndef NOTIFICATION_H
#define NOTIFICATION_H

#include <hiredis/hiredis.h>
#include <stdbool.h>

#include "ms/email.h"
#include "ms/json.h"
#include "ms/metrics.h"
#include "ms/migrator.h"
#include "ms/pg.h"
#include "ms/redis.h"
#include "ms/router.h"
#include "ms/task.h"

enum {
    NOTIFY_ORDER_ID_MAX = 64,
    NOTIFY_EMAIL_MAX = MS_EMAIL_MAX, /* valid emails: ms/email.h, the user service's rule */
    NOTIFY_USER_ID_MAX = 2147483647, /* the order service's bound */
    NOTIFY_BLOCK_MS = 1000,          /* XREADGROUP BLOCK: also how often the stop flag is seen */
    NOTIFY_BATCH = 50,               /* entries per read */
    NOTIFY_STREAM_ID_MAX = 48,       /* "<ms>-<seq>", two 64-bit numbers, with room to spare */
};

/* What became of one order.confirmed entry: the result label of notifications_total. */
enum notify_result {
    NOTIFY_SENT,      /* a new notification was stored */
    NOTIFY_DUPLICATE, /* the order already had one: a redelivery or a republished event */
    NOTIFY_INVALID,   /* not a valid order.confirmed event: acknowledged and dropped */
    NOTIFY_ERROR,     /* PostgreSQL failed: left pending, retried */
    NOTIFY_RESULT_COUNT,
};

/* Where the consumer reads. The strings come from the environment or main and outlive it. */
struct notify_stream {
    const char *key;      /* ORDER_EVENTS_STREAM */
    const char *group;    /* NOTIFICATION_GROUP */
    const char *consumer; /* NOTIFICATION_CONSUMER, default hostname-pid */
    int claim_idle_ms;    /* NOTIFICATION_CLAIM_IDLE_MS */
};

struct notification_svc {
    struct ms_pg_pool *pg;              /* the notifications: the source of truth */
    struct ms_redis_pool *redis;        /* readiness pings only */
    struct ms_redis_pool *stream_redis; /* size 1, the consumer thread's alone: it blocks */
    struct ms_migrator migrator;
    struct notify_stream stream;
    struct ms_series *results[NOTIFY_RESULT_COUNT];
    struct ms_series *pending; /* gauge: delivered to the group, not yet acknowledged */
    struct ms_task consumer;   /* reads the stream until the service stops */
};

/* A validated order.confirmed event. The strings borrow from the stream reply. */
/* What an event tells the customer. */
enum notify_kind {
    NOTIFY_CONFIRMED,   /* order.confirmed, or order.filled for a backorder: the confirmation */
    NOTIFY_BACKORDERED, /* order.backordered: the order waits for stock */
};

struct order_event {
    enum notify_kind kind;
    const char *order_id;
    long long user_id;
    const char *email;
};

/* A validated GET /notifications query: exactly one of the two filters. */
struct notify_query {
    const char *order_id; /* NULL when filtering by user; borrowed from the request */
    long long user_id;    /* 0 when filtering by order */
};

/* The route table (routes.c). */
extern const struct ms_route notification_routes[];
extern const size_t notification_routes_len;

/* ---- store.c: PostgreSQL ---- */

/* Keeps the stream settings and creates the metric series (all results at 0). */
void notification_svc_init(struct notification_svc *svc, const struct notify_stream *stream);

/* Stores the notification for ev unless its order already has one; *inserted says which.
 * 0; MS_EUNAVAIL / MS_ETIMEDOUT when PostgreSQL cannot answer (or the schema is not in yet);
 * MS_EINVAL when PostgreSQL refuses the data; another ms_err for anything unexpected. */
int notification_store_record(struct notification_svc *svc, const struct order_event *ev,
                              bool *inserted);

/* The newest (at most 100) notifications matching q as {"items":[...]}: a new reference in
 * *out. 0, MS_ENOMEM, or MS_EUNAVAIL / MS_ETIMEDOUT when PostgreSQL cannot answer. */
int notification_store_list(struct notification_svc *svc, const struct notify_query *q,
                            json_t **out);

/* ---- stream.c: the Redis stream verbs, on the consumer's one connection ---- */

/* XGROUP CREATE <key> <group> 0 MKSTREAM; an existing group (BUSYGROUP) is success. */
int stream_group_create(struct ms_redis_conn *conn, const struct notify_stream *s,
                        struct ms_verr *why);

/* XREADGROUP of up to NOTIFY_BATCH entries after start: "0" re-reads this consumer's own
 * pending entries, ">" waits up to block_ms (0: not at all) for new ones. *reply is the reply
 * to free; *entries borrows from it: an array of [id, fields-or-nil], or NULL when none came.
 * Every reply shape is checked here, so callers may index entries without looking. */
int stream_read(struct ms_redis_conn *conn, const struct notify_stream *s, const char *start,
                int block_ms, redisReply **reply, const redisReply **entries, struct ms_verr *why);

/* XAUTOCLAIM of up to NOTIFY_BATCH entries idle longer than claim_idle_ms, scanning from
 * *cursor, which is advanced ("0-0" once the scan is complete). *reply and *entries as for
 * stream_read. */
int stream_claim(struct ms_redis_conn *conn, const struct notify_stream *s,
                 char cursor[NOTIFY_STREAM_ID_MAX], redisReply **reply, const redisReply **entries,
                 struct ms_verr *why);

/* XACK of one entry. */
int stream_ack(struct ms_redis_conn *conn, const struct notify_stream *s, const char *id,
               struct ms_verr *why);

/* How many entries the group has delivered and not yet acknowledged (XPENDING summary). */
int stream_pending(struct ms_redis_conn *conn, const struct notify_stream *s, long long *count,
                   struct ms_verr *why);

/* ---- consumer.c: the thread ---- */

/* Starts the consumer thread. Call after ms_server_new (signal mask). 0 or MS_ENOMEM. */
int notification_consumer_start(struct notification_svc *svc);

/* Asks the thread to stop and joins it: within about one block period. Safe if never started. */
void notification_consumer_stop(struct notification_svc *svc);

#endif
