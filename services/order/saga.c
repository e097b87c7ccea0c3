/* The purchase: check the user, read the cart, price every line, reserve the stock, write the
 * order, commit the reservation, clear the cart, wake the event publisher. A step that fails
 * after stock was reserved releases it, so nothing is left half-done; once the order is
 * written, later steps that fail are finished in the background instead of failing it. */
#include <stdio.h>

#include "ms/budget.h"
#include "ms/err.h"
#include "ms/log.h"
#include "ms/rand.h"
#include "order.h"

/* What settling a step already begun (giving a reservation back, learning an insert's fate and
 * finishing the purchase) is given past a spent budget (ms/budget.h): a healthy dependency
 * answers in a few ms, and a link that lost an answer is often back within it. What it does
 * not settle is the worker's, or the client's retry with the same key. */
enum { SETTLE_GRACE_MS = 500 };

static const char *const result_names[ORDER_RESULT_COUNT] = {
    "confirmed", "invalid", "not_found", "out_of_stock", "unavailable", "replayed",
};

void order_count(struct order_svc *svc, int rc)
{
    enum order_result r = ORDER_UNAVAILABLE;

    if (rc == 0)
        r = ORDER_CONFIRMED;
    else if (rc == MS_EINVAL)
        r = ORDER_INVALID;
    else if (rc == MS_ENOTFOUND)
        r = ORDER_NOT_FOUND;
    else if (rc == MS_ECONFLICT)
        r = ORDER_OUT_OF_STOCK;
    ms_counter_inc(svc->results[r]);
}

void order_results_init(struct order_svc *svc)
{
    struct ms_family *f = ms_counter_family("orders_total", "Order requests by result.", "result");

    for (int r = 0; r < ORDER_RESULT_COUNT; r++)
        svc->results[r] = ms_series_get(f, (const char *const[]){result_names[r]});
}

/* Everything the order needs before stock is touched. */
static int gather(struct order_svc *svc, struct checkout *co, struct ms_verr *e)
{
    int rc = user_email_get(svc, co, e);

    if (rc == 0 && co->from_cart)
        rc = cart_lines_get(svc, co, e);
    if (rc == 0)
        rc = lines_price(svc, co, e);
    return rc;
}

/* Takes the lines bought out of the cart, and only those: a line added while the order ran
 * stays. A failure is counted and left to the worker (orders.cart_cleared). */
static void cart_clear_bought(struct order_svc *svc, const struct checkout *co)
{
    json_t *items = json_array();
    int rc;

    for (size_t i = 0; items && i < co->nlines; i++)
        json_array_append_new(items, json_pack("{s:I,s:I}", "product_id",
                                               (json_int_t)co->lines[i].product_id, "quantity",
                                               (json_int_t)co->lines[i].quantity));
    rc = items ? cart_take_bought(svc, co->user_id, co->order_id, items) : MS_ENOMEM;
    json_decref(items);
    if (rc == 0 || rc == MS_EINVAL)
        order_mark_cart_cleared(svc, co->order_id);
    else
        ms_counter_inc(svc->cart_clear_failures);
}

/* Steps after the order is written: failures here are finished by the worker or harmless. */
static void follow_up(struct order_svc *svc, const struct checkout *co)
{
    order_stock_commit(svc, co->order_id, false);
    if (co->from_cart)
        cart_clear_bought(svc, co);
    worker_wake(svc);
}

/* Gives the order's reservation back now, or, when inventory cannot be told (its breaker is
 * open, the call failed), through the worker later: never left held for inventory's TTL. The
 * failure that led here may have spent the request's budget; the release gets a little more. */
static void release_or_later(struct order_svc *svc, const char *order_id)
{
    ms_budget_grace(SETTLE_GRACE_MS);
    if (stock_release(svc, order_id) != 0)
        order_release_later(svc, order_id);
}

/* A reservation that failed by time-out or a lost answer may still have been made, or be made
 * after this release arrives: release it either way (inventory's tombstone makes a late reserve
 * a no-op). */
static int release_if_unsure(struct order_svc *svc, const struct checkout *co, int rc)
{
    if (rc == MS_EUNAVAIL || rc == MS_ETIMEDOUT)
        release_or_later(svc, co->order_id);
    return rc;
}

/* The order was not stored: its stock goes back. */
static int not_stored(struct order_svc *svc, const struct checkout *co, int rc, struct ms_verr *e)
{
    release_or_later(svc, co->order_id);
    snprintf(e->msg, sizeof(e->msg), "the order could not be stored: %s", ms_strerror(rc));
    return MS_EUNAVAIL;
}

/* The insert got no answer: PostgreSQL may have committed it. Its fate decides, once and for
 * all (order_fate): placed, the purchase goes on as if the answer had come; abandoned, it was
 * never stored and never will be, so the stock goes back. Unknown (PostgreSQL unreachable):
 * nothing is undone, since the order may exist; if it does, the worker commits its stock, if
 * not, inventory's reaper gives the reservation back. */
static int settle_ambiguous_insert(struct order_svc *svc, const struct checkout *co, char **json,
                                   size_t *len, struct ms_verr *e)
{
    int fate = order_fate(svc, co->order_id);

    if (fate == 1) {
        ms_counter_inc(svc->ambiguous[0]);
        if (order_document_get(svc, co->order_id, json, len) != 0)
            *json = NULL; /* placed: said below as "cannot be read back" */
        return 0;
    }
    if (fate == 0) {
        ms_counter_inc(svc->ambiguous[1]);
        return not_stored(svc, co, MS_EUNAVAIL, e);
    }
    ms_counter_inc(svc->ambiguous[2]);
    snprintf(e->msg, sizeof(e->msg),
             "order %s may have been placed; retry with the same Idempotency-Key", co->order_id);
    return MS_EUNAVAIL;
}

int checkout_run(struct order_svc *svc, struct checkout *co, const char *idem_key, char **json,
                 size_t *len, struct ms_verr *e)
{
    int rc;

    ms_uuid4(co->order_id, sizeof(co->order_id));
    rc = gather(svc, co, e);
    if (rc)
        return rc;
    rc = stock_reserve(svc, co, e);
    if (rc)
        return release_if_unsure(svc, co, rc);
    rc = order_insert(svc, co, idem_key, json, len);
    if (rc == MS_ECONFLICT) {
        release_or_later(svc, co->order_id); /* the other request's order holds the stock */
        co->idem_lost = true;
        snprintf(e->msg, sizeof(e->msg), "another request with this Idempotency-Key bought first");
        return rc;
    }
    if (rc == MS_EUNAVAIL || rc == MS_ETIMEDOUT) {
        ms_budget_grace(SETTLE_GRACE_MS);
        rc = settle_ambiguous_insert(svc, co, json, len, e);
    } else if (rc) {
        rc = not_stored(svc, co, rc, e);
    }
    if (rc)
        return rc;
    follow_up(svc, co);
    if (!*json) {
        snprintf(e->msg, sizeof(e->msg), "order %s was placed but cannot be read back",
                 co->order_id);
        return MS_EUNAVAIL;
    }
    return 0;
}
