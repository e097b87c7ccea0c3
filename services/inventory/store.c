/* Stock and reservations in PostgreSQL, behind domain verbs. Stock never goes below zero
 * whatever the concurrency: every decrement is a conditional UPDATE that PostgreSQL re-checks
 * against the row's latest version once its lock is held, and the table's CHECKs refuse a
 * negative count anyway. Transactions that touch several stock rows lock them in ascending
 * product_id order, so they never deadlock one another. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "ms/err.h"

static const char sql_get_stock[] =
    "SELECT product_id, available, reserved FROM stock WHERE product_id = $1";

static const char sql_set_stock[] =
    "INSERT INTO stock (product_id, available, reserved) VALUES ($1, $2, 0) "
    "ON CONFLICT (product_id) DO UPDATE SET available = EXCLUDED.available, updated_at = now() "
    "RETURNING product_id, available, reserved";

/* Adds $2 to what is there, within the maximum ($3): no row back when the sum would pass it. */
static const char sql_add_stock[] =
    "INSERT INTO stock AS s (product_id, available, reserved) VALUES ($1, $2, 0) "
    "ON CONFLICT (product_id) DO UPDATE SET available = s.available + EXCLUDED.available, "
    "updated_at = now() WHERE s.available + EXCLUDED.available <= $3 "
    "RETURNING product_id, available, reserved";

/* A release of a reservation never made: its tombstone. Should the reservation be committing
 * at this very moment, the primary key makes this wait for it, then do nothing. */
static const char sql_tombstone[] =
    "INSERT INTO reservations (id, status) VALUES ($1, 'released') ON CONFLICT (id) DO NOTHING";

/* A new reservation in one statement, so one round trip and one answer that can be lost. It
 * locks its items' stock rows in ascending product order (as every writer of stock does: no
 * deadlock) and finds the first item short of stock; only when there is none does it write the
 * reservation, take each item's stock and record the items. Finding "none short" reads every
 * locked row, so all are locked before anything changes, and a stock row locked after the
 * statement began is read as it now is. The primary key settles a reservation id already there (a
 * replay, or a release's tombstone), concurrent ones too: nothing is written. One row: whether the
 * reservation was written; the first short item's product (NULL when none is short) and its
 * available count (NULL when it has no stock row). $2 and $3: products and quantities, in the
 * items' order. */
static const char sql_reserve[] =
    "WITH want AS (SELECT * FROM unnest($2::int[], $3::int[]) AS w (product_id, quantity)), "
    "locked AS (SELECT product_id, available FROM stock WHERE product_id = ANY ($2::int[]) "
    "           ORDER BY product_id FOR UPDATE), "
    "short AS (SELECT w.product_id, l.available FROM want w LEFT JOIN locked l USING (product_id) "
    "          WHERE l.available IS NULL OR l.available < w.quantity "
    "          ORDER BY w.product_id LIMIT 1), "
    "made AS (INSERT INTO reservations (id, status) SELECT $1, 'held' "
    "         WHERE NOT EXISTS (SELECT FROM short) ON CONFLICT (id) DO NOTHING RETURNING id), "
    "taken AS (UPDATE stock s SET available = s.available - w.quantity, "
    "          reserved = s.reserved + w.quantity, updated_at = now() FROM want w, made "
    "          WHERE s.product_id = w.product_id AND s.available >= w.quantity "
    "          RETURNING s.product_id, w.quantity), "
    "items AS (INSERT INTO reservation_items (reservation_id, product_id, quantity) "
    "          SELECT $1, product_id, quantity FROM taken) "
    "SELECT EXISTS (SELECT FROM made), s.product_id, s.available "
    "FROM (SELECT) AS one LEFT JOIN short s ON true";

/* A tombstone has no items: one row with NULL item columns. */
#define SQL_LOAD                                                                                   \
    "SELECT r.status, i.product_id, i.quantity FROM reservations r "                               \
    "LEFT JOIN reservation_items i ON i.reservation_id = r.id WHERE r.id = $1 "                    \
    "ORDER BY i.product_id"

