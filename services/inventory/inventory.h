/* The inventory service's types, shared state, and the verbs its routes and reaper use. */
#ifndef INVENTORY_H
#define INVENTORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ms/metrics.h"
#include "ms/migrator.h"
#include "ms/pg.h"
#include "ms/req.h"
#include "ms/res.h"
#include "ms/router.h"
#include "ms/task.h"

enum {
    INVENTORY_AVAILABLE_MAX = 1000000,
    INVENTORY_ITEMS_MAX = 50,
    INVENTORY_QUANTITY_MAX = 1000,
    INVENTORY_RESERVATION_ID_MAX = 64,
};

/* held → committed (sold) or released (given back by its client), both final; held → expired
 * (given back by the reaper), which a late commit may still turn into committed. */
enum reservation_status {
    RESERVATION_HELD,
    RESERVATION_COMMITTED,
    RESERVATION_RELEASED,
    RESERVATION_EXPIRED,
};

/* The result label values of inventory_reservations_total, in this order. */
enum inventory_result {
    RESULT_HELD,         /* a new reservation took its stock */
    RESULT_REPLAYED,     /* a repeated create, commit or release answered from what is stored */
    RESULT_INSUFFICIENT, /* an item lacked stock: 409 */
    RESULT_NOT_FOUND,    /* no stock row for an item, or no such reservation: 404 */
    RESULT_INVALID,      /* the request failed validation: 400 */
    RESULT_COMMITTED,    /* held → committed */
    RESULT_RELEASED,     /* held or expired → released by a client */
    RESULT_EXPIRED,      /* held → expired by the reaper */
    RESULT_REVIVED,      /* expired → committed: a late commit took the stock again */
    RESULT_CONFLICT,     /* commit of a released or release of a committed reservation, or a
                            late commit whose stock has gone meanwhile: 409 */
    RESULT_UNAVAILABLE,  /* PostgreSQL down or too slow: 503 */
    RESULT_COUNT
};

struct stock {
    long long product_id;
    long long available; /* free to reserve */
    long long reserved;  /* held by reservations not yet committed or released */
};

struct reservation_item {
    long long product_id;
    long long quantity;
};

/* A reservation; items are kept in ascending product_id order, the order their stock rows are
 * locked in, so concurrent multi-item reservations can never deadlock. */
struct reservation {
    char id[INVENTORY_RESERVATION_ID_MAX + 1];
    enum reservation_status status;
    size_t nitems;
    struct reservation_item items[INVENTORY_ITEMS_MAX];
};

/* The item that stopped a reservation: its product, the stock it found and what it asked for. */
struct shortfall {
    long long product_id;
    long long available;
    long long requested;
};

/* The reaper thread: releases held reservations older than ttl_s every interval_s. */
struct inventory_reaper {
    int ttl_s;
    int interval_s;
    struct ms_task task;
};

struct inventory_svc {
    struct ms_pg_pool *pg;
    struct ms_migrator migrator;
    struct inventory_reaper reaper;
    struct ms_series *results[RESULT_COUNT]; /* inventory_reservations_total{result} */
    struct ms_series *held;                  /* inventory_reservations_held, set by the reaper */
};

/* ---- routes.c ---- */

extern const struct ms_route inventory_routes[];
extern const size_t inventory_routes_len;

/* ---- model.c: validation and JSON ---- */

/* Reads the path parameter productId as a product id for a write: 1..INT32_MAX, else 400. */
int product_id_or_400(struct ms_req *req, struct ms_res *res, long long *out);

/* Reads {"available":N}, N in 0..INVENTORY_AVAILABLE_MAX, from the body; else 400. */
int stock_level_or_400(struct ms_req *req, struct ms_res *res, long long *available);

/* Reads {"add":N}, N in 1..INVENTORY_AVAILABLE_MAX, from the body; else 400. */
int stock_delta_or_400(struct ms_req *req, struct ms_res *res, long long *add);

/* Reads the path parameter id as a reservation id; *id borrows from the request. Else 400. */
int reservation_id_or_400(struct ms_req *req, struct ms_res *res, const char **id);

/* Reads {"reservation_id","items":[{"product_id","quantity"}]} into out, items sorted by
 * product_id, status held. Any invalid field, unknown field or repeated product: 400. */
int reservation_or_400(struct ms_req *req, struct ms_res *res, struct reservation *out);

/* "held", "committed", "released", "expired". */
const char *reservation_status_name(enum reservation_status status);

