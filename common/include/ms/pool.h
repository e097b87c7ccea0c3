/* A bounded pool of connection slots: the waiting, deadline and background reconnect logic
 * that the PostgreSQL and Redis pools share. The pool knows nothing about the connections
 * themselves; it calls back into its owner to open, check and close them.
 *
 * Requests never open a connection: a background task (one thread per pool) opens them, when
 * requests wait with none idle and to replace one that died, pausing after a failed open (20 ms,
 * doubling up to backoff_max_ms). So one dead connection fails at most the request that was
 * using it: the others take another open connection, or wait (within their acquire deadline)
 * for its replacement. Only when the opens keep failing with no connection open is the
 * dependency down, and then requests are refused at once. */
#ifndef MS_POOL_H
#define MS_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct ms_pool;
struct ms_series;

/* What the owner does with the connection behind a slot. Each call is made without the pool
 * lock held, by the one thread that has the slot: the request that checked it out, the
 * reconnector while it opens it, or ms_pool_free. */
struct ms_pool_ops {
    /* Opens the slot's connection: 0, or a negative ms_err (usually MS_EUNAVAIL). */
    int (*open)(void *ctx, size_t slot);
    /* Whether the slot's open connection still looks usable; cheap, no round trip. */
    bool (*alive)(void *ctx, size_t slot);
    /* Closes the slot's connection; the reconnector opens it again. */
    void (*close)(void *ctx, size_t slot);
};

/* Metric series the pool keeps current; any of them may be NULL. */
struct ms_pool_series {
    struct ms_series *idle;            /* gauge: open connections not checked out */
    struct ms_series *in_use;          /* gauge: slots checked out */
    struct ms_series *open;            /* gauge: open connections */
    struct ms_series *acquire_ok;      /* counter: checkouts that succeeded */
    struct ms_series *acquire_timeout; /* counter: no open connection came before the deadline */
    struct ms_series *acquire_unavailable; /* counter: refused at once, the dependency is down */
};

struct ms_pool_config {
    size_t size;            /* slots, at least 1 */
    int acquire_timeout_ms; /* how long ms_pool_acquire waits for an open connection */
    int backoff_max_ms;     /* the longest pause of the reconnector between failed opens */
    const struct ms_pool_ops *ops;
    void *ctx;                    /* passed to every op */
    struct ms_pool_series series; /* copied */
};

/* Registers (or finds) the gauge family conn_family{pool,state} and, when acquire_family is not
 * NULL, the counter family acquire_family{pool,result}, and fills *out with the series for pool
 * name. Series that cannot be allocated stay NULL, which the metrics API tolerates. */
void ms_pool_series_init(struct ms_pool_series *out, const char *name, const char *conn_family,
                         const char *conn_help, const char *acquire_family,
                         const char *acquire_help);

/* Creates a pool of cfg->size closed slots and starts its reconnector, which opens one of them
 * at once (in the background: this succeeds while the dependency is down). NULL on allocation
 * failure. */
struct ms_pool *ms_pool_new(const struct ms_pool_config *cfg);

/* Stops the reconnector, closes every open slot and frees the pool. No slot may be checked
 * out. Accepts NULL. */
void ms_pool_free(struct ms_pool *pool);

/* Checks out a slot with an open connection, waiting until the acquire deadline for one to be
 * checked in or opened by the reconnector. A connection that no longer looks alive is closed,
 * handed to the reconnector, and the wait goes on. Returns the slot index (>= 0), or
 * MS_EUNAVAIL when none came in time or, at once, when the dependency is down (the last opens
 * failed and no connection is open). */
int ms_pool_acquire(struct ms_pool *pool);

/* Returns a checked-out slot; broken closes its connection first and has the reconnector
 * replace it in the background. Wakes the waiters. */
void ms_pool_release(struct ms_pool *pool, size_t slot, bool broken);

#endif
