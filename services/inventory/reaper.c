/* The reaper: a background thread that releases reservations held longer than their time to
 * live, so an order orchestrator that crashed between reserving and committing never leaves
 * stock stranded. An expired reservation's stock is back on sale, but an order that was only
 * slow may still commit it: inventory_store_settle then takes the stock again if it can. */
#include "inventory.h"
#include "ms/clock.h"
#include "ms/err.h"
#include "ms/log.h"

/* Reservations listed per query; a full batch is followed at once by another. */
enum { REAP_BATCH = 100 };

/* Gives back one reservation held past its time to live, in its own transaction. True when
 * this call expired it. */
static bool expire(struct inventory_svc *svc, const char *id)
{
    struct reservation r;
    enum inventory_result done = RESULT_REPLAYED;
    int rc = inventory_store_settle(svc, id, RESERVATION_EXPIRED, &r, &done);
    bool expired = rc == 0 && done == RESULT_EXPIRED;

    if (expired) {
        inventory_count(svc, RESULT_EXPIRED);
        ms_log_json_new(MS_LOG_INFO, json_pack("{s:s,s:s,s:i,s:i}", "event", "reservation_expired",
                                               "reservation_id", id, "ttl_s", svc->reaper.ttl_s,
                                               "items", (int)r.nitems));
    } else if (rc != 0 && rc != MS_ECONFLICT) {
        /* MS_ECONFLICT: settled by its owner since it was listed, which is its owner's right */
        ms_log_json_new(MS_LOG_WARN,
                        json_pack("{s:s,s:s,s:s}", "event", "reservation_expire_failed",
                                  "reservation_id", id, "error", ms_strerror(rc)));
    }
    return expired;
}

/* One pass: releases what has expired, a batch at a time while whole batches go, then refreshes
 * the held gauge. 0 or the failing code. */
static int reap(struct inventory_svc *svc)
{
    char ids[REAP_BATCH][INVENTORY_RESERVATION_ID_MAX + 1];
    size_t n = 0, released = REAP_BATCH;
    long long held = 0;
    int rc = 0;

    /* stops after a batch not wholly released, so one that keeps failing cannot spin */
    while (rc == 0 && released == REAP_BATCH && !ms_task_stopping(&svc->reaper.task)) {
        rc = inventory_store_expired(svc, svc->reaper.ttl_s, ids, REAP_BATCH, &n);
        released = 0;
        for (size_t i = 0; rc == 0 && i < n; i++)
            released += expire(svc, ids[i]);
    }
    if (rc == 0)
        rc = inventory_store_count_held(svc, &held);
    if (rc == 0)
        ms_gauge_set(svc->held, (double)held);
    return rc;
}

static void run(struct ms_task *task, void *arg)
{
    struct inventory_svc *svc = arg;
    bool failing = false;

    do {
        /* before the schema exists there is nothing to reap */
        if (ms_migrator_done(&svc->migrator)) {
            int rc = reap(svc);
            /* once per outage, not once per pass */
            if (rc != 0 && !failing)
                ms_log_json_new(MS_LOG_WARN, json_pack("{s:s,s:s}", "event", "reaper_failed",
                                                       "error", ms_strerror(rc)));
            failing = rc != 0;
        }
    } while (ms_task_nap(task, (int64_t)svc->reaper.interval_s * 1000));
}

int inventory_reaper_start(struct inventory_svc *svc, int ttl_s, int interval_s)
{
    svc->reaper.ttl_s = ttl_s;
    svc->reaper.interval_s = interval_s;
    return ms_task_start(&svc->reaper.task, run, svc);
}

void inventory_reaper_stop(struct inventory_svc *svc)
{
    ms_task_stop(&svc->reaper.task);
}
