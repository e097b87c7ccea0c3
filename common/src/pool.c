/* The bounded slot pool shared by the PostgreSQL and Redis pools: a mutex, a condition variable
 * on the monotonic clock for the acquire deadline, and a background task that (re)opens
 * connections with backoff, so that no request ever waits on a connect it cannot afford. */
#include "ms/pool.h"

#include "ms/budget.h"
#include "ms/clock.h"
#include "ms/err.h"
#include "ms/metrics.h"
#include "ms/task.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The reconnector's first pause after a failed open; it doubles up to cfg.backoff_max_ms. */
#define BACKOFF_FIRST_MS 20
/* How long, and how many opens in a row, must have failed, with no connection open, before the
 * dependency is taken as down and requests get MS_EUNAVAIL at once instead of waiting out their
 * deadline. Long enough for a few tries (a lost or reset handshake on a flaky link is not an
 * outage, nor is the slow open that follows it on a loaded server), short enough that an
 * outage is still answered with a fast 503: a refused connect fails three times within the
 * first backoffs (20 + 40 ms). */
#define DOWN_AFTER_MS 60
#define DOWN_AFTER_FAILURES 3
/* How long the reconnector sleeps when there is nothing to open; a wake ends it early. */
#define IDLE_NAP_MS 1000

struct slot {
    bool busy; /* checked out by a request, or being opened by the reconnector */
    bool open; /* its connection is open; written under the lock, by the slot's holder only */
};

struct ms_pool {
    struct ms_pool_config cfg;
    pthread_mutex_t lock;   /* guards every field below and every slot's flags */
    pthread_cond_t changed; /* broadcast when a slot is checked in or opened, or an open failed */
    size_t waiting;         /* requests waiting for an open connection */
    size_t wanted;          /* the most connections open at once so far: kept open from then on */
    unsigned failures;      /* the reconnector's failed opens in a row */
    int64_t failing_since;  /* monotonic ms of the first of them */
    struct ms_task reconnector;
    struct slot slots[];
};

static struct ms_series *series_for(struct ms_family *family, const char *name, const char *value)
{
    const char *values[] = {name, value};

    return family != NULL ? ms_series_get(family, values) : NULL;
}

void ms_pool_series_init(struct ms_pool_series *out, const char *name, const char *conn_family,
                         const char *conn_help, const char *acquire_family,
                         const char *acquire_help)
{
    struct ms_family *conns = ms_gauge_family(conn_family, conn_help, "pool,state");
    struct ms_family *acquires = NULL;

    memset(out, 0, sizeof(*out));
    out->idle = series_for(conns, name, "idle");
    out->in_use = series_for(conns, name, "in_use");
    out->open = series_for(conns, name, "open");
    if (acquire_family == NULL)
        return;
    acquires = ms_counter_family(acquire_family, acquire_help, "pool,result");
    out->acquire_ok = series_for(acquires, name, "ok");
    out->acquire_timeout = series_for(acquires, name, "timeout");
    out->acquire_unavailable = series_for(acquires, name, "unavailable");
}

/* Brings the gauges up to date. Called with the lock held. */
static void publish(struct ms_pool *pool)
{
    size_t idle = 0, in_use = 0, open = 0;

    for (size_t i = 0; i < pool->cfg.size; i++) {
        in_use += pool->slots[i].busy && pool->slots[i].open;
        open += pool->slots[i].open;
        idle += pool->slots[i].open && !pool->slots[i].busy;
    }
    ms_gauge_set(pool->cfg.series.idle, (double)idle);
    ms_gauge_set(pool->cfg.series.in_use, (double)in_use);
    ms_gauge_set(pool->cfg.series.open, (double)open);
}

static size_t count_open(const struct ms_pool *pool, bool idle_only)
{
    size_t n = 0;

    for (size_t i = 0; i < pool->cfg.size; i++)
        n += pool->slots[i].open && !(idle_only && pool->slots[i].busy);
    return n;
}

/* Is the dependency taken as down: the last opens failed and no connection is open? Called
 * with the lock held. */
static bool is_down(const struct ms_pool *pool)
{
    return pool->failures >= DOWN_AFTER_FAILURES &&
           ms_now_ms() - pool->failing_since >= DOWN_AFTER_MS && count_open(pool, false) == 0;
}

