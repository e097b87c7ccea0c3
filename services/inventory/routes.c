/* The inventory service's route table and its handlers. */
#include <stdint.h>

#include "inventory.h"
#include "ms/err.h"

/* What an error answer counts as in inventory_reservations_total; conflict says what a 409
 * means on this endpoint. RESULT_COUNT (a bug, a 500) counts nothing. */
static enum inventory_result result_of(int rc, enum inventory_result conflict)
{
    switch (rc) {
    case MS_EINVAL:
        return RESULT_INVALID;
    case MS_ENOTFOUND:
        return RESULT_NOT_FOUND;
    case MS_ECONFLICT:
        return conflict;
    case MS_EUNAVAIL:
    case MS_ETIMEDOUT:
        return RESULT_UNAVAILABLE;
    default:
        return RESULT_COUNT;
    }
}

/* GET /inventory/{productId}: one product's stock. */
static void get_stock(struct ms_req *req, struct ms_res *res)
{
    struct stock stock;
    long long id;
    int rc;

    if (ms_req_id_or_4xx(req, res, "productId", INT32_MAX, &id))
        return;
    rc = inventory_store_get_stock(req->svc, id, &stock);
    if (rc == MS_ENOTFOUND) {
        ms_res_error(res, rc, "no stock for product %lld", id);
        return;
    }
    if (rc) {
        ms_res_error(res, rc, "cannot read the stock of product %lld: %s", id, ms_strerror(rc));
        return;
    }
    ms_res_json_new(res, 200, stock_to_json(&stock));
}

/* PUT /inventory/{productId} {"available":N}: sets what is free to reserve (restocking). */
static void put_stock(struct ms_req *req, struct ms_res *res)
{
    struct stock stock;
    long long id, available;
    int rc;

    if (product_id_or_400(req, res, &id) || stock_level_or_400(req, res, &available))
        return;
    rc = inventory_store_set_stock(req->svc, id, available, &stock);
    if (rc) {
        ms_res_error(res, rc, "cannot set the stock of product %lld: %s", id, ms_strerror(rc));
        return;
    }
    ms_res_json_new(res, 200, stock_to_json(&stock));
}

/* POST /inventory/{productId}/restock {"add":N}: adds N to what is free to reserve, in one
 * statement, so reservations taken meanwhile stay taken. */
static void restock(struct ms_req *req, struct ms_res *res)
{
    struct stock stock;
    long long id, add;
    int rc;

    if (product_id_or_400(req, res, &id) || stock_delta_or_400(req, res, &add))
        return;
    rc = inventory_store_add_stock(req->svc, id, add, &stock);
    if (rc == MS_ECONFLICT)
        ms_res_error(res, rc, "the stock of product %lld would pass %d", id,
                     INVENTORY_AVAILABLE_MAX);
    else if (rc)
        ms_res_error(res, rc, "cannot restock product %lld: %s", id, ms_strerror(rc));
    else
        ms_res_json_new(res, 200, stock_to_json(&stock));
}

static void reserve_failed(struct inventory_svc *svc, struct ms_res *res, int rc,
                           const struct shortfall *miss)
{
    inventory_count(svc, result_of(rc, RESULT_INSUFFICIENT));
    if (rc == MS_ECONFLICT)
        ms_res_error(res, rc, "insufficient stock for product %lld: %lld available, %lld requested",
                     miss->product_id, miss->available, miss->requested);
    else if (rc == MS_ENOTFOUND)
        ms_res_error(res, rc, "no stock for product %lld", miss->product_id);
    else
        ms_res_error(res, rc, "cannot reserve stock: %s", ms_strerror(rc));
}

/* POST /inventory/reservations: holds stock for every item, all or nothing. A reservation id
 * seen before gets the stored reservation back, whatever its status, and nothing changes. */
