/* Cart validation and serialisation. */
#include "model.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ms/err.h"
#include "ms/json.h"

int cart_id_or_400(struct ms_req *req, struct ms_res *res, const char *name, long long *out)
{
    if (ms_parse_ll(ms_req_param(req, name), 1, INT32_MAX, out) == 0)
        return 0;
    ms_res_error(res, MS_EINVAL, "%s must be an integer from 1 to %d", name, INT32_MAX);
    return -1;
}

int cart_line_from_json_or_400(struct ms_req *req, struct ms_res *res, struct cart_line *line)
{
    struct ms_verr e;
    long long id, quantity;

    if (ms_json_object_with_keys(req->json, "product_id,quantity", &e) ||
        ms_json_int(req->json, "product_id", 1, INT32_MAX, &id, &e) ||
        ms_json_int(req->json, "quantity", 1, CART_QUANTITY_MAX, &quantity, &e)) {
        ms_res_error(res, MS_EINVAL, "%s", e.msg);
        return -1;
    }
    *line = (struct cart_line){.product_id = id, .quantity = (int)quantity};
    return 0;
}

/* One bought line; quantities up to the order's own maximum. */
static int bought_line(const json_t *item, struct cart_line *line, struct ms_verr *e)
{
    long long id, quantity;

    if (ms_json_object_with_keys(item, "product_id,quantity", e) ||
        ms_json_int(item, "product_id", 1, INT32_MAX, &id, e) ||
        ms_json_int(item, "quantity", 1, CART_QUANTITY_MAX, &quantity, e))
        return -1;
    *line = (struct cart_line){.product_id = id, .quantity = (int)quantity};
    return 0;
}

static bool order_id_ok(const char *s)
{
    size_t len =
        s ? strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") : 0;

    return len >= 1 && len <= 64 && s[len] == '\0';
}

int cart_checkout_from_json_or_400(struct ms_req *req, struct ms_res *res, struct cart_checkout *co)
{
    const json_t *items = json_object_get(req->json, "items");
    const char *order_id = json_string_value(json_object_get(req->json, "order_id"));
    struct ms_verr e = {{0}};
    int rc = ms_json_object_with_keys(req->json, "order_id,items", &e);

    if (rc == 0 && !order_id_ok(order_id))
        rc = ms_verr_set(&e, MS_EINVAL, "order_id must be 1 to 64 characters of A-Z a-z 0-9 -");
    if (rc == 0 && (json_array_size(items) < 1 || json_array_size(items) > CART_LINES_MAX))
        rc = ms_verr_set(&e, MS_EINVAL, "items must be an array of 1 to %d lines", CART_LINES_MAX);
    for (size_t i = 0; rc == 0 && i < json_array_size(items); i++)
        rc = bought_line(json_array_get(items, i), &co->lines[i], &e);
    if (rc) {
        ms_res_error(res, MS_EINVAL, "%s", e.msg);
        return -1;
    }
    snprintf(co->order_id, sizeof(co->order_id), "%s", order_id);
    co->n = json_array_size(items);
    return 0;
}

static json_t *line_to_json(const struct cart_line *l, bool degraded)
{
    json_int_t id = l->product_id;

    if (degraded)
        return json_pack("{s:I,s:i}", "product_id", id, "quantity", l->quantity);
    if (!l->name) /* the product service no longer knows it */
        return json_pack("{s:I,s:i,s:n,s:n}", "product_id", id, "quantity", l->quantity, "name",
                         "price_cents");
    return json_pack("{s:I,s:i,s:s,s:I}", "product_id", id, "quantity", l->quantity, "name",
                     l->name, "price_cents", (json_int_t)l->price_cents);
}

json_t *cart_to_json(const struct cart *cart)
{
    json_t *items = json_array();
    long long total = 0;

    for (size_t i = 0; items && i < cart->n; i++) {
        const struct cart_line *l = &cart->lines[i];

        if (json_array_append_new(items, line_to_json(l, cart->degraded))) {
            json_decref(items);
            return NULL;
        }
        /* no overflow: catalog.c bounds prices to 32 bits, lines and quantities are bounded */
        if (l->name)
            total += l->price_cents * l->quantity;
    }
    return json_pack("{s:I,s:o,s:o,s:b}", "user_id", (json_int_t)cart->user_id, "items", items,
                     "total_cents", cart->degraded ? json_null() : json_integer(total), "degraded",
                     cart->degraded);
}
