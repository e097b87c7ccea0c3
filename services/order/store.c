/* Orders, idempotency keys and the outbox in PostgreSQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms/budget.h"
#include "ms/clock.h"
#include "ms/err.h"
#include "ms/log.h"
#include "order.h"

/* The order, its lines and the link from its idempotency key ($6, may be NULL) in one
 * statement (with $7 whether its lines come from the cart, to be cleared), so one transaction:
 * either all exist or none does. With a key, the order is written only if the key has no order yet:
 * a request that stalled past the claim TTL while a retry took its key over must not buy a second
 * time (the key's row lock makes the later of two such writers see the earlier one's order and
 * write nothing). The key is answered there and then: its answer is its order (idem_read), so
 * a request that placed one has nothing left to record. It answers with the order's document, built
 * from what it wrote exactly as order_document() builds it from the tables (the same keys, types
 * and order), which saves reading the order back; no row when nothing was written. Its event comes
 * later, with its stock (order_mark_reservation). */
static const char sql_insert[] =
    "WITH k AS (UPDATE idempotency_keys SET order_id = $1::uuid, status = 'done', "
    "           response_status = 201 WHERE key = $6::text AND order_id IS NULL RETURNING key), "
    "o AS (INSERT INTO orders (id, user_id, email, status, total_cents, cart_cleared) "
    "      SELECT $1::uuid, $2::bigint, $3::text, 'confirmed', $4::bigint, "
    "             CASE WHEN $7::bool THEN false END "
    "      WHERE $6::text IS NULL OR EXISTS (SELECT 1 FROM k) "
    "      RETURNING id, user_id, status, total_cents, currency, created_at), "
    "i AS (INSERT INTO order_items (order_id, product_id, name, quantity, unit_price_cents) "
    "      SELECT o.id, (x->>'product_id')::int, x->>'name', (x->>'quantity')::int, "
    "             (x->>'unit_price_cents')::int FROM o CROSS JOIN json_array_elements($5::json) "
    "x RETURNING product_id, name, quantity, unit_price_cents), "
    "f AS (INSERT INTO order_fates (id, fate) SELECT id, 'placed' FROM o) "
    "SELECT json_build_object("
    "    'id', o.id, 'user_id', o.user_id, 'status', o.status, "
    "    'items', (SELECT coalesce(json_agg(json_build_object("
    "                  'product_id', i.product_id, 'name', i.name, "
    "                  'quantity', i.quantity, 'unit_price_cents', i.unit_price_cents) "
    "              ORDER BY i.product_id), '[]'::json) FROM i), "
    "    'total_cents', o.total_cents, 'currency', o.currency, "
    "    'created_at', to_char(o.created_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"
    "::text FROM o";

static int query(struct order_svc *svc, const char *sql, int n, const char *const *params,
                 PGresult **out)
{
    return ms_migrator_query(&svc->migrator, sql, n, params, out);
}

/* How long a statement that is safe to repeat is tried again after its answer was lost. */
enum { SURE_WITHIN_MS = 2000, SURE_PAUSE_MS = 50 };

/* How long a request's own statement is tried again while no connection can be had at all (a
 * pool reconnecting after a lost answer, or PostgreSQL down): short, so that an outage still
 * gets an honest 503 well under a second, also when nginx asks a second time. */
enum { UNSENT_WITHIN_MS = 300 };

/* One run of a statement on a connection of its own. *sent says whether it went out: with no
 * connection to be had (PostgreSQL down or unreachable) it never did, so nothing is ambiguous
 * and there is nothing to ask again. */
static int run_once(struct order_svc *svc, const char *sql, int n, const char *const *params,
                    PGresult **out, bool *sent)
{
    struct ms_pg_conn *conn = NULL;
    int rc = ms_migrator_acquire(&svc->migrator, &conn);

    *out = NULL;
    *sent = rc == 0;
    if (rc == 0)
        rc = ms_pg_query(conn, sql, n, params, out);
    ms_pg_release(svc->migrator.pool, conn);
    return rc;
}