static const char sql_load[] = SQL_LOAD;

/* Locks the reservation, so concurrent commits and releases of it run one after the other and
 * the second sees what the first did. */
static const char sql_load_locked[] = SQL_LOAD " FOR UPDATE OF r";

/* Settles one item of a held reservation: reserved drops by the quantity ($2) and available
 * rises by $3, the quantity on a release and 0 on a commit (the goods have left the shop). */
static const char sql_settle_item[] =
    "UPDATE stock SET available = available + $3, reserved = reserved - $2, updated_at = now() "
    "WHERE product_id = $1";

/* The common move, from held, in one statement (one round trip): the reservation's status
 * first, which locks it (a concurrent settle of it waits, then finds it no longer held and
 * changes nothing), then its items' stock. The stock rows are locked in ascending product order
 * before any is changed, as every writer of stock does (no deadlock): the always-true condition
 * on the count of locked rows is evaluated once, before the UPDATE reads a row. A release or an
 * expiry ($2) gives each quantity back to available; a commit only drops it from reserved.
 * Answers the reservation as it was, in SQL_LOAD's shape; no row when it was not held. */
static const char sql_settle_held[] =
    "WITH moved AS (UPDATE reservations SET status = $2::text, updated_at = now() "
    "               WHERE id = $1 AND status = 'held' RETURNING id), "
    "items AS (SELECT i.product_id, i.quantity FROM reservation_items i "
    "          JOIN moved ON i.reservation_id = moved.id), "
    "locked AS (SELECT s.product_id FROM stock s JOIN items USING (product_id) "
    "           ORDER BY s.product_id FOR UPDATE OF s), "
    "settled AS (UPDATE stock s SET reserved = s.reserved - i.quantity, "
    "            available = s.available + CASE WHEN $2::text = 'committed' THEN 0 "
    "                                           ELSE i.quantity END, updated_at = now() "
    "            FROM items i WHERE s.product_id = i.product_id "
    "            AND (SELECT count(*) FROM locked) >= 0) "
    "SELECT 'held', product_id, quantity FROM items ORDER BY product_id";

/* Takes one item's stock again for a late commit of an expired reservation: straight from
 * available to sold, and only if there is enough. */
static const char sql_take_again[] =
    "UPDATE stock SET available = available - $2, updated_at = now() "
    "WHERE product_id = $1 AND available >= $2";

static const char sql_set_status[] =
    "UPDATE reservations SET status = $2, updated_at = now() WHERE id = $1";

static const char sql_expired[] =
    "SELECT id FROM reservations WHERE status = 'held' "
    "AND created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2";

static const char sql_count_held[] = "SELECT count(*) FROM reservations WHERE status = 'held'";

/* ---- metrics ---- */

void inventory_svc_init(struct inventory_svc *svc)
{
    static const char *const results[RESULT_COUNT] = {
        "held",     "replayed", "insufficient", "not_found", "invalid",     "committed",
        "released", "expired",  "revived",      "conflict",  "unavailable",
    };
    struct ms_family *total = ms_counter_family("inventory_reservations_total",
                                                "Reservation outcomes, by result.", "result");
    struct ms_family *held = ms_gauge_family(
        "inventory_reservations_held", "Reservations held, as of the reaper's last pass.", NULL);

    for (size_t i = 0; i < RESULT_COUNT; i++)
        svc->results[i] = ms_series_get(total, &results[i]);
    svc->held = ms_series_only(held);
}

void inventory_count(struct inventory_svc *svc, enum inventory_result result)
{
    if (result < RESULT_COUNT)
        ms_counter_inc(svc->results[result]);
}

/* ---- statements ---- */

/* Room for any long long in decimal, sign and NUL included. */
enum { NUM_LEN = 24 };

/* v in decimal into buf, which it returns: libpq takes every parameter as text. */
static const char *num(char buf[NUM_LEN], long long v)
{
    snprintf(buf, NUM_LEN, "%lld", v);
    return buf;
}

