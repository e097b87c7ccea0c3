/* The order service's calls to user, cart, product and inventory. Each turns the other
 * service's answer into an ms_err code and a message the client can act on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms/err.h"
#include "order.h"

/* One call with an optional JSON body. 0 when an answer came (*status set, *doc its JSON body
 * or NULL), else the transport error (MS_EUNAVAIL, MS_ETIMEDOUT, ...). */
static int call(struct ms_upstream *u, const char *method, const char *path, json_t *body,
                bool idempotent, long *status, json_t **doc)
{
    struct ms_http_response r = {0};
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int rc = ms_http_request(u, method, path, text, text ? strlen(text) : 0, NULL, idempotent, &r);

    free(text);
    *doc = NULL;
    if (rc == 0) {
        *status = r.status;
        *doc = json_loadb(r.body, r.body_len, 0, NULL);
    }
    ms_http_response_free(&r);
    return rc;
}

/* The message inside another service's error envelope, or fallback. */
static const char *their_message(const json_t *doc, const char *fallback)
{
    const char *m = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));

    return m ? m : fallback;
}

/* The answer of a dependency that failed us: down, slow or saying something unexpected. */
static int unavailable(struct ms_verr *e, int rc, const char *service)
{
    return ms_verr_set(e, rc == MS_ETIMEDOUT ? MS_ETIMEDOUT : MS_EUNAVAIL,
                       "the %s service is unavailable", service);
}

int user_email_get(struct order_svc *svc, struct checkout *co, struct ms_verr *e)
{
    char path[64];
    long status = 0;
    json_t *doc;
    const char *email;
    int rc;

    snprintf(path, sizeof(path), "/users/%lld", co->user_id);
    rc = call(svc->user, "GET", path, NULL, true, &status, &doc);
    email = json_string_value(json_object_get(doc, "email"));
    if (rc == 0 && status == 200 && email)
        snprintf(co->email, sizeof(co->email), "%s", email);
    else if (rc == 0 && status == 404)
        rc = ms_verr_set(e, MS_ENOTFOUND, "user %lld not found", co->user_id);
    else
        rc = unavailable(e, rc, "user");
    json_decref(doc);
    return rc;
}

static int lines_from_cart(const json_t *items, struct checkout *co, struct ms_verr *e)
{
    size_t n = json_array_size(items);

    if (n == 0)
        return ms_verr_set(e, MS_EINVAL, "the cart of user %lld is empty", co->user_id);
    if (n > ORDER_LINES_MAX)
        return ms_verr_set(e, MS_EINVAL, "the cart has more than %d lines", ORDER_LINES_MAX);
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(items, i);
        co->lines[i].product_id = json_integer_value(json_object_get(item, "product_id"));
        co->lines[i].quantity = json_integer_value(json_object_get(item, "quantity"));
        if (co->lines[i].product_id < 1 || co->lines[i].quantity < 1 ||
            co->lines[i].quantity > ORDER_QUANTITY_MAX)
            return ms_verr_set(e, MS_EUNAVAIL, "the cart service answered an invalid cart");
    }
    co->nlines = n;
    return 0;
}

int cart_lines_get(struct order_svc *svc, struct checkout *co, struct ms_verr *e)
{
    char path[64];
    long status = 0;
    json_t *doc;
    int rc;

    snprintf(path, sizeof(path), "/cart/%lld", co->user_id);
    rc = call(svc->cart, "GET", path, NULL, true, &status, &doc);
    if (rc == 0 && status == 200)
        rc = lines_from_cart(json_object_get(doc, "items"), co, e);
    else
        rc = unavailable(e, rc, "cart");
    json_decref(doc);
    return rc;
}

/* Copies name into line, cut (should it ever be longer than the buffer) at a character
 * boundary: half a UTF-8 character would make the line impossible to write as JSON. */
static void name_copy(struct order_line *line, const char *name)
{
    size_t n = strlen(name);

    if (n > ORDER_NAME_MAX) {
        n = ORDER_NAME_MAX;
        while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
            n--; /* name[n] continues a character: cut before that character starts */
    }
    memcpy(line->name, name, n);
    line->name[n] = '\0';
}

/* Fills one line's name and price from the product list answer. A price outside what an order
 * line can hold is the product service's bug, not something to multiply. */
static int price_line(const json_t *items, struct order_line *line, struct ms_verr *e)
{
    size_t i;
    const json_t *p;

    json_array_foreach(items, i, p)
    {
        const char *name = json_string_value(json_object_get(p, "name"));
        json_int_t price = json_integer_value(json_object_get(p, "price_cents"));
        if (json_integer_value(json_object_get(p, "id")) != line->product_id)
            continue;
        if (!name || !name[0] || price < 0 || price > ORDER_PRICE_MAX)
            return ms_verr_set(e, MS_EUNAVAIL, "the product service answered an invalid product");
        name_copy(line, name);
        line->unit_price_cents = price;
        return 0;
    }
    return ms_verr_set(e, MS_ENOTFOUND, "product %lld not found", line->product_id);
}