/* A slot for the reconnector to open, marked busy, or -1 when there is nothing to do: it opens
 * while fewer connections are open than the pool has had (one died), while requests wait with
 * no idle connection for them, or to retry after a failure. Called with the lock held. */
static long claim_closed(struct ms_pool *pool)
{
    bool needed = count_open(pool, false) < pool->wanted ||
                  pool->waiting > count_open(pool, true) || pool->failures > 0;

    if (!needed)
        return -1;
    for (size_t i = 0; i < pool->cfg.size; i++) {
        if (!pool->slots[i].busy && !pool->slots[i].open) {
            pool->slots[i].busy = true;
            return (long)i;
        }
    }
    return -1;
}

/* The reconnector's open of slot is done (ok or not): the slot is free again and the waiters
 * look anew. The failures in a row so far. */
static unsigned opened(struct ms_pool *pool, size_t slot, bool ok)
{
    unsigned failures;

    pthread_mutex_lock(&pool->lock);
    pool->slots[slot].busy = false;
    pool->slots[slot].open = ok;
    if (!ok && pool->failures == 0)
        pool->failing_since = ms_now_ms();
    pool->failures = ok ? 0 : pool->failures + 1;
    if (ok && count_open(pool, false) > pool->wanted)
        pool->wanted = count_open(pool, false);
    failures = pool->failures;
    publish(pool);
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
    return failures;
}

/* Sleeps ms whatever wakes come meanwhile (a dead server is not hammered by the requests that
 * find it dead), unless the task is stopping. */
static void back_off(struct ms_task *task, int64_t ms)
{
    int64_t until = ms_now_ms() + ms;

    while (ms_now_ms() < until && ms_task_nap(task, until - ms_now_ms()))
        continue;
}

/* The reconnector: opens closed slots, one at a time, off the requests' threads. */
static void reconnect(struct ms_task *task, void *ctx)
{
    struct ms_pool *pool = ctx;

    while (!ms_task_stopping(task)) {
        long slot;
        unsigned failures;
        int64_t pause;

        pthread_mutex_lock(&pool->lock);
        slot = claim_closed(pool);
        pthread_mutex_unlock(&pool->lock);
        if (slot < 0) {
            ms_task_nap(task, IDLE_NAP_MS);
            continue;
        }
        failures =
            opened(pool, (size_t)slot, pool->cfg.ops->open(pool->cfg.ctx, (size_t)slot) == 0);
        if (failures == 0)
            continue;
        pause =
            failures > 16 ? pool->cfg.backoff_max_ms : (int64_t)BACKOFF_FIRST_MS << (failures - 1);
        back_off(task, pause < pool->cfg.backoff_max_ms ? pause : pool->cfg.backoff_max_ms);
    }
}

struct ms_pool *ms_pool_new(const struct ms_pool_config *cfg)
{
    struct ms_pool *pool;
    pthread_condattr_t attr;

