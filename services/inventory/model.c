/* Inventory validation and serialisation: product and reservation ids, stock levels,
 * reservations. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "ms/err.h"
#include "ms/json.h"

/* Reservation ids are chosen by clients (the order service uses its order UUID): a plain,
 * bounded alphabet keeps them safe in logs, URLs and metrics labels alike. */
static const char id_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-";
#define ID_RULE "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'"

static const char *const status_names[] = {"held", "committed", "released", "expired"};

static bool reservation_id_valid(const char *id)
{
    size_t len = strlen(id);

    return len >= 1 && len <= INVENTORY_RESERVATION_ID_MAX && strspn(id, id_chars) == len;
}

int product_id_or_400(struct ms_req *req, struct ms_res *res, long long *out)
{
    /* a write creates the row, so an id beyond the column's range is bad input, not unknown */
    if (ms_parse_ll(ms_req_param(req, "productId"), 1, INT32_MAX, out) == 0)
        return 0;
    ms_res_error(res, MS_EINVAL, "productId must be an integer from 1 to %d", INT32_MAX);
    return -1;
}

/* Reads {"<field>":N}, N in min..INVENTORY_AVAILABLE_MAX; else 400. */
static int count_or_400(struct ms_req *req, struct ms_res *res, const char *field, long long min,
                        long long *out)
{
    struct ms_verr e;

    if (ms_json_object_with_keys(req->json, field, &e) ||
        ms_json_int(req->json, field, min, INVENTORY_AVAILABLE_MAX, out, &e)) {
        ms_res_error(res, MS_EINVAL, "%s", e.msg);
        return -1;
    }
    return 0;
}

int stock_level_or_400(struct ms_req *req, struct ms_res *res, long long *available)
{
    return count_or_400(req, res, "available", 0, available);
}

int stock_delta_or_400(struct ms_req *req, struct ms_res *res, long long *add)
{
    return count_or_400(req, res, "add", 1, add);
}

int reservation_id_or_400(struct ms_req *req, struct ms_res *res, const char **id)
{
    const char *v = ms_req_param(req, "id");

    if (v && reservation_id_valid(v)) {
        *id = v;
        return 0;
    }
    ms_res_error(res, MS_EINVAL, "reservation id " ID_RULE);
    return -1;
}

/* items[i] into out. 0 or MS_EINVAL with the reason in e. */
static int item_from_json(const json_t *v, size_t i, struct reservation_item *out,
                          struct ms_verr *e)
{
    struct ms_verr why;

    if (!json_is_object(v))
        return ms_verr_set(e, MS_EINVAL, "items[%zu] must be an object", i);
    if (ms_json_object_with_keys(v, "product_id,quantity", &why) ||
        ms_json_int(v, "product_id", 1, INT32_MAX, &out->product_id, &why) ||
        ms_json_int(v, "quantity", 1, INVENTORY_QUANTITY_MAX, &out->quantity, &why))
        return ms_verr_set(e, MS_EINVAL, "items[%zu]: %.160s", i, why.msg);
    return 0;
}

static int by_product(const void *a, const void *b)
{
    const struct reservation_item *x = a, *y = b;

    return (x->product_id > y->product_id) - (x->product_id < y->product_id);
}

/* The items array into out, sorted by product; a product listed twice is refused, since its
 * quantities could only be guessed at. */
static int items_from_json(const json_t *items, struct reservation *out, struct ms_verr *e)
{
    size_t n = json_array_size(items);

    if (!json_is_array(items) || n < 1 || n > INVENTORY_ITEMS_MAX)
        return ms_verr_set(e, MS_EINVAL, "items must be an array of 1 to %d items",
                           INVENTORY_ITEMS_MAX);
    for (size_t i = 0; i < n; i++)
        if (item_from_json(json_array_get(items, i), i, &out->items[i], e))
            return MS_EINVAL;
    out->nitems = n;
    qsort(out->items, n, sizeof(out->items[0]), by_product);
    for (size_t i = 1; i < n; i++)
        if (out->items[i].product_id == out->items[i - 1].product_id)
            return ms_verr_set(e, MS_EINVAL, "product %lld appears more than once in items",
                               out->items[i].product_id);
    return 0;
}

int reservation_or_400(struct ms_req *req, struct ms_res *res, struct reservation *out)
{
    const char *id = NULL;
    struct ms_verr e;
    int rc;

    rc = ms_json_object_with_keys(req->json, "reservation_id,items", &e);
    if (rc == 0)
        rc = ms_json_str(req->json, "reservation_id", 1, INVENTORY_RESERVATION_ID_MAX, &id, &e);
    if (rc == 0 && !reservation_id_valid(id))
        rc = ms_verr_set(&e, MS_EINVAL, "reservation_id " ID_RULE);
    if (rc == 0)
        rc = items_from_json(json_object_get(req->json, "items"), out, &e);
    if (rc) {
        ms_res_error(res, MS_EINVAL, "%s", e.msg);
        return -1;
    }
    snprintf(out->id, sizeof(out->id), "%s", id);
    out->status = RESERVATION_HELD;
    return 0;
}

const char *reservation_status_name(enum reservation_status status)
{
    return status_names[status];
}

int reservation_status_parse(const char *text, enum reservation_status *out)
{
    for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++) {
        if (strcmp(text, status_names[i]) == 0) {
            *out = (enum reservation_status)i;
            return 0;
        }
    }
    return MS_EINTERNAL;
}

json_t *stock_to_json(const struct stock *stock)
{
    return json_pack("{s:I,s:I,s:I}", "product_id", (json_int_t)stock->product_id, "available",
                     (json_int_t)stock->available, "reserved", (json_int_t)stock->reserved);
}

json_t *reservation_to_json(const struct reservation *r)
{
    json_t *items = json_array();

    for (size_t i = 0; items && i < r->nitems; i++)
        json_array_append_new(items, json_pack("{s:I,s:I}", "product_id",
                                               (json_int_t)r->items[i].product_id, "quantity",
                                               (json_int_t)r->items[i].quantity));
    /* "o" steals items, also when packing fails */
    return json_pack("{s:s,s:s,s:o}", "reservation_id", r->id, "status",
                     reservation_status_name(r->status), "items", items);
}
