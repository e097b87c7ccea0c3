/* The cart service's route table and its handlers. Each handler ends at one label that counts
 * the answer in cart_operations_total and releases the cart, whichever way it went. */
#include "model.h"
#include "ms/err.h"

/* Counts the answer in res under its result label. A 500 (a bug) has no label: not counted. */
static void count(struct cart_svc *svc, enum cart_op op, const struct ms_res *res, bool degraded)
{
    switch (res->status) {
    case 200:
    case 204:
        cart_count(svc, op, degraded ? CART_RESULT_DEGRADED : CART_RESULT_OK);
        break;
    case 400:
        cart_count(svc, op, CART_RESULT_INVALID);
        break;
    case 404:
        cart_count(svc, op, CART_RESULT_NOT_FOUND);
        break;
    case 409:
        cart_count(svc, op, CART_RESULT_CONFLICT);
        break;
    case 503:
        cart_count(svc, op, CART_RESULT_UNAVAILABLE);
        break;
    default:
        break;
    }
}

/* The cart with names and prices when the product service answers, degraded when not. */
static void answer_cart(struct cart_svc *svc, struct ms_res *res, struct cart *cart)
{
    catalog_enrich(svc, cart);
    ms_res_json_new(res, 200, cart_to_json(cart));
}

/* Why the cart store failed, for the client: carts live in Redis alone. */
static const char *store_trouble(int rc)
{
    return rc == MS_ETIMEDOUT ? "the cart store timed out" : "the cart store is unavailable";
}

/* GET /cart/{userId}: the cart, items in product id order. */
static void get_cart(struct ms_req *req, struct ms_res *res)
{
    struct cart cart = {0};
    long long user;
    int rc;

    if (cart_id_or_400(req, res, "userId", &user))
        goto out;
    rc = cart_store_get(req->svc, user, &cart);
    if (rc) {
        ms_res_error(res, rc, "cannot read cart %lld: %s", user, store_trouble(rc));
        goto out;
    }
    answer_cart(req->svc, res, &cart);
out:
    count(req->svc, CART_OP_GET, res, cart.degraded);
    cart_release(&cart);
}

/* POST /cart/{userId} {"product_id","quantity"}: adds to the line (capped at 99), once the
 * product service has confirmed the product exists; the whole cart back. */
static void add_item(struct ms_req *req, struct ms_res *res)
{
    struct cart cart = {0};
    struct cart_line line;
    long long user;
    int rc;

    if (cart_id_or_400(req, res, "userId", &user) || cart_line_from_json_or_400(req, res, &line))
        goto out;
    rc = catalog_product_check(req->svc, line.product_id);
    if (rc == MS_EUNAVAIL || rc == MS_ETIMEDOUT) {
        ms_res_error(res, rc, "cannot confirm product %lld: the product service is unavailable",
                     line.product_id);
        goto out;
    }
    if (rc == 0)
        rc = cart_store_add(req->svc, user, &line, &cart);
    if (rc == MS_ENOTFOUND)
        ms_res_error(res, rc, "product %lld not found", line.product_id);
    else if (rc == MS_ECONFLICT)
        ms_res_error(res, rc, "a cart holds at most %d different products", CART_LINES_MAX);
    else if (rc)
        ms_res_error(res, rc, "cannot add to cart %lld: %s", user, store_trouble(rc));
    else
        answer_cart(req->svc, res, &cart);
out:
    count(req->svc, CART_OP_ADD, res, cart.degraded);
    cart_release(&cart);
}

/* DELETE /cart/{userId}/{productId}: removes one line; the cart left. */
static void remove_item(struct ms_req *req, struct ms_res *res)
{
    struct cart cart = {0};
    long long user, product;
    int rc;

    if (cart_id_or_400(req, res, "userId", &user) ||
        cart_id_or_400(req, res, "productId", &product))
        goto out;
    rc = cart_store_remove(req->svc, user, product, &cart);
    if (rc == MS_ENOTFOUND)
        ms_res_error(res, rc, "product %lld is not in cart %lld", product, user);
    else if (rc)
        ms_res_error(res, rc, "cannot change cart %lld: %s", user, store_trouble(rc));
    else
        answer_cart(req->svc, res, &cart);
out:
    count(req->svc, CART_OP_REMOVE, res, cart.degraded);
    cart_release(&cart);
}

/* DELETE /cart/{userId}: empties the cart; 204 whether or not it held anything. */
static void clear_cart(struct ms_req *req, struct ms_res *res)
{
    long long user;
    int rc;

    if (cart_id_or_400(req, res, "userId", &user))
        goto out;
    rc = cart_store_clear(req->svc, user);
    if (rc)
        ms_res_error(res, rc, "cannot clear cart %lld: %s", user, store_trouble(rc));
    else
        ms_res_empty(res, 204);
out:
    count(req->svc, CART_OP_CLEAR, res, false);
}

/* POST /cart/{userId}/checkout {"order_id","items"}: takes what an order bought out of the
 * cart, once per order; 204. */
static void checkout(struct ms_req *req, struct ms_res *res)
{
    struct cart_checkout co;
    long long user;
    int rc;

    if (cart_id_or_400(req, res, "userId", &user) || cart_checkout_from_json_or_400(req, res, &co))
        goto out;
    rc = cart_store_checkout(req->svc, user, &co);
    if (rc)
        ms_res_error(res, rc, "cannot change cart %lld: %s", user, store_trouble(rc));
    else
        ms_res_empty(res, 204);
out:
    count(req->svc, CART_OP_CLEAR, res, false);
}

const struct ms_route cart_routes[] = {
    {"GET", "/cart/{userId}", get_cart, 0, 0},
    {"POST", "/cart/{userId}", add_item, CART_BODY_MAX, MS_ROUTE_JSON},
    {"DELETE", "/cart/{userId}", clear_cart, 0, 0},
    {"POST", "/cart/{userId}/checkout", checkout, 8192, MS_ROUTE_JSON},
    {"DELETE", "/cart/{userId}/{productId}", remove_item, 0, 0},
};
const size_t cart_routes_len = sizeof(cart_routes) / sizeof(cart_routes[0]);