/* Checks out a connection. Before the schema exists every statement would fail as a 500: that
 * is an outage, so say so. */
static int acquire(struct inventory_svc *svc, struct ms_pg_conn **conn)
{
    return ms_migrator_acquire(&svc->migrator, conn);
}

/* Runs one statement. Every input was validated before it got here, so a constraint or data
 * error means a bug (500), never a client's 4xx. */
static int run(struct ms_pg_conn *conn, const char *sql, int n, const char *const *params,
               PGresult **out)
{
    int rc = ms_pg_query(conn, sql, n, params, out);

    return rc == MS_ECONFLICT || rc == MS_EINVAL ? MS_EINTERNAL : rc;
}

/* Runs one statement for its effect. */
static int exec(struct ms_pg_conn *conn, const char *sql, int n, const char *const *params)
{
    PGresult *res = NULL;
    int rc = run(conn, sql, n, params, &res);

    PQclear(res);
    return rc;
}

/* One statement on a connection of its own, outside any transaction. */
static int query(struct inventory_svc *svc, const char *sql, int n, const char *const *params,
                 PGresult **out)
{
    struct ms_pg_conn *conn = NULL;
    int rc = acquire(svc, &conn);

    *out = NULL;
    if (rc == 0)
        rc = run(conn, sql, n, params, out);
    ms_pg_release(svc->pg, conn);
    return rc;
}

/* Checks out a connection and opens a transaction on it. Whatever happens, the caller hands
 * *conn to ms_pg_release, which rolls back a transaction a failure left open. */
static int begin(struct inventory_svc *svc, struct ms_pg_conn **conn)
{
    int rc = acquire(svc, conn);

    return rc ? rc : exec(*conn, "BEGIN", 0, NULL);
}

/* ---- stock ---- */

/* The stock row of a result, or MS_ENOTFOUND when there is none. */
static int stock_from_result(const PGresult *res, struct stock *out)
{
    if (PQntuples(res) != 1)
        return MS_ENOTFOUND;
    out->product_id = atoll(PQgetvalue(res, 0, 0));
    out->available = atoll(PQgetvalue(res, 0, 1));
    out->reserved = atoll(PQgetvalue(res, 0, 2));
    return 0;
}

int inventory_store_get_stock(struct inventory_svc *svc, long long product_id, struct stock *out)
{
    char id[NUM_LEN];
    const char *params[] = {num(id, product_id)};
    PGresult *res = NULL;
    int rc = query(svc, sql_get_stock, 1, params, &res);

    if (rc == 0)
        rc = stock_from_result(res, out);
    PQclear(res);
    return rc;
}

int inventory_store_set_stock(struct inventory_svc *svc, long long product_id, long long available,
                              struct stock *out)
{
    char id[NUM_LEN], count[NUM_LEN];
    const char *params[] = {num(id, product_id), num(count, available)};
    PGresult *res = NULL;
    int rc = query(svc, sql_set_stock, 2, params, &res);

    if (rc == 0 && stock_from_result(res, out) != 0)
        rc = MS_EINTERNAL; /* RETURNING always gives the row */
    PQclear(res);
    return rc;
}

int inventory_store_add_stock(struct inventory_svc *svc, long long product_id, long long add,
                              struct stock *out)
{
    char id[NUM_LEN], count[NUM_LEN], max[NUM_LEN];
    const char *params[] = {num(id, product_id), num(count, add),
                            num(max, INVENTORY_AVAILABLE_MAX)};
    PGresult *res = NULL;
    int rc = query(svc, sql_add_stock, 3, params, &res);

    if (rc == 0 && stock_from_result(res, out) != 0)
        rc = MS_ECONFLICT;
    PQclear(res);
    return rc;
}

/* ---- reservations ---- */

/* Reservation id from res's rows: status, product_id, quantity, in product order (SQL_LOAD's
 * shape; a tombstone's one row has NULL item columns). 0, MS_ENOTFOUND when there is no row. */