    assert(cfg->size > 0 && cfg->ops != NULL);
    pool = calloc(1, sizeof(*pool) + cfg->size * sizeof(pool->slots[0]));
    if (pool == NULL)
        return NULL;
    pool->cfg = *cfg;
    /* One connection is opened at once, so that the first request does not wait for a connect
     * (its acquire deadline is short); more as requests need them. */
    pool->wanted = 1;
    /* The acquire deadline must not move when someone sets the wall clock. */
    if (pthread_condattr_init(&attr) != 0)
        goto fail;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (pthread_cond_init(&pool->changed, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        goto fail;
    }
    pthread_condattr_destroy(&attr);
    if (pthread_mutex_init(&pool->lock, NULL) != 0)
        goto fail_cond;
    if (ms_task_start(&pool->reconnector, reconnect, pool) != 0)
        goto fail_mutex;
    return pool;
fail_mutex:
    pthread_mutex_destroy(&pool->lock);
fail_cond:
    pthread_cond_destroy(&pool->changed);
fail:
    free(pool);
    return NULL;
}

void ms_pool_free(struct ms_pool *pool)
{
    if (pool == NULL)
        return;
    ms_task_stop(&pool->reconnector);
    for (size_t i = 0; i < pool->cfg.size; i++) {
        assert(!pool->slots[i].busy);
        if (pool->slots[i].open)
            pool->cfg.ops->close(pool->cfg.ctx, i);
    }
    ms_gauge_set(pool->cfg.series.idle, 0);
    ms_gauge_set(pool->cfg.series.in_use, 0);
    ms_gauge_set(pool->cfg.series.open, 0);
    pthread_cond_destroy(&pool->changed);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

/* A free slot with an open connection, or -1. Called with the lock held. */
static long pick_open(const struct ms_pool *pool)
{
    for (size_t i = 0; i < pool->cfg.size; i++)
        if (!pool->slots[i].busy && pool->slots[i].open)
            return (long)i;
    return -1;
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

enum { GAVE_UP_TIMEOUT = -1, GAVE_UP_DOWN = -2 };

/* When a waiter looks again at the latest: its deadline, or sooner the moment the failing opens
 * make the dependency down, so that it learns of an outage then rather than at the next failed
 * open (the backoff may be longer). Called with the lock held. */
static struct timespec next_look(const struct ms_pool *pool, const struct timespec *deadline)
{
    int64_t down_at = pool->failing_since + DOWN_AFTER_MS;
    struct timespec at = {.tv_sec = down_at / 1000, .tv_nsec = (down_at % 1000) * 1000000L};

    /* past already and not down: a connection is open, so no outage to learn of */
    if (pool->failures == 0 || down_at <= ms_now_ms() || at.tv_sec > deadline->tv_sec ||
        (at.tv_sec == deadline->tv_sec && at.tv_nsec >= deadline->tv_nsec))
        return *deadline;
    return at;
}

/* Waits until the deadline for a free slot with an open connection and marks it busy: its
 * index; GAVE_UP_TIMEOUT when none came in time, GAVE_UP_DOWN as soon as the dependency is
 * found down. While it waits the reconnector opens a connection for it, unless an open one is
 * checked in first. */
static int checkout(struct ms_pool *pool, const struct timespec *deadline)
{
    long slot;
    bool down = false, expired = false;

    pthread_mutex_lock(&pool->lock);
    pool->waiting++;
    /* One last look after the timeout: a slot may have been freed just as it expired. */
    while ((slot = pick_open(pool)) < 0 && !(down = is_down(pool)) && !expired) {
        struct timespec at = next_look(pool, deadline);

        ms_task_wake(&pool->reconnector);
        expired = pthread_cond_timedwait(&pool->changed, &pool->lock, &at) == ETIMEDOUT &&
                  at.tv_sec == deadline->tv_sec && at.tv_nsec == deadline->tv_nsec;
    }
    pool->waiting--;
    if (slot >= 0) {
        pool->slots[slot].busy = true;
        publish(pool);
    }
    pthread_mutex_unlock(&pool->lock);
    if (slot >= 0)
        return (int)slot;
    return down ? GAVE_UP_DOWN : GAVE_UP_TIMEOUT;
}

int ms_pool_acquire(struct ms_pool *pool)
{
    struct timespec deadline;
    int slot;

    deadline_after(&deadline, (int)ms_budget_cap(pool->cfg.acquire_timeout_ms));
    /* A connection found dead at checkout is given to the reconnector, and the wait goes on
     * for another: its death is nobody's failure. */
    while ((slot = checkout(pool, &deadline)) >= 0 &&
           !pool->cfg.ops->alive(pool->cfg.ctx, (size_t)slot))
        ms_pool_release(pool, (size_t)slot, true);
    if (slot >= 0) {
        ms_counter_inc(pool->cfg.series.acquire_ok);
        return slot;
    }
    ms_counter_inc(slot == GAVE_UP_DOWN ? pool->cfg.series.acquire_unavailable
                                        : pool->cfg.series.acquire_timeout);
    return MS_EUNAVAIL;
}

void ms_pool_release(struct ms_pool *pool, size_t slot, bool broken)
{
    bool closed = false;

    assert(slot < pool->cfg.size && pool->slots[slot].busy);
    /* Only the holder changes a busy slot's open flag, so reading it unlocked is safe. */
    if (broken && pool->slots[slot].open) {
        pool->cfg.ops->close(pool->cfg.ctx, slot);
        closed = true;
    }
    pthread_mutex_lock(&pool->lock);
    pool->slots[slot].busy = false;
    if (closed)
        pool->slots[slot].open = false;
    publish(pool);
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
    if (closed)
        ms_task_wake(&pool->reconnector); /* replaced in the background */
}
