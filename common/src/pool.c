/* The bounded slot pool shared by the PostgreSQL and Redis pools: a mutex, a condition variable
 * on the monotonic clock for the acquire deadline, and a throttle on reconnects. */
#include "ms/pool.h"

#include "ms/clock.h"
#include "ms/err.h"
#include "ms/metrics.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot {
    bool busy; /* checked out by one thread */
    bool open; /* its connection is open; written under the lock, by the slot's holder only */
};

struct ms_pool {
    struct ms_pool_config cfg;
    pthread_mutex_t lock;  /* guards every field below and every slot's flags */
    pthread_cond_t freed;  /* signalled each time a slot is checked in */
    int64_t open_after_ms; /* monotonic: no open is attempted before this */
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

struct ms_pool *ms_pool_new(const struct ms_pool_config *cfg)
{
    struct ms_pool *pool;
    pthread_condattr_t attr;

    assert(cfg->size > 0 && cfg->ops != NULL);
    pool = calloc(1, sizeof(*pool) + cfg->size * sizeof(pool->slots[0]));
    if (pool == NULL)
        return NULL;
    pool->cfg = *cfg;
    /* The acquire deadline must not move when someone sets the wall clock. */
    if (pthread_condattr_init(&attr) != 0)
        goto fail;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (pthread_cond_init(&pool->freed, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        goto fail;
    }
    pthread_condattr_destroy(&attr);
    if (pthread_mutex_init(&pool->lock, NULL) != 0) {
        pthread_cond_destroy(&pool->freed);
        goto fail;
    }
    return pool;
fail:
    free(pool);
    return NULL;
}

void ms_pool_free(struct ms_pool *pool)
{
    if (pool == NULL)
        return;
    for (size_t i = 0; i < pool->cfg.size; i++) {
        assert(!pool->slots[i].busy);
        if (pool->slots[i].open)
            pool->cfg.ops->close(pool->cfg.ctx, i);
    }
    ms_gauge_set(pool->cfg.series.idle, 0);
    ms_gauge_set(pool->cfg.series.in_use, 0);
    ms_gauge_set(pool->cfg.series.open, 0);
    pthread_cond_destroy(&pool->freed);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

/* Brings the gauges up to date. Called with the lock held. */
static void publish(struct ms_pool *pool)
{
    size_t idle = 0, in_use = 0, open = 0;

    for (size_t i = 0; i < pool->cfg.size; i++) {
        in_use += pool->slots[i].busy;
        open += pool->slots[i].open;
        idle += pool->slots[i].open && !pool->slots[i].busy;
    }
    ms_gauge_set(pool->cfg.series.idle, (double)idle);
    ms_gauge_set(pool->cfg.series.in_use, (double)in_use);
    ms_gauge_set(pool->cfg.series.open, (double)open);
}

/* A free slot, one with an open connection if there is any, so that connections get reused
 * rather than new ones opened; with open_only, only one with an open connection. -1 when there
 * is none. Called with the lock held. */
static long pick_slot(const struct ms_pool *pool, bool open_only)
{
    long closed = -1;

    for (size_t i = 0; i < pool->cfg.size; i++) {
        if (pool->slots[i].busy)
            continue;
        if (pool->slots[i].open)
            return (long)i;
        if (closed < 0 && !open_only)
            closed = (long)i;
    }
    return closed;
}

/* Is any connection of the pool open, busy or not? Called with the lock held. */
static bool any_open(const struct ms_pool *pool)
{
    for (size_t i = 0; i < pool->cfg.size; i++)
        if (pool->slots[i].open)
            return true;
    return false;
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

/* Waits until the deadline for a free slot (with open_only, one with an open connection) and
 * marks it busy: its index, or MS_EUNAVAIL. */
static int checkout(struct ms_pool *pool, const struct timespec *deadline, bool open_only,
                    bool *is_open)
{
    long slot;
    int rc = 0;

    pthread_mutex_lock(&pool->lock);
    /* One last look after the timeout: a slot may have been freed just as it expired. */
    while ((slot = pick_slot(pool, open_only)) < 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&pool->freed, &pool->lock, deadline);
    if (slot >= 0) {
        pool->slots[slot].busy = true;
        *is_open = pool->slots[slot].open;
        publish(pool);
    }
    pthread_mutex_unlock(&pool->lock);
    return slot >= 0 ? (int)slot : MS_EUNAVAIL;
}

static void set_open(struct ms_pool *pool, size_t slot, bool open)
{
    pthread_mutex_lock(&pool->lock);
    pool->slots[slot].open = open;
    publish(pool);
    pthread_mutex_unlock(&pool->lock);
}

/* Opens the slot's connection unless the server was found down moments ago: while it is down,
 * one attempt per throttle period is enough, and everyone else gets MS_EUNAVAIL at once. One
 * failed open while other connections of the pool are open is not "down" (a lost or reset
 * handshake is that connection's trouble): it does not throttle the others. */
static int open_slot(struct ms_pool *pool, size_t slot)
{
    bool throttled;
    int rc;

    pthread_mutex_lock(&pool->lock);
    throttled = ms_now_ms() < pool->open_after_ms;
    pthread_mutex_unlock(&pool->lock);
    if (throttled)
        return MS_EUNAVAIL;
    rc = pool->cfg.ops->open(pool->cfg.ctx, slot);
    if (rc < 0) {
        pthread_mutex_lock(&pool->lock);
        if (!any_open(pool))
            pool->open_after_ms = ms_now_ms() + pool->cfg.throttle_ms;
        pthread_mutex_unlock(&pool->lock);
        return rc;
    }
    set_open(pool, slot, true);
    return 0;
}

static void close_slot(struct ms_pool *pool, size_t slot)
{
    pool->cfg.ops->close(pool->cfg.ctx, slot);
    set_open(pool, slot, false);
}

/* Makes a checked-out slot usable: its connection checked, or (re)opened. 0 or the open's
 * error. */
static int ready_slot(struct ms_pool *pool, size_t slot, bool is_open)
{
    if (is_open && !pool->cfg.ops->alive(pool->cfg.ctx, slot)) {
        close_slot(pool, slot);
        is_open = false;
    }
    return is_open ? 0 : open_slot(pool, slot);
}

/* The slot could not be (re)opened: gives it back and, while other connections of the pool
 * are open (the server answers), waits for one of them to be free instead of failing. Its
 * index, or MS_EUNAVAIL. */
static int fall_back(struct ms_pool *pool, size_t slot, const struct timespec *deadline)
{
    bool is_open = false, others;
    int other;

    ms_pool_release(pool, slot, false);
    pthread_mutex_lock(&pool->lock);
    others = any_open(pool);
    pthread_mutex_unlock(&pool->lock);
    if (!others)
        return MS_EUNAVAIL;
    other = checkout(pool, deadline, true, &is_open);
    if (other >= 0 && ready_slot(pool, (size_t)other, is_open) != 0) {
        ms_pool_release(pool, (size_t)other, false);
        other = MS_EUNAVAIL;
    }
    return other;
}

int ms_pool_acquire(struct ms_pool *pool)
{
    struct timespec deadline;
    bool is_open = false;
    int slot;

    deadline_after(&deadline, pool->cfg.acquire_timeout_ms);
    slot = checkout(pool, &deadline, false, &is_open);
    if (slot < 0) {
        ms_counter_inc(pool->cfg.series.acquire_timeout);
        return slot;
    }
    if (ready_slot(pool, (size_t)slot, is_open) != 0) {
        slot = fall_back(pool, (size_t)slot, &deadline);
        if (slot < 0) {
            ms_counter_inc(pool->cfg.series.acquire_unavailable);
            return slot;
        }
    }
    ms_counter_inc(pool->cfg.series.acquire_ok);
    return slot;
}

void ms_pool_release(struct ms_pool *pool, size_t slot, bool broken)
{
    assert(slot < pool->cfg.size && pool->slots[slot].busy);
    /* Only the holder changes a busy slot's open flag, so reading it unlocked is safe. */
    if (broken && pool->slots[slot].open)
        close_slot(pool, slot);
    pthread_mutex_lock(&pool->lock);
    pool->slots[slot].busy = false;
    publish(pool);
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}