static int reservation_from_rows(const PGresult *res, const char *id, struct reservation *out)
{
    int rows = PQntuples(res);
    int rc;

    if (rows == 0)
        return MS_ENOTFOUND;
    if (rows > INVENTORY_ITEMS_MAX)
        return MS_EINTERNAL; /* only this service writes items, never more than the maximum */
    rc = reservation_status_parse(PQgetvalue(res, 0, 0), &out->status);
    if (rc)
        return rc;
    if (PQgetisnull(res, 0, 1))
        rows = 0; /* a tombstone */
    snprintf(out->id, sizeof(out->id), "%s", id);
    out->nitems = (size_t)rows;
    for (int i = 0; i < rows; i++)
        out->items[i] = (struct reservation_item){.product_id = atoll(PQgetvalue(res, i, 1)),
                                                  .quantity = atoll(PQgetvalue(res, i, 2))};
    return 0;
}

/* Reads reservation id with its items through sql (sql_load or sql_load_locked). 0,
 * MS_ENOTFOUND, or the statement's error. */
static int load(struct ms_pg_conn *conn, const char *sql, const char *id, struct reservation *out)
{
    const char *params[] = {id};
    PGresult *res = NULL;
    int rc = run(conn, sql, 1, params, &res);

    if (rc == 0)
        rc = reservation_from_rows(res, id, out);
    PQclear(res);
    return rc;
}

/* Room for the array literal of INVENTORY_ITEMS_MAX numbers: "{1,2,3}". */
enum { ARRAY_LEN = INVENTORY_ITEMS_MAX * NUM_LEN + 2 };

/* The products, or the quantities, of r's items as a PostgreSQL array literal, in buf. */
static const char *array_of(const struct reservation *r, bool quantities, char buf[ARRAY_LEN])
{
    size_t len = 1;

    buf[0] = '{';
    for (size_t i = 0; i < r->nitems; i++)
        len += (size_t)snprintf(buf + len, ARRAY_LEN - len, "%s%lld", i ? "," : "",
                                quantities ? r->items[i].quantity : r->items[i].product_id);
    snprintf(buf + len, ARRAY_LEN - len, "}");
    return buf;
}

/* What sql_reserve's row says when it wrote nothing: a shortfall (MS_ECONFLICT, or MS_ENOTFOUND
 * for a product without stock) with the item in *miss, or 1 when the id was there already. */
static int reserve_refusal(const PGresult *res, const struct reservation *want,
                           struct shortfall *miss)
{
    long long product;

    if (PQgetisnull(res, 0, 1))
        return 1;
    product = atoll(PQgetvalue(res, 0, 1));
    *miss = (struct shortfall){.product_id = product};
    for (size_t i = 0; i < want->nitems; i++)
        if (want->items[i].product_id == product)
            miss->requested = want->items[i].quantity;
    if (PQgetisnull(res, 0, 2))
        return MS_ENOTFOUND;
    miss->available = atoll(PQgetvalue(res, 0, 2));
    return MS_ECONFLICT;
}

int inventory_store_reserve(struct inventory_svc *svc, const struct reservation *want,
                            struct reservation *out, bool *replayed, struct shortfall *miss)
{
    char products[ARRAY_LEN], quantities[ARRAY_LEN];
    const char *params[] = {want->id, array_of(want, false, products),
                            array_of(want, true, quantities)};
    PGresult *res = NULL;
    int rc = query(svc, sql_reserve, 3, params, &res);
    int load;

    *replayed = false;
    if (rc == 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        *out = *want;
        out->status = RESERVATION_HELD;
    } else if (rc == 0) {
        rc = reserve_refusal(res, want, miss);
    }
    PQclear(res);
    if (rc != MS_ECONFLICT && rc != MS_ENOTFOUND && rc != 1)
        return rc;
    /* The id may be there already: written by an earlier attempt whose answer was lost, which
     * may also have taken the stock this one found short. Then the answer is the reservation as
     * it is; a shortfall only when there is none (an id found taken is always there). */
    load = inventory_store_get_reservation(svc, want->id, out);
    if (load == MS_ENOTFOUND)
        return rc == 1 ? MS_EINTERNAL : rc;
    *replayed = load == 0;
    return load;
}