static void create_reservation(struct ms_req *req, struct ms_res *res)
{
    struct inventory_svc *svc = req->svc;
    struct reservation want, got;
    struct shortfall miss = {0};
    bool replayed = false;
    int rc;

    if (reservation_or_400(req, res, &want)) {
        inventory_count(svc, RESULT_INVALID);
        return;
    }
    rc = inventory_store_reserve(svc, &want, &got, &replayed, &miss);
    if (rc) {
        reserve_failed(svc, res, rc, &miss);
        return;
    }
    inventory_count(svc, replayed ? RESULT_REPLAYED : RESULT_HELD);
    ms_res_json_new(res, 201, reservation_to_json(&got));
}

/* GET /inventory/reservations/{id}: a reservation with its status and items. */
static void get_reservation(struct ms_req *req, struct ms_res *res)
{
    struct reservation r;
    const char *id;
    int rc;

    if (reservation_id_or_400(req, res, &id))
        return;
    rc = inventory_store_get_reservation(req->svc, id, &r);
    if (rc == MS_ENOTFOUND) {
        ms_res_error(res, rc, "reservation %s not found", id);
        return;
    }
    if (rc) {
        ms_res_error(res, rc, "cannot read reservation %s: %s", id, ms_strerror(rc));
        return;
    }
    ms_res_json_new(res, 200, reservation_to_json(&r));
}

static void settle_failed(struct inventory_svc *svc, struct ms_res *res, int rc, const char *id,
                          const struct reservation *r, enum reservation_status target)
{
    inventory_count(svc, result_of(rc, RESULT_CONFLICT));
    if (rc == MS_ECONFLICT && r->status == RESERVATION_EXPIRED)
        ms_res_error(res, rc, "reservation %s expired and its stock has been taken since", id);
    else if (rc == MS_ECONFLICT)
        ms_res_error(res, rc, "reservation %s is %s and cannot be %s", id,
                     reservation_status_name(r->status), reservation_status_name(target));
    else if (rc == MS_ENOTFOUND)
        ms_res_error(res, rc, "reservation %s not found", id);
    else
        ms_res_error(res, rc, "cannot settle reservation %s: %s", id, ms_strerror(rc));
}

/* Commit and release (see inventory_store_settle); a reservation already at target answers as
 * it is. */
static void settle(struct ms_req *req, struct ms_res *res, enum reservation_status target)
{
    struct inventory_svc *svc = req->svc;
    struct reservation r;
    enum inventory_result done = RESULT_REPLAYED;
    const char *id;
    int rc;

    if (reservation_id_or_400(req, res, &id)) {
        inventory_count(svc, RESULT_INVALID);
        return;
    }
    rc = inventory_store_settle(svc, id, target, &r, &done);
    if (rc) {
        settle_failed(svc, res, rc, id, &r, target);
        return;
    }
    inventory_count(svc, done);
    ms_res_json_new(res, 200, reservation_to_json(&r));
}

/* POST /inventory/reservations/{id}/commit: the order went through; the stock is sold. */
static void commit_reservation(struct ms_req *req, struct ms_res *res)
{
    settle(req, res, RESERVATION_COMMITTED);
}

/* POST /inventory/reservations/{id}/release: the order is off; the stock is free again. */
static void release_reservation(struct ms_req *req, struct ms_res *res)
{
    settle(req, res, RESERVATION_RELEASED);
}

/* Bodies: {"available":N} is tiny; 50 items fit in 16 KiB with room for whitespace. Commit and
 * release take no body (one sent is ignored). */
const struct ms_route inventory_routes[] = {
    {"GET", "/inventory/{productId}", get_stock, 0, 0},
    {"PUT", "/inventory/{productId}", put_stock, 1024, MS_ROUTE_JSON},
    {"POST", "/inventory/{productId}/restock", restock, 1024, MS_ROUTE_JSON},
    {"POST", "/inventory/reservations", create_reservation, 16384, MS_ROUTE_JSON},
    {"GET", "/inventory/reservations/{id}", get_reservation, 0, 0},
    {"POST", "/inventory/reservations/{id}/commit", commit_reservation, 0, 0},
    {"POST", "/inventory/reservations/{id}/release", release_reservation, 0, 0},
};
const size_t inventory_routes_len = sizeof(inventory_routes) / sizeof(inventory_routes[0]);
