/* A bounded pool of connection slots: the waiting, deadline, reconnect and connect-throttle
 * logic that the PostgreSQL and Redis pools share. The pool knows nothing about the
 * connections themselves; it calls back into its owner to open, check and close them. */
#ifndef MS_POOL_H
#define MS_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct ms_pool;
struct ms_series;

/* What the owner does with the connection behind a slot. Each call is made without the pool
 * lock held, by the one thread that has the slot checked out (or by ms_pool_free). */
struct ms_pool_ops {
    /* Opens the slot's connection: 0, or a negative ms_err (usually MS_EUNAVAIL). */
    int (*open)(void *ctx, size_t slot);
    /* Whether the slot's open connection still looks usable; cheap, no round trip. */
    bool (*alive)(void *ctx, size_t slot);
    /* Closes the slot's connection; it is reopened on a later checkout. */
    void (*close)(void *ctx, size_t slot);
};

/* Metric series the pool keeps current; any of them may be NULL. */
struct ms_pool_series {
    struct ms_series *idle;                /* gauge: open connections not checked out */
    struct ms_series *in_use;              /* gauge: slots checked out */
    struct ms_series *open;                /* gauge: open connections */
    struct ms_series *acquire_ok;          /* counter: checkouts that succeeded */
    struct ms_series *acquire_timeout;     /* counter: no slot freed up before the deadline */
    struct ms_series *acquire_unavailable; /* counter: the connection could not be opened */
};

struct ms_pool_config {
    size_t size;            /* slots, at least 1 */
    int acquire_timeout_ms; /* how long ms_pool_acquire waits for a free slot */
    int throttle_ms;        /* after a failed open, refuse further opens this long */
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

/* Creates a pool of cfg->size closed slots. NULL on allocation failure. */
struct ms_pool *ms_pool_new(const struct ms_pool_config *cfg);

/* Closes every open slot and frees the pool. No slot may be checked out. Accepts NULL. */
void ms_pool_free(struct ms_pool *pool);

/* Checks out a slot, waiting until the acquire deadline for one to free up, preferring slots
 * whose connection is open. A slot whose connection no longer looks alive is closed and
 * reopened. Returns the slot index (>= 0); MS_EUNAVAIL when no slot freed up in time, when a
 * recent open failed (fail fast instead of hammering a dead server), or the open's own error. */
int ms_pool_acquire(struct ms_pool *pool);

/* Returns a checked-out slot; broken closes its connection first, so that the next checkout
 * reconnects. Wakes one waiter. */
void ms_pool_release(struct ms_pool *pool, size_t slot, bool broken);

#endif