/* Runs a statement that is safe to repeat, asking again on a fresh connection for up to
 * SURE_WITHIN_MS while the answer is lost (the connection reset, the client's deadline). With
 * unsent_too it waits as long while no connection can be had at all; without, such a statement
 * (nothing is ambiguous: it never went out) is tried again only for UNSENT_WITHIN_MS, so that
 * PostgreSQL down gets a fast 503, not seconds of retries holding a worker. Never past the
 * request's budget (ms/budget.h): once it is spent every run fails at once, and what is left
 * undone is the worker's. */
static int query_retrying(struct order_svc *svc, const char *sql, int n, const char *const *params,
                          PGresult **out, bool unsent_too)
{
    int64_t start = ms_now_ms();
    bool sent;
    int rc = run_once(svc, sql, n, params, out, &sent);

    while ((rc == MS_EUNAVAIL || rc == MS_ETIMEDOUT) && !ms_budget_spent() &&
           ms_now_ms() - start < (sent || unsent_too ? SURE_WITHIN_MS : UNSENT_WITHIN_MS)) {
        ms_sleep_ms(SURE_PAUSE_MS);
        rc = run_once(svc, sql, n, params, out, &sent);
    }
    return rc;
}

/* query() for a statement whose second run changes nothing the first did not (an upsert keyed
 * by its own request, a conditional update, a read): a lost answer is not an answer. */
static int query_sure(struct order_svc *svc, const char *sql, int n, const char *const *params,
                      PGresult **out)
{
    return query_retrying(svc, sql, n, params, out, false);
}

/* query_sure for the statements that finish what a request has begun (its key's answer, the
 * marks on an order already written, an order's fate after a lost answer): left undone they
 * leave a key in progress or an order unsettled, so a connection that cannot be had yet (the
 * link that lost an answer may still be down) is worth the same short wait. A request's first
 * statements fail fast instead: while PostgreSQL is down they get an honest 503 at once. */
static int query_settle(struct order_svc *svc, const char *sql, int n, const char *const *params,
                        PGresult **out)
{
    return query_retrying(svc, sql, n, params, out, true);
}

/* PostgreSQL writes json as {"id" : 1}; every other answer of the suite is compact. */
static int compact(const char *json, size_t n, char **text, size_t *len)
{
    json_t *doc = json_loadb(json, n, 0, NULL);

    *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (!*text)
        return MS_EINTERNAL;
    *len = strlen(*text);
    return 0;
}

/* Runs a statement whose result is one text value (or none), copied out to *text. */
static int query_text(struct order_svc *svc, const char *sql, int n, const char *const *params,
                      char **text, size_t *len)
{
    PGresult *res = NULL;
    int rc = query_sure(svc, sql, n, params, &res);

    if (rc == 0 && (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)))
        rc = MS_ENOTFOUND;
    if (rc == 0)
        rc = compact(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), text, len);
    PQclear(res);
    return rc;
}

/* Every line, or NULL: a line that cannot be written (a name that is not UTF-8) fails the
 * whole order rather than being left out of it while the total still counts it. */
static json_t *lines_json(const struct checkout *co)
{
    json_t *items = json_array();

    for (size_t i = 0; items && i < co->nlines; i++) {
        const struct order_line *l = &co->lines[i];
        json_t *line = json_pack("{s:I,s:s,s:I,s:I}", "product_id", (json_int_t)l->product_id,
                                 "name", l->name, "quantity", (json_int_t)l->quantity,
                                 "unit_price_cents", (json_int_t)l->unit_price_cents);
        if (json_array_append_new(items, line) != 0) { /* it steals line, NULL included */
            json_decref(items);
            items = NULL;
        }
    }
    return items;
}