/* Parses a status stored in PostgreSQL. 0 or MS_EINTERNAL (the CHECK makes that a bug). */
int reservation_status_parse(const char *text, enum reservation_status *out);

/* New references, NULL on allocation failure. */
json_t *stock_to_json(const struct stock *stock);
json_t *reservation_to_json(const struct reservation *r);

/* ---- store.c: PostgreSQL behind domain verbs ---- */

/* Registers the service's metric families and caches their series. */
void inventory_svc_init(struct inventory_svc *svc);

/* Counts one outcome in inventory_reservations_total. */
void inventory_count(struct inventory_svc *svc, enum inventory_result result);

/* The stock of one product. 0, MS_ENOTFOUND (no stock row), MS_EUNAVAIL / MS_ETIMEDOUT. */
int inventory_store_get_stock(struct inventory_svc *svc, long long product_id, struct stock *out);

/* Sets a product's available count, creating its stock row if needed; reserved is kept.
 * 0 with the new stock in out, MS_EUNAVAIL / MS_ETIMEDOUT. */
int inventory_store_set_stock(struct inventory_svc *svc, long long product_id, long long available,
                              struct stock *out);

/* Adds add to a product's available count in one statement, creating its stock row if needed,
 * so a restock never undoes a reservation taken meanwhile (as a read, then a PUT of the sum,
 * would). 0 with the new stock in out; MS_ECONFLICT when the sum would pass
 * INVENTORY_AVAILABLE_MAX (nothing changed); MS_EUNAVAIL / MS_ETIMEDOUT. */
int inventory_store_add_stock(struct inventory_svc *svc, long long product_id, long long add,
                              struct stock *out);

/* Holds every item of want, all or nothing, in one transaction. A reservation id already
 * stored is not reserved again: *out is the stored reservation and *replayed true.
 * 0; MS_ECONFLICT (an item lacks stock) or MS_ENOTFOUND (an item has no stock row) with the
 * item in *miss and nothing changed; MS_EUNAVAIL / MS_ETIMEDOUT. */
int inventory_store_reserve(struct inventory_svc *svc, const struct reservation *want,
                            struct reservation *out, bool *replayed, struct shortfall *miss);

/* One reservation with its items. 0, MS_ENOTFOUND, MS_EUNAVAIL / MS_ETIMEDOUT. */
int inventory_store_get_reservation(struct inventory_svc *svc, const char *id,
                                    struct reservation *out);

/* Moves a reservation to target in one transaction, settling its stock. From held: a commit
 * drops reserved; a release or an expiry moves reserved back to available. From expired: a
 * commit takes the stock from available again, all items or none; a release only records
 * that the client gave up (the stock went back at expiry). A reservation already at target is
 * left alone. A release of a reservation never made leaves a tombstone (released, no items), so
 * a reserve that arrives after it (its answer was lost, its client gave up) is a no-op that
 * answers the tombstone. 0 with the reservation in out and what happened in *done
 * (RESULT_COMMITTED, _RELEASED, _EXPIRED, _REVIVED, or _REPLAYED when nothing moved); MS_ENOTFOUND;
 * MS_ECONFLICT when no such move exists or a late commit finds too little stock (out says the
 * status); MS_EUNAVAIL / MS_ETIMEDOUT. */
int inventory_store_settle(struct inventory_svc *svc, const char *id,
                           enum reservation_status target, struct reservation *out,
                           enum inventory_result *done);

/* Up to cap ids of reservations held for more than ttl_s seconds, oldest first, into ids.
 * 0 with *n set, MS_EUNAVAIL / MS_ETIMEDOUT. */
int inventory_store_expired(struct inventory_svc *svc, int ttl_s,
                            char (*ids)[INVENTORY_RESERVATION_ID_MAX + 1], size_t cap, size_t *n);

/* How many reservations are held. 0 or MS_EUNAVAIL / MS_ETIMEDOUT. */
int inventory_store_count_held(struct inventory_svc *svc, long long *out);

/* ---- reaper.c ---- */

/* Starts the reaper thread (after ms_server_new, which sets the signal mask threads inherit).
 * 0 or MS_ENOMEM. */
int inventory_reaper_start(struct inventory_svc *svc, int ttl_s, int interval_s);

/* Stops the reaper and joins it; safe if it never started. Call before the pool is freed. */
void inventory_reaper_stop(struct inventory_svc *svc);

#endif
