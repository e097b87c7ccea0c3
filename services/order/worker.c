/* The order service's background worker: publishes outbox events to the Redis stream
 * (outbox.c), finishes reservation commits, releases and cart clears that failed while an order
 * was placed, and prunes old rows. Woken by new orders, else every tick. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms/clock.h"
#include "ms/err.h"
#include "ms/log.h"
#include "order.h"

/* ROUND_GAP_MS: the least time between the starts of two rounds. Every purchase wakes the
 * worker, and a round of one event costs as many round trips to PostgreSQL and Redis as a round
 * of a hundred: under load the events of a few purchases go out together, at most this much
 * later, with a few times fewer answers that can be lost. */
enum { TICK_MS = 250, RECONCILE_EVERY_MS = 2000, ROUND_GAP_MS = 20 };

static void outbox_gauge(struct order_svc *svc)
{
    PGresult *res = NULL;

    if (ms_pg_pool_query(svc->pg, "SELECT count(*) FROM outbox WHERE published_at IS NULL", 0, NULL,
                         &res) == 0)
        ms_gauge_set(svc->outbox_pending, atof(PQgetvalue(res, 0, 0)));
    PQclear(res);
}

void order_stock_commit(struct order_svc *svc, const char *id, bool backordered)
{
    int rc = stock_commit(svc, id);

    if (rc == 0) {
        order_mark_reservation(svc, id, true);
        if (backordered)
            ms_log_json_new(MS_LOG_INFO,
                            json_pack("{s:s,s:s}", "event", "backorder_filled", "order_id", id));
    } else if (rc == MS_ECONFLICT && !backordered) {
        /* inventory's reaper gave the stock back and it has been sold since: wait for more */
        ms_counter_inc(svc->reservations_lost);
        ms_log_json_new(MS_LOG_ERROR,
                        json_pack("{s:s,s:s}", "event", "reservation_lost", "order_id", id));
        order_mark_reservation(svc, id, false);
    }
}

/* Orders whose reservation commit has not gone through: those that failed when they were
 * placed, or (backorders) those whose stock was gone, in case it has been restocked. Each
 * kind has its own query, so backorders can never hold up the others; within a kind, the
 * orders tried longest ago come first and are stamped as tried, so a batch of orders that keep
 * failing cannot starve the ones behind them. */
#define SQL_TAKE_BATCH(where)                                                                      \
    "UPDATE orders SET commit_tried_at = now() WHERE id IN (SELECT id FROM orders WHERE " where    \
    " ORDER BY commit_tried_at NULLS FIRST, created_at LIMIT 20 FOR UPDATE SKIP LOCKED) "          \
    "RETURNING id::text"

static void reservations_finish(struct order_svc *svc, bool backorders)
{
    PGresult *res = NULL;
    const char *sql = backorders
                          ? SQL_TAKE_BATCH("status = 'backordered'")
                          : SQL_TAKE_BATCH("NOT reservation_committed AND status = 'confirmed'");

    if (ms_migrator_query(&svc->migrator, sql, 0, NULL, &res) != 0) {
        PQclear(res);
        return;
    }
    for (int i = 0; i < PQntuples(res) && !ms_task_stopping(&svc->worker); i++)
        order_stock_commit(svc, PQgetvalue(res, i, 0), backorders);
    PQclear(res);
}

/* Deletes, a batch at a time, what is older than retention_s seconds. */
static void prune(struct order_svc *svc, const char *sql, int retention_s)
{
    char secs[16];
    const char *params[] = {secs};
    PGresult *res = NULL;

    snprintf(secs, sizeof(secs), "%d", retention_s);
    ms_migrator_query(&svc->migrator, sql, 1, params, &res);
    PQclear(res);
}

/* Answered keys (a claim this old is long dead too) and published events past their retention:
 * nothing else ever deletes them. */
static void prune_old_rows(struct order_svc *svc)
{
    prune(svc,
          "DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys WHERE "
          "created_at < now() - make_interval(secs => $1::int) LIMIT 1000)",
          svc->key_retention_s);
    prune(svc,
          "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at < now() - "
          "make_interval(secs => $1::int) LIMIT 1000)",
          svc->outbox_retention_s);
    /* a fate matters for seconds, while its insert may still be in flight */
    prune(svc,
          "DELETE FROM order_fates WHERE id IN (SELECT id FROM order_fates WHERE created_at < "
          "now() - make_interval(secs => $1::int) LIMIT 1000)",
          svc->outbox_retention_s);
}

/* Naps until ROUND_GAP_MS after the round that began at started_ms; wakes meanwhile are taken
 * up by the round that follows. False once the task is stopping. */
static bool keep_gap(struct ms_task *task, int64_t started_ms)
{
    int64_t left;

    while ((left = started_ms + ROUND_GAP_MS - ms_now_ms()) > 0)
        if (!ms_task_nap(task, left))
            return false;
    return true;
}

static void run(struct ms_task *task, void *arg)
{
    struct order_svc *svc = arg;
    int64_t next_reconcile = 0, next_backorders = 0, started = 0;
    int published;

    do {
        if (!keep_gap(task, started))
            break;
        started = ms_now_ms();
        published = outbox_publish(svc);
        idem_orphans_delete(svc);
        if (ms_now_ms() >= next_backorders) {
            reservations_finish(svc, true);
            next_backorders = ms_now_ms() + (int64_t)svc->backorder_retry_s * 1000;
        }
        if (ms_now_ms() >= next_reconcile) {
            reservations_finish(svc, false);
            order_releases_send(svc);
            order_carts_clear(svc);
            outbox_gauge(svc);
            prune_old_rows(svc);
            next_reconcile = ms_now_ms() + RECONCILE_EVERY_MS;
        }
        /* a full batch means more are waiting: no nap */
    } while (published == OUTBOX_BATCH ? !ms_task_stopping(task) : ms_task_nap(task, TICK_MS));
}

int worker_start(struct order_svc *svc)
{
    return ms_task_start(&svc->worker, run, svc);
}

void worker_wake(struct order_svc *svc)
{
    ms_task_wake(&svc->worker);
}

void worker_stop(struct order_svc *svc)
{
    ms_task_stop(&svc->worker);
}