int order_insert(struct order_svc *svc, const struct checkout *co, const char *idem_key,
                 char **json, size_t *len)
{
    char user[24], total[24];
    json_t *items = lines_json(co);
    char *items_text = items ? json_dumps(items, JSON_COMPACT) : NULL;
    const char *params[] = {
        co->order_id, user, co->email, total, items_text, idem_key, co->from_cart ? "t" : "f"};
    PGresult *res = NULL;
    int rc = MS_ENOMEM;

    *json = NULL;
    snprintf(user, sizeof(user), "%lld", co->user_id);
    snprintf(total, sizeof(total), "%lld", co->total_cents);
    if (items_text)
        rc = query(svc, sql_insert, 7, params, &res);
    if (rc == 0 && PQntuples(res) == 0)
        rc = MS_ECONFLICT; /* the key got its order from another request meanwhile */
    /* stored from here on: a document that cannot be made leaves *json NULL, not an error */
    if (rc == 0 && PQntuples(res) == 1 &&
        compact(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), json, len) != 0)
        *json = NULL;
    PQclear(res);
    free(items_text);
    json_decref(items);
    return rc;
}

int order_document_get(struct order_svc *svc, const char *id, char **json, size_t *len)
{
    const char *params[] = {id};

    return query_text(svc, "SELECT order_document($1::uuid)::text", 1, params, json, len);
}

int order_list_for_user(struct order_svc *svc, long long user_id, char **json, size_t *len)
{
    static const char sql[] =
        "SELECT json_build_object('items', coalesce(json_agg(order_document(t.id) "
        "ORDER BY t.created_at DESC), '[]'::json))::text FROM (SELECT id, created_at FROM "
        "orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT 50) t";
    char user[24];
    const char *params[] = {user};

    snprintf(user, sizeof(user), "%lld", user_id);
    return query_text(svc, sql, 1, params, json, len);
}

/* ---- idempotency keys ---- */

enum { IDEM_WAIT_MS = 3000, IDEM_WAIT_RESERVE_MS = 100 };

/* 0 when this request now owns the key, 1 when the key exists. A claim for the same request
 * that is older than the claim TTL and never got as far as an order belongs to a request that
 * died (the process was killed mid-purchase): this request takes it over, atomically, instead
 * of every retry being told forever that the first is still in progress. */
static int idem_insert(struct order_svc *svc, const char *key, const char *digest,
                       const char *owner)
{
    char ttl[16];
    const char *params[] = {key, digest, ttl, owner};
    PGresult *res = NULL;
    int rc;

    snprintf(ttl, sizeof(ttl), "%d", svc->idem_claim_ttl_s);
    rc = query_sure(
        svc,
        "INSERT INTO idempotency_keys (key, request_hash, status, owner) "
        "VALUES ($1, $2, 'in_progress', $4::uuid) ON CONFLICT (key) DO UPDATE "
        "SET created_at = now(), owner = EXCLUDED.owner "
        "WHERE idempotency_keys.status = 'in_progress' AND idempotency_keys.order_id IS NULL "
        "AND idempotency_keys.request_hash = EXCLUDED.request_hash "
        "AND idempotency_keys.created_at < now() - make_interval(secs => $3::int) "
        "OR idempotency_keys.owner = EXCLUDED.owner AND idempotency_keys.order_id IS NULL "
        "RETURNING 1",
        4, params, &res);

    if (rc == 0)
        rc = PQntuples(res) == 1 ? 0 : 1;
    PQclear(res);
    return rc;
}

static int answer_copy(struct idem_answer *prior, int status, const char *body)
{
    prior->status = status;
    prior->body = strdup(body);
    return prior->body ? 1 : MS_ENOMEM;
}

/* 1 answered (*prior filled), 2 still in progress, MS_ENOTFOUND gone, MS_EINVAL other request.
 * An order linked to the key is the answer whatever else the row says: a stored answer can
 * only be older news (a 409 or 503 written by a request that lost the key to the one that
 * bought). */
static int idem_read(struct order_svc *svc, const char *key, const char *digest,
                     struct idem_answer *prior)
{
    const char *params[] = {key};
    PGresult *res = NULL;
    int rc = query_sure(svc,
                        "SELECT request_hash, status, response_status, response_body, "
                        "order_document(order_id)::text FROM idempotency_keys WHERE key = $1",
                        1, params, &res);

