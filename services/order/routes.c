/* The order service's route table and its handlers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms/err.h"
#include "ms/rand.h"
#include "ms/req.h"
#include "ms/res.h"
#include "order.h"

/* Answers with what a key's earlier request answered (rc 1 from idem_claim or idem_lookup). */
static void replay(struct ms_req *req, struct ms_res *res, struct idem_answer *prior)
{
    struct order_svc *svc = req->svc;

    ms_counter_inc(svc->results[ORDER_REPLAYED]);
    ms_res_body_new(res, prior->status, MS_CONTENT_TYPE_JSON, prior->body, strlen(prior->body));
    ms_res_header(res, "Idempotent-Replayed", "true");
}

/* A key held by a request still running: its own code, so a client can tell "wait and retry
 * with the same key" from "out of stock" (both are 409). */
static void key_in_progress(struct ms_res *res, const char *key)
{
    ms_res_error_status(res, 409, "idempotency_key_in_progress",
                        "a request with Idempotency-Key %s is still in progress", key);
    ms_res_header(res, "Retry-After", "1");
}

/* Answers a replay of an Idempotency-Key, or a reason the key cannot be used now. Returns 0 when
 * this request owns the key (claimed for owner) and must go on. */
static int idem_begin_or_answer(struct ms_req *req, struct ms_res *res, const char *key,
                                const char *owner)
{
    struct idem_answer prior = {0};
    char digest[17];
    int rc;

    request_digest(req->json, digest);
    rc = idem_claim(req->svc, key, digest, owner, &prior);
    if (rc == 0)
        return 0;
    if (rc == 1)
        replay(req, res, &prior);
    else if (rc == MS_EINVAL)
        ms_res_error_status(res, 422, "idempotency_key_reused",
                            "Idempotency-Key %s was used for a different request", key);
    else if (rc == MS_ECONFLICT)
        key_in_progress(res, key);
    else {
        idem_orphan_add(req->svc, key, owner); /* its claim may reach PostgreSQL all the same */
        ms_res_error(res, rc, "cannot check Idempotency-Key %s: %s", key, ms_strerror(rc));
    }
    return -1;
}

/* This request stalled past the claim TTL and a retry took its key over and bought: the
 * retry's order is this request's answer too, as for any replay. It only reads the key: the
 * claim is not this request's any more, whatever happened to it. */
static void answer_as_the_winner(struct ms_req *req, struct ms_res *res, const char *key)
{
    struct idem_answer prior = {0};
    char digest[17];
    int rc;

    request_digest(req->json, digest);
    rc = idem_lookup(req->svc, key, digest, &prior);
    if (rc == 1)
        replay(req, res, &prior);
    else if (rc == 2)
        key_in_progress(res, key);
    else
        ms_res_error(res, MS_EUNAVAIL, "the order of Idempotency-Key %s cannot be read back", key);
}

/* Keeps the answer for replays; a failure a retry may cure is forgotten instead. Either only
 * while this request (owner) still holds the key. A 201's order was linked to the key, which
 * answered it, in the statement that wrote the order: one round trip less per purchase. */
static void idem_end(struct order_svc *svc, const char *key, const char *owner,
                     const struct ms_res *res)
{
    int rc;

    if (res->status == 201)
        return;
    rc = res->status >= 500 ? idem_forget(svc, key, owner)
                            : idem_finish(svc, key, owner, res->status, res->body ? res->body : "");
    if (rc != 0) /* the claim stays in progress: the worker deletes it, unless it has an order */
        idem_orphan_add(svc, key, owner);
}

static int checkout_or_400(struct ms_req *req, struct ms_res *res, struct checkout *co,
                           const char *key)
{
    struct ms_verr e;

    if (checkout_from_json(req->json, co, &e))
        ms_res_error(res, MS_EINVAL, "%s", e.msg);
    else if (key && !idempotency_key_valid(key))
        ms_res_error(res, MS_EINVAL, "Idempotency-Key must be 1 to %d visible characters",
                     ORDER_IDEM_KEY_MAX);
    else
        return 0;
    order_count(req->svc, MS_EINVAL);
    return -1;
}

/* The answer to a purchase that was not a replay. */
static void answer_checkout(struct ms_req *req, struct ms_res *res, int rc, const struct ms_verr *e,
                            char *doc, size_t len)
{
    order_count(req->svc, rc);
    if (rc == MS_ECONFLICT)
        ms_res_error_status(res, 409, "out_of_stock", "%s", e->msg);
    else if (rc)
        ms_res_error(res, rc, "%s", e->msg);
    else
        ms_res_body_new(res, 201, MS_CONTENT_TYPE_JSON, doc, len);
}

/* POST /orders: buy the cart ({"user_id"}) or the given items ({"user_id","items"}). */
static void create_order(struct ms_req *req, struct ms_res *res)
{
    const char *key = ms_req_header(req, "Idempotency-Key");
    struct checkout co;
    struct ms_verr e;
    char owner[40];
    char *doc = NULL;
    size_t len = 0;
    int rc;

    ms_uuid4(owner, sizeof(owner));
    if (checkout_or_400(req, res, &co, key) || (key && idem_begin_or_answer(req, res, key, owner)))
        return;
    rc = checkout_run(req->svc, &co, key, &doc, &len, &e);
    if (co.idem_lost) {
        answer_as_the_winner(req, res, key);
        return;
    }
    answer_checkout(req, res, rc, &e, doc, len);
    if (key)
        idem_end(req->svc, key, owner, res);
}

/* GET /orders/{id} */
static void get_order(struct ms_req *req, struct ms_res *res)
{
    const char *id = ms_req_param(req, "id");
    char *doc = NULL;
    size_t len = 0;
    int rc;

    if (!order_id_valid(id)) {
        ms_res_error(res, MS_EINVAL, "order id must be a UUID");
        return;
    }
    rc = order_document_get(req->svc, id, &doc, &len);
    if (rc == MS_ENOTFOUND)
        ms_res_error(res, rc, "order %s not found", id);
    else if (rc)
        ms_res_error(res, rc, "cannot read order %s: %s", id, ms_strerror(rc));
    else
        ms_res_body_new(res, 200, MS_CONTENT_TYPE_JSON, doc, len);
}

/* GET /orders?user_id=: that user's orders, newest first. */
static void list_orders(struct ms_req *req, struct ms_res *res)
{
    long long user_id;
    char *doc = NULL;
    size_t len = 0;
    int rc;

    if (ms_req_query_only_or_400(req, res, "user_id"))
        return;
    if (!ms_req_query(req, "user_id")) {
        ms_res_error(res, MS_EINVAL, "query parameter user_id is required");
        return;
    }
    if (ms_req_query_ll_or_400(req, res, "user_id", 0, 1, ORDER_USER_ID_MAX, &user_id))
        return;
    rc = order_list_for_user(req->svc, user_id, &doc, &len);
    if (rc) {
        ms_res_error(res, rc, "cannot list the orders of user %lld: %s", user_id, ms_strerror(rc));
        return;
    }
    ms_res_body_new(res, 200, MS_CONTENT_TYPE_JSON, doc, len);
}

const struct ms_route order_routes[] = {
    {"POST", "/orders", create_order, 16384, MS_ROUTE_JSON},
    {"GET", "/orders", list_orders, 0, 0},
    {"GET", "/orders/{id}", get_order, 0, 0},
};
const size_t order_routes_len = sizeof(order_routes) / sizeof(order_routes[0]);
