/* The consumer thread: order.confirmed entries from the stream, through the consumer group,
 * into notifications. Delivery is at least once: an entry is acknowledged only after its row
 * is stored (or it was found invalid), so a crash or an outage leaves it pending, to be read
 * again by this consumer when it reconnects, or claimed by another once it has been idle long
 * enough; the unique order_id turns the second delivery into a no-op. */
#include <string.h>

#include "model.h"
#include "ms/breaker.h"
#include "ms/clock.h"
#include "ms/err.h"
#include "ms/log.h"
#include "notification.h"

enum {
    BACKOFF_FLOOR_MS = 50, /* full jitter may draw 0: never spin */
    BACKOFF_BASE_MS = 100,
    BACKOFF_CAP_MS = 1000, /* a dependency that is back is noticed within about a second */
    BACKOFF_STEPS = 4,
    GAUGE_EVERY_MS = 1000,
    CLAIM_PERIOD_MIN_MS = 100,
};

/* What one step of the loop ran into. */
enum step {
    STEP_OK,
    STEP_NO_SCHEMA,    /* the migrator is still at work (and logs why): wait */
    STEP_DB_FAILED,    /* entries stay pending: back off, then re-read our own pending list */
    STEP_REDIS_FAILED, /* back off, reconnect (which creates the group again if it is gone) */
};

/* The thread's own state: nothing else touches it. */
struct consumer {
    struct notification_svc *svc;
    struct ms_redis_conn *conn; /* from svc->stream_redis; NULL until (re)connected */
    bool recovering;            /* own pending entries to re-read before any new one */
    char claim_cursor[NOTIFY_STREAM_ID_MAX];
    int64_t claim_at_ms; /* the next sweep for entries left by dead consumers */
    int64_t gauge_at_ms;
    struct ms_verr why; /* the last failure, for the retry log line */
};

static enum step connect_stream(struct consumer *c)
{
    int rc = ms_redis_acquire(c->svc->stream_redis, &c->conn);

    if (rc) {
        ms_verr_set(&c->why, rc, "connecting to Redis: %s", ms_strerror(rc));
        return STEP_REDIS_FAILED;
    }
    if (stream_group_create(c->conn, &c->svc->stream, &c->why))
        return STEP_REDIS_FAILED;
    /* entries delivered to this consumer name before a crash or restart come first */
    c->recovering = true;
    return STEP_OK;
}

static void disconnect(struct consumer *c)
{
    ms_redis_release(c->svc->stream_redis, c->conn); /* a broken context is closed there */
    c->conn = NULL;
}

static void log_entry(enum ms_log_level level, const char *event, const char *id,
                      const struct order_event *ev, const char *error)
{
    json_t *line = json_pack("{s:s,s:s}", "event", event, "entry", id);

    if (line && ev) {
        json_object_set_new(line, "order_id", json_string(ev->order_id));
        json_object_set_new(line, "user_id", json_integer(ev->user_id));
    }
    if (line && error)
        json_object_set_new(line, "error", json_string(error));
    ms_log_json_new(level, line);
}

/* Validates and stores one entry's event. NOTIFY_ERROR means it must stay pending. */
static enum notify_result record(struct consumer *c, const char *id, const redisReply *fields)
{
    struct order_event ev;
    struct ms_verr e;
    bool inserted = false;
    int rc;

    if (order_event_parse(fields, &ev, &e) == 0) {
        rc = notification_store_record(c->svc, &ev, &inserted);
        if (rc == 0) {
            log_entry(MS_LOG_INFO, inserted ? "notification_sent" : "notification_duplicate", id,
                      &ev, NULL);
            return inserted ? NOTIFY_SENT : NOTIFY_DUPLICATE;
        }
        if (rc != MS_EINVAL) {
            ms_verr_set(&c->why, rc, "storing entry %s: %s", id, ms_strerror(rc));
            return NOTIFY_ERROR;
        }
        /* retrying a row PostgreSQL refuses would block the stream for good */
        ms_verr_set(&e, rc, "PostgreSQL refused the row");
    }
    log_entry(MS_LOG_WARN, "invalid_event", id, NULL, e.msg);
    return NOTIFY_INVALID;
}

/* Records one entry, then acknowledges it: only once it is stored, or known to be invalid (a
 * poison message must not block the stream). */
static enum step handle_entry(struct consumer *c, const redisReply *entry)
{
    const char *id = entry->element[0]->str;
    enum notify_result result = record(c, id, entry->element[1]);

    ms_counter_inc(c->svc->results[result]);
    if (result == NOTIFY_ERROR)
        return STEP_DB_FAILED; /* not acknowledged: read again once PostgreSQL answers */
    return stream_ack(c->conn, &c->svc->stream, id, &c->why) ? STEP_REDIS_FAILED : STEP_OK;
}

/* The whole batch, in order, even when asked to stop: it takes milliseconds, and what it left
 * pending would wait for a restart under the same name or a claim. */