    if (rc == 0 && PQntuples(res) == 0)
        rc = MS_ENOTFOUND;
    else if (rc == 0 && strcmp(PQgetvalue(res, 0, 0), digest) != 0)
        rc = MS_EINVAL;
    else if (rc == 0 && !PQgetisnull(res, 0, 4))
        rc = answer_copy(prior, 201, PQgetvalue(res, 0, 4));
    else if (rc == 0 && strcmp(PQgetvalue(res, 0, 1), "done") == 0)
        rc = answer_copy(prior, atoi(PQgetvalue(res, 0, 2)), PQgetvalue(res, 0, 3));
    else if (rc == 0)
        rc = 2;
    PQclear(res);
    return rc;
}

int idem_lookup(struct order_svc *svc, const char *key, const char *digest,
                struct idem_answer *prior)
{
    return idem_read(svc, key, digest, prior);
}

int idem_claim(struct order_svc *svc, const char *key, const char *digest, const char *owner,
               struct idem_answer *prior)
{
    /* the wait ends in time for the 409 to be the answer, not a spent budget's 503 */
    int64_t deadline =
        ms_budget_deadline_after(IDEM_WAIT_MS + IDEM_WAIT_RESERVE_MS) - IDEM_WAIT_RESERVE_MS;

    for (;;) {
        int rc = idem_insert(svc, key, digest, owner);
        if (rc <= 0)
            return rc; /* claimed, or the database failed */
        rc = idem_read(svc, key, digest, prior);
        if (rc == 1 || (rc < 0 && rc != MS_ENOTFOUND))
            return rc;
        /* in progress elsewhere: its answer is worth a short wait; gone: claim it again */
        if (ms_now_ms() > deadline)
            return MS_ECONFLICT;
        if (rc == 2)
            ms_sleep_ms(20);
    }
}

int idem_finish(struct order_svc *svc, const char *key, const char *owner, int status,
                const char *body)
{
    char code[8];
    const char *params[] = {key, code, body, owner};
    PGresult *res = NULL;
    int rc;

    snprintf(code, sizeof(code), "%d", status);
    rc = query_settle(svc,
                      "UPDATE idempotency_keys SET status = 'done', response_status = $2, "
                      "response_body = $3 WHERE key = $1 AND owner = $4::uuid",
                      4, params, &res);
    PQclear(res);
    return rc;
}

int idem_forget(struct order_svc *svc, const char *key, const char *owner)
{
    const char *params[] = {key, owner};
    PGresult *res = NULL;
    int rc = query_settle(svc,
                          "DELETE FROM idempotency_keys WHERE key = $1 AND status = 'in_progress' "
                          "AND order_id IS NULL AND owner = $2::uuid",
                          2, params, &res);

    PQclear(res);
    return rc;
}

/* The event of the order the statement's CTE "o" changed: its type, then what notification
 * needs; written in the same statement as the change, so one never exists without the other. */
#define SQL_EVENT(type)                                                                            \
    "INSERT INTO outbox (stream, fields) SELECT $2, jsonb_build_object('type', " type ", "         \
    "'order_id', o.id::text, 'user_id', o.user_id::text, 'email', o.email, 'total_cents', "        \
    "o.total_cents::text, 'created_at', to_char(o.created_at AT TIME ZONE 'UTC', "                 \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) FROM o"

/* The stock is committed: order.confirmed, or order.filled for a backorder. Only the first
 * commit of an order changes anything (and announces it). */
static const char sql_committed[] =
    "WITH p AS (SELECT id, status AS was FROM orders WHERE id = $1::uuid "
    "           AND NOT reservation_committed FOR UPDATE), "
    "o AS (UPDATE orders SET reservation_committed = true, status = 'confirmed' FROM p "
    "      WHERE orders.id = p.id "
    "      RETURNING orders.id, user_id, email, total_cents, created_at, p.was) " SQL_EVENT(
        "CASE WHEN o.was = 'backordered' THEN 'order.filled' ELSE 'order.confirmed' END");