int inventory_store_get_reservation(struct inventory_svc *svc, const char *id,
                                    struct reservation *out)
{
    struct ms_pg_conn *conn = NULL;
    int rc = acquire(svc, &conn);

    if (rc == 0)
        rc = load(conn, sql_load, id, out);
    ms_pg_release(svc->pg, conn);
    return rc;
}

/* held → target: settles every item's stock, in ascending product order. */
static int settle_items(struct ms_pg_conn *conn, const struct reservation *r,
                        enum reservation_status target)
{
    char product[NUM_LEN], quantity[NUM_LEN], back[NUM_LEN];
    const char *params[] = {product, quantity, back};
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < r->nitems; i++) {
        num(product, r->items[i].product_id);
        num(quantity, r->items[i].quantity);
        num(back, target == RESERVATION_COMMITTED ? 0 : r->items[i].quantity);
        rc = exec(conn, sql_settle_item, 3, params);
    }
    return rc;
}

/* expired → committed: takes every item's stock from available again, in ascending product
 * order. MS_ECONFLICT at the first item short of stock; the caller's transaction is then rolled
 * back, so none is taken. */
static int take_again(struct ms_pg_conn *conn, const struct reservation *r)
{
    char product[NUM_LEN], quantity[NUM_LEN];
    const char *params[] = {product, quantity};
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < r->nitems; i++) {
        PGresult *res = NULL;

        num(product, r->items[i].product_id);
        num(quantity, r->items[i].quantity);
        rc = run(conn, sql_take_again, 2, params, &res);
        if (rc == 0 && strcmp(PQcmdTuples(res), "1") != 0)
            rc = MS_ECONFLICT;
        PQclear(res);
    }
    return rc;
}

/* What moving from one status to another counts as; RESULT_COUNT when there is no such move. */
static enum inventory_result move_of(enum reservation_status from, enum reservation_status to)
{
    if (from == to)
        return RESULT_REPLAYED;
    if (from == RESERVATION_HELD)
        return to == RESERVATION_COMMITTED  ? RESULT_COMMITTED
               : to == RESERVATION_RELEASED ? RESULT_RELEASED
                                            : RESULT_EXPIRED;
    if (from == RESERVATION_EXPIRED && to == RESERVATION_COMMITTED)
        return RESULT_REVIVED;
    if (from == RESERVATION_EXPIRED && to == RESERVATION_RELEASED)
        return RESULT_RELEASED; /* the stock went back at expiry: the status only */
    return RESULT_COUNT;
}

/* r's status → target, its stock settled to match; *done says which move it was. */
static int transition(struct ms_pg_conn *conn, const struct reservation *r,
                      enum reservation_status target, enum inventory_result *done)
{
    const char *params[] = {r->id, reservation_status_name(target)};
    enum inventory_result move = move_of(r->status, target);
    int rc = 0;

    if (move == RESULT_COUNT)
        return MS_ECONFLICT;
    *done = move;
    if (move == RESULT_REPLAYED)
        return 0;
    if (r->status == RESERVATION_HELD)
        rc = settle_items(conn, r, target);
    else if (move == RESULT_REVIVED)
        rc = take_again(conn, r);
    return rc ? rc : exec(conn, sql_set_status, 2, params);
}

/* A release of reservation id, which load did not find: its tombstone, or, when the reservation
 * was being made meanwhile, the reservation as it now is (locked). 0 with *out and *done set
 * when the tombstone was written; 1 when the reservation is there to settle after all. */
static int tombstone(struct ms_pg_conn *conn, const char *id, struct reservation *out,
                     enum inventory_result *done)
{
    const char *params[] = {id};
    PGresult *res = NULL;
    int rc = run(conn, sql_tombstone, 1, params, &res);
    bool written = rc == 0 && strcmp(PQcmdTuples(res), "1") == 0;