static enum step handle_entries(struct consumer *c, const redisReply *entries)
{
    enum step s = STEP_OK;

    for (size_t i = 0; s == STEP_OK && entries && i < entries->elements; i++)
        s = handle_entry(c, entries->element[i]);
    return s;
}

/* One batch: while recovering, this consumer's own pending entries (each one handled leaves
 * the list, so reading from "0" again gets the rest, and an empty answer ends recovery); else
 * new entries, waiting up to NOTIFY_BLOCK_MS for them. */
static enum step read_batch(struct consumer *c)
{
    redisReply *reply = NULL;
    const redisReply *entries = NULL;
    enum step s = STEP_REDIS_FAILED;

    if (stream_read(c->conn, &c->svc->stream, c->recovering ? "0" : ">",
                    c->recovering ? 0 : NOTIFY_BLOCK_MS, &reply, &entries, &c->why) == 0) {
        if (c->recovering && (!entries || entries->elements == 0))
            c->recovering = false;
        s = handle_entries(c, entries);
    }
    freeReplyObject(reply);
    return s;
}

/* Sweeps for abandoned entries run every half idle time, so none waits much over 1.5 times it. */
static int64_t claim_period_ms(const struct notify_stream *s)
{
    return s->claim_idle_ms / 2 > CLAIM_PERIOD_MIN_MS ? s->claim_idle_ms / 2 : CLAIM_PERIOD_MIN_MS;
}

/* One batch of entries that other consumers (dead ones, in practice) left pending for longer
 * than the claim idle time. A sweep goes on batch by batch until the cursor wraps to 0-0. */
static enum step claim_abandoned(struct consumer *c)
{
    const struct notify_stream *s = &c->svc->stream;
    redisReply *reply = NULL;
    const redisReply *entries = NULL;
    enum step st = STEP_REDIS_FAILED;

    if (stream_claim(c->conn, s, c->claim_cursor, &reply, &entries, &c->why) == 0)
        st = handle_entries(c, entries);
    freeReplyObject(reply);
    if (st == STEP_OK && strcmp(c->claim_cursor, "0-0") == 0)
        c->claim_at_ms = ms_now_ms() + claim_period_ms(s);
    return st;
}

static enum step refresh_gauge(struct consumer *c)
{
    long long pending;

    if (ms_now_ms() < c->gauge_at_ms)
        return STEP_OK;
    if (stream_pending(c->conn, &c->svc->stream, &pending, &c->why))
        return STEP_REDIS_FAILED;
    ms_gauge_set(c->svc->pending, (double)pending);
    c->gauge_at_ms = ms_now_ms() + GAUGE_EVERY_MS;
    return STEP_OK;
}

static enum step step(struct consumer *c)
{
    /* nothing could be stored: leave the entries in Redis until the table exists */
    if (!ms_migrator_done(&c->svc->migrator))
        return STEP_NO_SCHEMA;
    if (!c->conn && connect_stream(c) != STEP_OK)
        return STEP_REDIS_FAILED;
    if (refresh_gauge(c) != STEP_OK)
        return STEP_REDIS_FAILED;
    if (!c->recovering && ms_now_ms() >= c->claim_at_ms)
        return claim_abandoned(c);
    return read_batch(c);
}

static void run(struct ms_task *task, void *arg)
{
    struct consumer c = {.svc = arg, .claim_cursor = "0-0"};
    int failures = 0;
    bool running = true;

    ms_log_json_new(MS_LOG_INFO,
                    json_pack("{s:s,s:s,s:s,s:s}", "event", "consumer_started", "stream",
                              c.svc->stream.key, "group", c.svc->stream.group, "consumer",
                              c.svc->stream.consumer));
    while (running && !ms_task_stopping(task)) {
        enum step s = step(&c);

        if (s == STEP_OK) {
            failures = 0;
            continue;
        }
        if (s == STEP_REDIS_FAILED)
            disconnect(&c);
        c.recovering = true; /* what was delivered and not acknowledged is read again first */
        if (s != STEP_NO_SCHEMA)
            ms_log_json_new(MS_LOG_WARN,
                            json_pack("{s:s,s:s}", "event", "consumer_retry", "error", c.why.msg));
        running = ms_task_nap(task, BACKOFF_FLOOR_MS +
                                        ms_backoff_ms(failures, BACKOFF_BASE_MS, BACKOFF_CAP_MS));
        if (failures < BACKOFF_STEPS)
            failures++;
    }
    disconnect(&c);
    ms_log_json_new(MS_LOG_INFO, json_pack("{s:s}", "event", "consumer_stopped"));
}

int notification_consumer_start(struct notification_svc *svc)
{
    return ms_task_start(&svc->consumer, run, svc);
}

void notification_consumer_stop(struct notification_svc *svc)
{
    ms_task_stop(&svc->consumer);
}