/* The stock was sold before the order could commit it: order.backordered, once. */
static const char sql_backordered[] =
    "WITH o AS (UPDATE orders SET status = 'backordered' WHERE id = $1::uuid "
    "           AND status <> 'backordered' AND NOT reservation_committed "
    "           RETURNING id, user_id, email, total_cents, created_at) " SQL_EVENT(
        "'order.backordered'");

int order_mark_reservation(struct order_svc *svc, const char *id, bool committed)
{
    const char *params[] = {id, svc->stream};
    PGresult *res = NULL;
    int rc = query_settle(svc, committed ? sql_committed : sql_backordered, 2, params, &res);

    PQclear(res);
    return rc;
}

int order_release_later(struct order_svc *svc, const char *id)
{
    const char *params[] = {id};
    PGresult *res = NULL;
    int rc = query_settle(
        svc, "INSERT INTO order_releases (id) VALUES ($1::uuid) ON CONFLICT DO NOTHING", 1, params,
        &res);

    PQclear(res);
    return rc;
}

void order_releases_send(struct order_svc *svc)
{
    PGresult *res = NULL, *done = NULL;

    if (query(svc, "SELECT id::text FROM order_releases ORDER BY created_at LIMIT 50", 0, NULL,
              &res) == 0) {
        for (int i = 0; i < PQntuples(res); i++) {
            const char *params[] = {PQgetvalue(res, i, 0)};
            if (stock_release(svc, params[0]) != 0)
                break; /* inventory is still away: the rest waits for the next pass */
            query(svc, "DELETE FROM order_releases WHERE id = $1::uuid", 1, params, &done);
            PQclear(done);
            done = NULL;
        }
    }
    PQclear(res);
}

int order_mark_cart_cleared(struct order_svc *svc, const char *id)
{
    const char *params[] = {id};
    PGresult *res = NULL;
    int rc = query_settle(svc, "UPDATE orders SET cart_cleared = true WHERE id = $1::uuid", 1,
                          params, &res);

    PQclear(res);
    return rc;
}

void order_carts_clear(struct order_svc *svc)
{
    PGresult *res = NULL;

    if (query(svc,
              "SELECT id::text, user_id, (SELECT json_agg(json_build_object('product_id', "
              "i.product_id, 'quantity', i.quantity)) FROM order_items i WHERE i.order_id = "
              "o.id)::text FROM orders o WHERE cart_cleared = false ORDER BY created_at LIMIT 20",
              0, NULL, &res) == 0) {
        for (int i = 0; i < PQntuples(res); i++) {
            json_t *items = json_loads(PQgetvalue(res, i, 2), 0, NULL);
            int rc =
                cart_take_bought(svc, atoll(PQgetvalue(res, i, 1)), PQgetvalue(res, i, 0), items);
            json_decref(items);
            if (rc == MS_EUNAVAIL || rc == MS_ETIMEDOUT)
                break; /* the cart service is away: the rest waits for the next pass */
            order_mark_cart_cleared(svc, PQgetvalue(res, i, 0)); /* done, or never doable */
        }
    }
    PQclear(res);
}

int order_fate(struct order_svc *svc, const char *id)
{
    const char *params[] = {id};
    PGresult *res = NULL;
    int rc = query_settle(svc,
                          "WITH a AS (INSERT INTO order_fates (id, fate) VALUES ($1::uuid, "
                          "'abandoned') ON CONFLICT (id) DO NOTHING RETURNING fate) "
                          "SELECT coalesce((SELECT fate FROM a), (SELECT fate FROM order_fates "
                          "WHERE id = $1::uuid))",
                          1, params, &res);

    if (rc == 0)
        rc = strcmp(PQgetvalue(res, 0, 0), "placed") == 0 ? 1 : 0;
    PQclear(res);
    return rc;
}