int lines_price(struct order_svc *svc, struct checkout *co, struct ms_verr *e)
{
    char path[1400];
    size_t len = (size_t)snprintf(path, sizeof(path), "/products?limit=100&ids=");
    long status = 0;
    json_t *doc;
    int rc;

    for (size_t i = 0; i < co->nlines; i++)
        len += (size_t)snprintf(path + len, sizeof(path) - len, "%s%lld", i ? "," : "",
                                co->lines[i].product_id);
    rc = call(svc->product, "GET", path, NULL, true, &status, &doc);
    if (rc != 0 || status != 200) {
        json_decref(doc);
        return unavailable(e, rc, "product");
    }
    co->total_cents = 0;
    for (size_t i = 0; rc == 0 && i < co->nlines; i++) {
        rc = price_line(json_object_get(doc, "items"), &co->lines[i], e);
        co->total_cents += co->lines[i].unit_price_cents * co->lines[i].quantity;
    }
    json_decref(doc);
    return rc;
}

static json_t *reservation_body(const struct checkout *co)
{
    json_t *items = json_array();

    for (size_t i = 0; items && i < co->nlines; i++)
        json_array_append_new(items, json_pack("{s:I,s:I}", "product_id",
                                               (json_int_t)co->lines[i].product_id, "quantity",
                                               (json_int_t)co->lines[i].quantity));
    return json_pack("{s:s,s:o}", "reservation_id", co->order_id, "items", items);
}

/* A reservation answer that holds the stock: a replay may answer a tombstone ("released") left
 * by a release that overtook the reserve. */
static bool held(const json_t *doc)
{
    const char *status = json_string_value(json_object_get(doc, "status"));

    return status && (strcmp(status, "held") == 0 || strcmp(status, "committed") == 0);
}

int stock_reserve(struct order_svc *svc, const struct checkout *co, struct ms_verr *e)
{
    json_t *body = reservation_body(co), *doc = NULL;
    long status = 0;
    /* the reservation id makes a retried POST return the first reservation: safe to retry */
    int rc = call(svc->inventory, "POST", "/inventory/reservations", body, true, &status, &doc);

    json_decref(body);
    if (rc == 0 && status == 201 && !held(doc))
        rc = ms_verr_set(e, MS_EUNAVAIL, "the reservation was given up while it was being made");
    else if (rc == 0 && status == 201)
        rc = 0;
    else if (rc == 0 && status == 409)
        rc = ms_verr_set(e, MS_ECONFLICT, "%s", their_message(doc, "out of stock"));
    else if (rc == 0 && status == 404)
        rc = ms_verr_set(e, MS_ENOTFOUND, "%s", their_message(doc, "no stock for a product"));
    else
        rc = unavailable(e, rc, "inventory");
    json_decref(doc);
    return rc;
}

/* commit or release; a release of a reservation that was never made is already done */
static int reservation_step(struct order_svc *svc, const char *order_id, const char *step)
{
    char path[128];
    long status = 0;
    json_t *doc = NULL;
    int rc;

    snprintf(path, sizeof(path), "/inventory/reservations/%s/%s", order_id, step);
    rc = call(svc->inventory, "POST", path, NULL, true, &status, &doc);
    json_decref(doc);
    if (rc)
        return rc;
    if (status == 200 || (status == 404 && strcmp(step, "release") == 0))
        return 0;
    return status == 409 ? MS_ECONFLICT : MS_EUNAVAIL;
}

int stock_commit(struct order_svc *svc, const char *order_id)
{
    return reservation_step(svc, order_id, "commit");
}

int stock_release(struct order_svc *svc, const char *order_id)
{
    return reservation_step(svc, order_id, "release");
}

int cart_take_bought(struct order_svc *svc, long long user_id, const char *order_id, json_t *items)
{
    char path[64];
    long status = 0;
    json_t *body = json_pack("{s:s,s:O}", "order_id", order_id, "items", items);
    json_t *doc = NULL;
    int rc = body ? 0 : MS_ENOMEM;

    snprintf(path, sizeof(path), "/cart/%lld/checkout", user_id);
    if (rc == 0)
        rc = call(svc->cart, "POST", path, body, true, &status, &doc);
    json_decref(body);
    json_decref(doc);
    if (rc)
        return rc;
    if (status == 204)
        return 0;
    return status >= 400 && status < 500 ? MS_EINVAL : MS_EUNAVAIL;
}