    PQclear(res);
    if (rc)
        return rc;
    if (!written)
        return load(conn, sql_load_locked, id, out) == 0 ? 1 : MS_EINTERNAL;
    *out = (struct reservation){.status = RESERVATION_RELEASED};
    snprintf(out->id, sizeof(out->id), "%s", id);
    *done = RESULT_RELEASED;
    return 0;
}

/* Loads reservation id, locked, for a move to target; a release of one never made writes its
 * tombstone instead (1: nothing more to do). */
static int load_for_settle(struct ms_pg_conn *conn, const char *id, enum reservation_status target,
                           struct reservation *out, enum inventory_result *done)
{
    int rc = load(conn, sql_load_locked, id, out);

    if (rc != MS_ENOTFOUND || target != RESERVATION_RELEASED)
        return rc;
    rc = tombstone(conn, id, out, done);
    return rc == 0 ? 1 : rc == 1 ? 0 : rc;
}

/* Any move to target in one transaction of several statements: the rarer moves (from expired,
 * a replay, a release's tombstone) and any held reservation settle_held missed. */
static int settle_in_steps(struct inventory_svc *svc, const char *id,
                           enum reservation_status target, struct reservation *out,
                           enum inventory_result *done)
{
    struct ms_pg_conn *conn = NULL;
    int rc = begin(svc, &conn);
    bool buried = false;

    if (rc == 0) {
        rc = load_for_settle(conn, id, target, out, done);
        buried = rc == 1;
        rc = buried ? 0 : rc;
    }
    if (rc == 0 && !buried)
        rc = transition(conn, out, target, done);
    if (rc == 0)
        rc = exec(conn, "COMMIT", 0, NULL);
    ms_pg_release(svc->pg, conn);
    return rc;
}

/* held → target in one statement (sql_settle_held): 0 with the items in out, 1 when the
 * reservation was not held (nothing changed), or the statement's error. */
static int settle_held(struct inventory_svc *svc, const char *id, enum reservation_status target,
                       struct reservation *out)
{
    const char *params[] = {id, reservation_status_name(target)};
    PGresult *res = NULL;
    int rc = query(svc, sql_settle_held, 2, params, &res);

    if (rc == 0)
        rc = reservation_from_rows(res, id, out);
    PQclear(res);
    return rc == MS_ENOTFOUND ? 1 : rc;
}

int inventory_store_settle(struct inventory_svc *svc, const char *id,
                           enum reservation_status target, struct reservation *out,
                           enum inventory_result *done)
{
    int rc = target == RESERVATION_HELD ? 1 : settle_held(svc, id, target, out);

    if (rc == 0)
        *done = move_of(RESERVATION_HELD, target);
    else if (rc == 1)
        rc = settle_in_steps(svc, id, target, out, done);
    if (rc == 0)
        out->status = target;
    return rc;
}

/* ---- the reaper's queries ---- */

int inventory_store_expired(struct inventory_svc *svc, int ttl_s,
                            char (*ids)[INVENTORY_RESERVATION_ID_MAX + 1], size_t cap, size_t *n)
{
    char ttl[NUM_LEN], limit[NUM_LEN];
    const char *params[] = {num(ttl, ttl_s), num(limit, (long long)cap)};
    PGresult *res = NULL;
    int rc = query(svc, sql_expired, 2, params, &res);

    *n = 0;
    for (int i = 0; rc == 0 && i < PQntuples(res) && *n < cap; i++)
        snprintf(ids[(*n)++], sizeof(ids[0]), "%s", PQgetvalue(res, i, 0));
    PQclear(res);
    return rc;
}

int inventory_store_count_held(struct inventory_svc *svc, long long *out)
{
    PGresult *res = NULL;
    int rc = query(svc, sql_count_held, 0, NULL, &res);

    if (rc == 0)
        *out = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}
