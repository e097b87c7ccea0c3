/* The whole shop over real HTTP, every service a real process on real PostgreSQL and Redis:
 * the journey from sign-up to notification, and the promises that hold under concurrency and
 * failure (no overselling, one order per idempotency key, nothing half-done, nothing lost). */
#include <check.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faultproxy.h"
#include "ms/clock.h"
#include "runner.h"
#include "stack.h"

static struct ms_test_stack st;
static const char *const stack_env[] = {"ADMIN_ENABLED=true", "LOG_LEVEL=info", NULL};

static void stack_up(void)
{
    ck_assert_int_eq(ms_test_stack_start(&st, stack_env), 0);
}

static void stack_down(void)
{
    ms_test_stack_stop(&st);
}

/* Before each test: every service up with the suite's settings, whatever an earlier test
 * stopped or restarted differently (a failed assertion skips that test's own clean-up). */
static void all_running(void)
{
    for (int s = 0; s < MS_SVC_COUNT; s++)
        if (st.svc[s].pid <= 0)
            ck_assert_int_eq(ms_test_stack_start_one(&st, (enum ms_test_svc)s, stack_env), 0);
}

static bool order_customised; /* a test restarted order with its own settings */

/* Restarts order with env (NULL-terminated NAME=VALUE settings) instead of the suite's;
 * back_to_defaults puts the suite's back after the test. */
static void order_restart_with(const char *const *env)
{
    ck_assert_int_eq(ms_test_stack_stop_one(&st, MS_SVC_ORDER, SIGTERM), 0);
    order_customised = true;
    ck_assert_int_eq(ms_test_stack_start_one(&st, MS_SVC_ORDER, env), 0);
}

/* ---- small helpers ---- */

static int port_of(enum ms_test_svc s)
{
    return ms_test_stack_port(&st, s);
}

/* method path on service s with an optional JSON body and headers; returns the parsed body
 * (NULL when not JSON) and the status in *status. */
static json_t *call(enum ms_test_svc s, const char *method, const char *path, const char *body,
                    const char *const *headers, long *status)
{
    char url[512];
    struct ms_test_response r;
    json_t *doc;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port_of(s), path);
    ms_test_http(method, url, body, headers, 15000, &r);
    *status = r.status;
    doc = ms_test_json(&r);
    ms_test_response_free(&r);
    return doc;
}

static json_t *call_ok(enum ms_test_svc s, const char *method, const char *path, const char *body,
                       long want)
{
    long status = 0;
    json_t *doc = call(s, method, path, body, NULL, &status);

    ck_assert_msg(status == want, "%s %s on %s: %ld, want %ld", method, path, ms_test_svc_name(s),
                  status, want);
    return doc;
}

/* After each test, even a failed one: no service dead unnoticed (a sanitizer's report ends the
 * process, and the test would only see refused connections), no fault left injected (a failed
 * assertion skips the test's own DELETE, and the next test would inherit it), and order back to
 * the suite's settings if a test changed them. */
static void back_to_defaults(void)
{
    int dead = ms_test_stack_reap(&st);
    long status;

    for (int s = 0; s < MS_SVC_COUNT; s++)
        if (st.svc[s].pid > 0)
            json_decref(call((enum ms_test_svc)s, "DELETE", "/admin/faults", NULL, NULL, &status));
    if (order_customised) { /* stopped: the next test's all_running starts it as the suite's */
        order_customised = false;
        ms_test_stack_stop_one(&st, MS_SVC_ORDER, SIGTERM);
    }
    ck_assert_msg(dead == 0, "%d service(s) died during the test: their logs are above", dead);
}

static long long new_user(void)
{
    static int n;
    char body[160];
    json_t *doc;
    long long id;

    snprintf(body, sizeof(body), "{\"email\":\"shopper%d.%d.%lld@example.com\",\"name\":\"Ada\"}",
             getpid(), ++n, (long long)ms_now_ns());
    doc = call_ok(MS_SVC_USER, "POST", "/users", body, 201);
    id = json_integer_value(json_object_get(doc, "id"));
    json_decref(doc);
    ck_assert_int_gt(id, 0);
    return id;
}

static void cart_add(long long user, int product, int quantity)
{
    char path[64], body[96];

    snprintf(path, sizeof(path), "/cart/%lld", user);
    snprintf(body, sizeof(body), "{\"product_id\":%d,\"quantity\":%d}", product, quantity);
    json_decref(call_ok(MS_SVC_CART, "POST", path, body, 200));
}

static long long stock_field(int product, const char *field)
{
    char path[64];
    json_t *doc;
    long long v;

    snprintf(path, sizeof(path), "/inventory/%d", product);
    doc = call_ok(MS_SVC_INVENTORY, "GET", path, NULL, 200);
    v = json_integer_value(json_object_get(doc, field));
    json_decref(doc);
    return v;
}

static void stock_set(int product, int available)
{
    char path[64], body[64];

    snprintf(path, sizeof(path), "/inventory/%d", product);
    snprintf(body, sizeof(body), "{\"available\":%d}", available);
    json_decref(call_ok(MS_SVC_INVENTORY, "PUT", path, body, 200));
}

static size_t orders_of(long long user)
{
    char path[64];
    json_t *doc;
    size_t n;

    snprintf(path, sizeof(path), "/orders?user_id=%lld", user);
    doc = call_ok(MS_SVC_ORDER, "GET", path, NULL, 200);
    n = json_array_size(json_object_get(doc, "items"));
    json_decref(doc);
    return n;
}

static size_t cart_lines(long long user)
{
    char path[64];
    json_t *doc;
    size_t n;

    snprintf(path, sizeof(path), "/cart/%lld", user);
    doc = call_ok(MS_SVC_CART, "GET", path, NULL, 200);
    n = json_array_size(json_object_get(doc, "items"));
    json_decref(doc);
    return n;
}

/* Waits up to timeout_ms for GET path on notification to list want items. */
static size_t wait_notifications(const char *path, size_t want, long timeout_ms)
{
    int64_t deadline = ms_now_ms() + timeout_ms;
    size_t n = 0;

    while (ms_now_ms() < deadline) {
        long status = 0;
        json_t *doc = call(MS_SVC_NOTIFICATION, "GET", path, NULL, NULL, &status);
        n = json_array_size(json_object_get(doc, "items"));
        json_decref(doc);
        if (n >= want)
            break;
        ms_sleep_ms(100);
    }
    return n;
}

/* One number from a database of the stack, by SQL. */
static long long db_count(const char *db, const char *sql)
{
    char *url = ms_test_pg_url(&st.pg, db);
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQexec(c, sql);
    long long n;

    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    n = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    free(url);
    return n;
}

static void direct_body(char *buf, size_t cap, long long user, int product, int quantity)
{
    snprintf(buf, cap, "{\"user_id\":%lld,\"items\":[{\"product_id\":%d,\"quantity\":%d}]}", user,
             product, quantity);
}

/* ---- the journey ---- */

START_TEST(test_journey_from_sign_up_to_notification)
{
    long long user = new_user();
    long long before = stock_field(6, "available");
    char path[128], email_path[128], *posted, *read_back;
    json_t *order, *cart, *items, *got;
    const char *id;

    json_decref(call_ok(MS_SVC_PRODUCT, "GET", "/products?category=books", NULL, 200));
    cart_add(user, 6, 2);
    cart_add(user, 1, 1);
    snprintf(path, sizeof(path), "/cart/%lld", user);
    cart = call_ok(MS_SVC_CART, "GET", path, NULL, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(cart, "total_cents")), 2 * 3900 + 3499);
    json_decref(cart);

    snprintf(path, sizeof(path), "{\"user_id\":%lld}", user);
    order = call_ok(MS_SVC_ORDER, "POST", "/orders", path, 201);
    id = json_string_value(json_object_get(order, "id"));
    ck_assert_ptr_nonnull(id);
    ck_assert_str_eq(json_string_value(json_object_get(order, "status")), "confirmed");
    ck_assert_int_eq(json_integer_value(json_object_get(order, "total_cents")), 2 * 3900 + 3499);
    items = json_object_get(order, "items");
    ck_assert_int_eq(json_array_size(items), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 0), "product_id")),
                     1);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_array_get(items, 1), "unit_price_cents")), 3900);

    ck_assert_int_eq(stock_field(6, "available"), before - 2);
    ck_assert_int_eq(cart_lines(user), 0);
    snprintf(path, sizeof(path), "/orders/%s", id);
    got = call_ok(MS_SVC_ORDER, "GET", path, NULL, 200);
    /* the answer to the POST (built as the order is written) is the order as it is read back,
     * keys in the same order */
    posted = json_dumps(order, JSON_COMPACT | JSON_PRESERVE_ORDER);
    read_back = json_dumps(got, JSON_COMPACT | JSON_PRESERVE_ORDER);
    ck_assert_str_eq(posted, read_back);
    free(posted);
    free(read_back);
    json_decref(got);
    ck_assert_int_eq(orders_of(user), 1);
    snprintf(path, sizeof(path), "/notifications?order_id=%s", id);
    ck_assert_int_eq(wait_notifications(path, 1, 10000), 1);
    snprintf(email_path, sizeof(email_path), "/notifications?user_id=%lld", user);
    ck_assert_int_eq(wait_notifications(email_path, 1, 1000), 1);
    json_decref(order);
}
END_TEST

/* ---- concurrency ---- */

struct buyer {
    char body[160];
    const char *key; /* Idempotency-Key or NULL */
    long status;
    char order_id[40];
};

static void *buy(void *arg)
{
    struct buyer *b = arg;
    char header[200];
    const char *headers[] = {header, NULL};
    json_t *doc;

    snprintf(header, sizeof(header), "Idempotency-Key: %s", b->key ? b->key : "");
    doc = call(MS_SVC_ORDER, "POST", "/orders", b->body, b->key ? headers : NULL, &b->status);
    snprintf(b->order_id, sizeof(b->order_id), "%s",
             json_string_value(json_object_get(doc, "id"))
                 ? json_string_value(json_object_get(doc, "id"))
                 : "");
    json_decref(doc);
    return NULL;
}

static void buy_all(struct buyer *b, size_t n)
{
    pthread_t t[64];

    for (size_t i = 0; i < n; i++)
        pthread_create(&t[i], NULL, buy, &b[i]);
    for (size_t i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

START_TEST(test_fifty_parallel_orders_for_ten_in_stock)
{
    struct buyer b[50];
    long long user = new_user();
    int confirmed = 0, rejected = 0;

    stock_set(20, 10);
    for (size_t i = 0; i < 50; i++) {
        memset(&b[i], 0, sizeof(b[i]));
        direct_body(b[i].body, sizeof(b[i].body), user, 20, 1);
    }
    buy_all(b, 50);
    for (size_t i = 0; i < 50; i++) {
        confirmed += b[i].status == 201;
        rejected += b[i].status == 409;
    }
    ck_assert_int_eq(confirmed, 10);
    ck_assert_int_eq(rejected, 40);
    ck_assert_int_eq(stock_field(20, "available"), 0);
    ck_assert_int_eq(stock_field(20, "reserved"), 0);
    ck_assert_int_eq(orders_of(user), 10);
    ck_assert_int_eq(db_count("inventory", "SELECT count(*) FROM stock WHERE available < 0"), 0);
    ck_assert_int_eq(db_count("inventory", "SELECT count(*) FROM reservations r JOIN "
                                           "reservation_items i ON i.reservation_id = r.id "
                                           "WHERE i.product_id = 20 AND r.status = 'held'"),
                     0);
    ck_assert_int_eq(db_count("inventory", "SELECT count(*) FROM reservations r JOIN "
                                           "reservation_items i ON i.reservation_id = r.id "
                                           "WHERE i.product_id = 20 AND r.status = 'committed'"),
                     10);
}
END_TEST

START_TEST(test_one_idempotency_key_twenty_times_makes_one_order)
{
    struct buyer b[20];
    char key[64];
    long long user = new_user();
    long long before = stock_field(3, "available");
    long status = 0;
    json_t *doc;
    char other[160], sql[300];
    const char *headers[] = {NULL, NULL};
    char header[100];

    snprintf(key, sizeof(key), "checkout-%lld", user);
    for (size_t i = 0; i < 20; i++) {
        memset(&b[i], 0, sizeof(b[i]));
        direct_body(b[i].body, sizeof(b[i].body), user, 3, 2);
        b[i].key = key;
    }
    buy_all(b, 10); /* ten at once */
    for (size_t i = 10; i < 20; i++)
        buy(&b[i]); /* then ten one after another */
    for (size_t i = 0; i < 20; i++) {
        ck_assert_msg(b[i].status == 201, "attempt %zu: %ld", i, b[i].status);
        ck_assert_str_eq(b[i].order_id, b[0].order_id);
    }
    ck_assert_int_eq(orders_of(user), 1);
    ck_assert_int_eq(stock_field(3, "available"), before - 2);
    /* the statement that wrote the order answered the key: nothing was left to record */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM idempotency_keys WHERE key = '%s' AND status = 'done' "
             "AND response_status = 201 AND order_id = '%s'",
             key, b[0].order_id);
    ck_assert_int_eq(db_count("order", sql), 1);
    /* the same key for another request is refused, and creates nothing */
    direct_body(other, sizeof(other), user, 3, 1);
    snprintf(header, sizeof(header), "Idempotency-Key: %s", key);
    headers[0] = header;
    doc = call(MS_SVC_ORDER, "POST", "/orders", other, headers, &status);
    ck_assert_int_eq(status, 422);
    json_decref(doc);
    ck_assert_int_eq(orders_of(user), 1);
}
END_TEST

/* The order service's request digest (services/order/model.c): FNV-1a over the body with
 * sorted keys, so the test can plant the claim a request that died would have left. */
static void digest_of(const char *body, char out[17])
{
    json_t *doc = json_loads(body, 0, NULL);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned long long h = 0xcbf29ce484222325ULL;

    for (const char *p = text; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    snprintf(out, 17, "%016llx", h);
    free(text);
    json_decref(doc);
}

static void plant_claim(const char *key, const char *body, const char *age)
{
    char digest[17], sql[400];

    digest_of(body, digest);
    snprintf(sql, sizeof(sql),
             "INSERT INTO idempotency_keys (key, request_hash, status, created_at) VALUES "
             "('%s', '%s', 'in_progress', now() - interval '%s') RETURNING 1",
             key, digest, age);
    ck_assert_int_eq(db_count("order", sql), 1);
}

START_TEST(test_claim_left_by_a_dead_request_is_taken_over_by_a_retry)
{
    long long user = new_user();
    char body[160], stale[64], fresh[64], header[100];
    const char *headers[] = {header, NULL};
    long status = 0;
    json_t *doc;

    direct_body(body, sizeof(body), user, 8, 1);
    snprintf(stale, sizeof(stale), "dead-%lld", user);
    snprintf(fresh, sizeof(fresh), "busy-%lld", user);
    plant_claim(stale, body, "1 hour");
    plant_claim(fresh, body, "0 seconds");
    snprintf(header, sizeof(header), "Idempotency-Key: %s", stale);
    doc = call(MS_SVC_ORDER, "POST", "/orders", body, headers, &status);
    ck_assert_int_eq(status, 201);
    json_decref(doc);
    /* a claim younger than the TTL may belong to a request still running: not taken */
    snprintf(header, sizeof(header), "Idempotency-Key: %s", fresh);
    doc = call(MS_SVC_ORDER, "POST", "/orders", body, headers, &status);
    ck_assert_int_eq(status, 409);
    json_decref(doc);
    ck_assert_int_eq(orders_of(user), 1);
}
END_TEST

/* Two requests with key for one unit of product, inventory slowed by faults: the first
 * stalls past the claim TTL (1 s) and the second, started 1.3 s later, takes its key over.
 * Both run in t; the caller joins them and clears inventory's faults. */
static void stall_and_take_over(const char *key, long long user, int product, const char *faults,
                                struct buyer b[2], pthread_t t[2])
{
    static const char *const slow_env[] = {
        "ADMIN_ENABLED=true",        "IDEMPOTENCY_CLAIM_TTL_S=1",
        "INVENTORY_TIMEOUT_MS=8000", "INVENTORY_PER_TRY_TIMEOUT_MS=8000",
        "INVENTORY_RETRIES=0",       "INVENTORY_BREAKER_FAILURES=100",
        "REQUEST_BUDGET_MS=10000",   NULL};

    order_restart_with(slow_env);
    for (int i = 0; i < 2; i++) {
        memset(&b[i], 0, sizeof(b[i]));
        direct_body(b[i].body, sizeof(b[i].body), user, product, 1);
        b[i].key = key;
    }
    json_decref(call_ok(MS_SVC_INVENTORY, "PUT", "/admin/faults", faults, 200));
    pthread_create(&t[0], NULL, buy, &b[0]);
    ms_sleep_ms(1300); /* the first request's claim is now older than the TTL */
    pthread_create(&t[1], NULL, buy, &b[1]);
}

/* A request that stalls past the claim TTL (inventory answering slowly) has its key taken over
 * by a retry; whichever of the two writes second must not make a second order, and answers
 * with the first one's. */
START_TEST(test_stalled_request_and_its_takeover_make_one_order)
{
    long long user = new_user(), before = stock_field(9, "available");
    struct buyer b[2];
    char key[64];
    pthread_t t[2];

    snprintf(key, sizeof(key), "stalled-%lld", user);
    stall_and_take_over(key, user, 9, "{\"delay_ms\":2000,\"delay_percent\":100}", b, t);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    json_decref(call_ok(MS_SVC_INVENTORY, "DELETE", "/admin/faults", NULL, 200));
    ck_assert_int_eq(b[0].status, 201);
    ck_assert_int_eq(b[1].status, 201);
    ck_assert_str_eq(b[0].order_id, b[1].order_id);
    ck_assert_int_eq(orders_of(user), 1);
    ck_assert_int_eq(stock_field(9, "available"), before - 1); /* the loser's stock given back */
}
END_TEST

static double metric_of(enum ms_test_svc s, const char *series)
{
    return ms_test_metric(port_of(s), series);
}

/* Waits up to timeout_ms for service s's series to reach want. */
static bool wait_metric(enum ms_test_svc s, const char *series, double want, long timeout_ms)
{
    int64_t deadline = ms_now_ms() + timeout_ms;

    while (metric_of(s, series) < want && ms_now_ms() < deadline)
        ms_sleep_ms(20);
    return metric_of(s, series) >= want;
}

/* Puts order id's reservation where it would be had its commit failed (inventory away) for
 * longer than inventory's TTL: the order not committed, the reaper's expiry done, the stock of
 * its one line (quantity of product) back on sale. */
static void expire_behind_the_order(const char *id, int product, int quantity)
{
    char sql[400];

    snprintf(sql, sizeof(sql),
             "WITH o AS (UPDATE orders SET reservation_committed = false WHERE id = '%s' "
             "RETURNING 1) SELECT count(*) FROM o",
             id);
    ck_assert_int_eq(db_count("order", sql), 1);
    snprintf(sql, sizeof(sql),
             "WITH r AS (UPDATE reservations SET status = 'expired' WHERE id = '%s' "
             "RETURNING 1), s AS (UPDATE stock SET available = available + %d "
             "WHERE product_id = %d RETURNING 1) SELECT (SELECT count(*) FROM r) + "
             "(SELECT count(*) FROM s)",
             id, quantity, product);
    ck_assert_int_eq(db_count("inventory", sql), 2);
}

static bool wait_db_count(const char *db, const char *sql, long long want, long timeout_ms)
{
    int64_t deadline = ms_now_ms() + timeout_ms;

    while (ms_now_ms() < deadline) {
        if (db_count(db, sql) == want)
            return true;
        ms_sleep_ms(100);
    }
    return false;
}

/* The status GET /orders/{id} shows for order id. */
static void assert_order_status(const char *id, const char *want)
{
    char path[96];
    json_t *doc;

    snprintf(path, sizeof(path), "/orders/%s", id);
    doc = call_ok(MS_SVC_ORDER, "GET", path, NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "status")), want);
    json_decref(doc);
}

/* Order restarted with its backorder retry every retry_s seconds (and a pass at start). */
static void order_with_backorder_retry(const char *retry_s)
{
    char env[64];

    snprintf(env, sizeof(env), "BACKORDER_RETRY_S=%s", retry_s);
    order_restart_with((const char *const[]){"ADMIN_ENABLED=true", "LOG_LEVEL=info", env, NULL});
}

/* An order whose reservation the reaper gave back before the order could commit it: the
 * order's worker still commits it from the stock left; when that stock is gone, the order is
 * counted once and backordered, out of the way of the others, and filled once restocked. */
START_TEST(test_order_whose_reservation_expired_commits_late_or_waits_for_stock)
{
    long long user = new_user(), before = stock_field(11, "available");
    struct buyer late = {0}, gone = {0};
    double conflicts_before;
    char sql[300];

    order_with_backorder_retry("3600"); /* one backorder pass at start, then none */
    direct_body(late.body, sizeof(late.body), user, 11, 2);
    direct_body(gone.body, sizeof(gone.body), user, 12, 1);
    buy(&late);
    buy(&gone);
    ck_assert_int_eq(late.status, 201);
    ck_assert_int_eq(gone.status, 201);
    expire_behind_the_order(late.order_id, 11, 2);
    expire_behind_the_order(gone.order_id, 12, 1);
    stock_set(12, 0); /* product 12's unit was sold to someone else meanwhile */

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM orders WHERE id IN ('%s', '%s') AND "
             "(reservation_committed OR status = 'backordered')",
             late.order_id, gone.order_id);
    ck_assert(wait_db_count("order", sql, 2, 10000));
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM orders WHERE id = '%s' AND reservation_committed",
             late.order_id);
    ck_assert_int_eq(db_count("order", sql), 1);
    ck_assert_int_eq(stock_field(11, "available"), before - 2); /* taken again */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM reservations WHERE id = '%s' AND status = 'committed'",
             late.order_id);
    ck_assert_int_eq(db_count("inventory", sql), 1);
    assert_order_status(late.order_id, "confirmed");
    assert_order_status(gone.order_id, "backordered");
    ck_assert_int_eq(stock_field(12, "available"), 0);
    ck_assert_double_eq(metric_of(MS_SVC_ORDER, "order_reservations_lost_total"), 1);

    /* the 2 s pass over unfinished orders leaves the backordered one alone */
    conflicts_before =
        metric_of(MS_SVC_INVENTORY, "inventory_reservations_total{result=\"conflict\"}");
    ms_sleep_ms(2500);
    ck_assert_double_eq(
        metric_of(MS_SVC_INVENTORY, "inventory_reservations_total{result=\"conflict\"}"),
        conflicts_before);

    /* tried again every second: the restock fills it, and it is counted as lost only once */
    order_with_backorder_retry("1");
    ms_sleep_ms(1500);
    assert_order_status(gone.order_id, "backordered");
    stock_set(12, 5);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM orders WHERE id = '%s' AND reservation_committed AND "
             "status = 'confirmed'",
             gone.order_id);
    ck_assert(wait_db_count("order", sql, 1, 5000));
    ck_assert_int_eq(stock_field(12, "available"), 4);
    assert_order_status(gone.order_id, "confirmed");
    ck_assert_double_eq(metric_of(MS_SVC_ORDER, "order_reservations_lost_total"), 0);
    stock_set(12, 100);
}
END_TEST

/* ---- answers lost, work half done: the saga's repairs ---- */

/* Buys quantity of product as a new direct order of user; its id into id (40 bytes). */
static void buy_one(long long user, int product, int quantity, char *id)
{
    struct buyer b = {0};

    direct_body(b.body, sizeof(b.body), user, product, quantity);
    buy(&b);
    ck_assert_int_eq(b.status, 201);
    snprintf(id, 40, "%s", b.order_id);
}

/* The error code of an error answer. */
static const char *error_code(const json_t *doc)
{
    const char *code = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));

    return code ? code : "";
}

/* "Key in progress" and "out of stock" are both 409, told apart by their codes. */
START_TEST(test_key_in_progress_and_out_of_stock_have_their_own_codes)
{
    long long user = new_user();
    char body[160], key[64], header[100];
    const char *headers[] = {header, NULL};
    long status = 0;
    json_t *doc;

    stock_set(15, 0);
    direct_body(body, sizeof(body), user, 15, 1);
    doc = call(MS_SVC_ORDER, "POST", "/orders", body, NULL, &status);
    ck_assert_int_eq(status, 409);
    ck_assert_str_eq(error_code(doc), "out_of_stock");
    json_decref(doc);
    stock_set(15, 100);
    snprintf(key, sizeof(key), "busy-%lld", user);
    plant_claim(key, body, "0 seconds");
    snprintf(header, sizeof(header), "Idempotency-Key: %s", key);
    doc = call(MS_SVC_ORDER, "POST", "/orders", body, headers, &status);
    ck_assert_int_eq(status, 409);
    ck_assert_str_eq(error_code(doc), "idempotency_key_in_progress");
    json_decref(doc);
    ck_assert_int_eq(orders_of(user), 0);
}
END_TEST

/* A key whose order exists answers with the order, whatever answer its row kept: a request
 * that lost its key to a retry may have written its 409 or 503 after the retry bought. */
START_TEST(test_replay_of_a_key_with_an_order_answers_the_order)
{
    long long user = new_user();
    struct buyer b = {0};
    char key[64], sql[300];
    struct buyer again = {0};

    snprintf(key, sizeof(key), "placed-%lld", user);
    direct_body(b.body, sizeof(b.body), user, 16, 1);
    b.key = key;
    buy(&b);
    ck_assert_int_eq(b.status, 201);
    snprintf(sql, sizeof(sql),
             "WITH k AS (UPDATE idempotency_keys SET response_status = 409, response_body = "
             "'{\"error\":{\"code\":\"conflict\"}}' WHERE key = '%s' RETURNING 1) "
             "SELECT count(*) FROM k",
             key);
    ck_assert_int_eq(db_count("order", sql), 1);
    again = b;
    buy(&again);
    ck_assert_int_eq(again.status, 201);
    ck_assert_str_eq(again.order_id, b.order_id);
}
END_TEST

/* A request that stalls past the claim TTL and then fails must not drop the claim of the retry
 * that took its key over while that retry is still running: a third attempt would buy in
 * parallel. */
START_TEST(test_stalled_request_that_fails_leaves_the_takeover_claim_alone)
{
    long long user = new_user();
    struct buyer b[2];
    char key[64], sql[200];
    pthread_t t[2];

    snprintf(key, sizeof(key), "stall-fail-%lld", user);
    stall_and_take_over(key, user, 17,
                        "{\"delay_ms\":2000,\"delay_percent\":100,\"abort_status\":503,"
                        "\"abort_percent\":100}",
                        b, t);
    pthread_join(t[0], NULL);
    ck_assert_int_eq(b[0].status, 503);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM idempotency_keys WHERE key = '%s' AND status = 'in_progress'",
             key);
    ck_assert_msg(db_count("order", sql) == 1, "the takeover's claim was dropped");
    pthread_join(t[1], NULL);
    json_decref(call_ok(MS_SVC_INVENTORY, "DELETE", "/admin/faults", NULL, 200));
}
END_TEST

/* A product name of 200 characters can be far more than 200 bytes: the order keeps its line,
 * whole, and its total is the sum of the lines it shows. */
START_TEST(test_long_multibyte_product_name_keeps_its_order_line)
{
    long long user = new_user();
    struct buyer b = {0};
    char path[96];
    json_t *doc, *items;
    const char *name;

    ck_assert_int_eq(db_count("product",
                              "WITH p AS (UPDATE products SET name = repeat('a', 199) "
                              "|| 'é' WHERE id = 18 RETURNING 1) SELECT count(*) FROM p"),
                     1);
    direct_body(b.body, sizeof(b.body), user, 18, 2);
    buy(&b);
    ck_assert_int_eq(b.status, 201);
    snprintf(path, sizeof(path), "/orders/%s", b.order_id);
    doc = call_ok(MS_SVC_ORDER, "GET", path, NULL, 200);
    items = json_object_get(doc, "items");
    ck_assert_int_eq(json_array_size(items), 1);
    name = json_string_value(json_object_get(json_array_get(items, 0), "name"));
    ck_assert_ptr_nonnull(name);
    ck_assert_int_eq(strlen(name), 201);
    ck_assert_str_eq(name + 199, "é");
    ck_assert_int_eq(
        json_integer_value(json_object_get(doc, "total_cents")),
        2 * json_integer_value(json_object_get(json_array_get(items, 0), "unit_price_cents")));
    json_decref(doc);
}
END_TEST

/* Answered keys and published events are kept for a while, not for ever. */
START_TEST(test_old_keys_and_published_events_are_pruned)
{
    static const char *const env[] = {"ADMIN_ENABLED=true", "IDEMPOTENCY_KEY_RETENTION_S=3600",
                                      "OUTBOX_RETENTION_S=3600", NULL};
    long long user = new_user();
    char sql[400];

    order_restart_with(env);
    snprintf(sql, sizeof(sql),
             "WITH k AS (INSERT INTO idempotency_keys (key, request_hash, status, "
             "response_status, response_body, created_at) VALUES ('old-%lld', 'x', 'done', 201, "
             "'{}', now() - interval '2 hours'), ('new-%lld', 'x', 'done', 201, '{}', now()) "
             "RETURNING 1) SELECT count(*) FROM k",
             user, user);
    ck_assert_int_eq(db_count("order", sql), 2);
    snprintf(sql, sizeof(sql),
             "WITH o AS (INSERT INTO outbox (stream, fields, created_at, published_at) VALUES "
             "('pruned-%lld', '{}', now() - interval '2 hours', now() - interval '2 hours'), "
             "('pruned-%lld', '{}', now(), now()) RETURNING 1) SELECT count(*) FROM o",
             user, user);
    ck_assert_int_eq(db_count("order", sql), 2);
    snprintf(sql, sizeof(sql),
             "SELECT (SELECT count(*) FROM idempotency_keys WHERE key IN ('old-%lld', "
             "'new-%lld')) + (SELECT count(*) FROM outbox WHERE stream = 'pruned-%lld')",
             user, user, user);
    ck_assert_msg(wait_db_count("order", sql, 2, 6000), "the old rows were not pruned");
}
END_TEST

/* A reserve whose answer came too late opens the breaker; the release it needs is not dropped
 * because the breaker is open: it waits, and goes once inventory answers again, instead of the
 * stock staying held for inventory's reservation TTL. */
START_TEST(test_release_blocked_by_the_open_breaker_is_sent_later)
{
    static const char *const env[] = {"ADMIN_ENABLED=true",
                                      "INVENTORY_TIMEOUT_MS=300",
                                      "INVENTORY_PER_TRY_TIMEOUT_MS=300",
                                      "INVENTORY_RETRIES=0",
                                      "INVENTORY_BREAKER_FAILURES=1",
                                      "INVENTORY_BREAKER_OPEN_MS=1000",
                                      NULL};
    long long user = new_user(), before = stock_field(19, "available");
    struct buyer b = {0};
    int64_t deadline;

    order_restart_with(env);
    direct_body(b.body, sizeof(b.body), user, 19, 1);
    json_decref(call_ok(MS_SVC_INVENTORY, "PUT", "/admin/faults",
                        "{\"delay_ms\":1000,\"delay_percent\":100}", 200));
    buy(&b);
    ck_assert_int_eq(b.status, 503);
    ms_sleep_ms(1200); /* the reserve has gone through in inventory meanwhile */
    json_decref(call_ok(MS_SVC_INVENTORY, "DELETE", "/admin/faults", NULL, 200));
    ck_assert_int_eq(stock_field(19, "reserved"), 1);
    deadline = ms_now_ms() + 8000;
    while (stock_field(19, "reserved") != 0 && ms_now_ms() < deadline)
        ms_sleep_ms(200);
    ck_assert_msg(stock_field(19, "reserved") == 0, "the reservation is still held");
    ck_assert_int_eq(stock_field(19, "available"), before);
    ck_assert_int_eq(orders_of(user), 0);
}
END_TEST

/* Runs a statement that returns no rows in a database of the stack. */
static void db_exec(const char *db, const char *sql)
{
    char *url = ms_test_pg_url(&st.pg, db);
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQexec(c, sql);

    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    free(url);
}

/* How many events of type the outbox holds for order id. */
static long long events_of(const char *id, const char *type)
{
    char sql[300];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM outbox WHERE fields->>'order_id' = '%s' AND "
             "fields->>'type' = '%s'",
             id, type);
    return db_count("order", sql);
}

static bool wait_events(const char *id, const char *type, long long want, long timeout_ms)
{
    int64_t deadline = ms_now_ms() + timeout_ms;

    while (events_of(id, type) != want && ms_now_ms() < deadline)
        ms_sleep_ms(100);
    return events_of(id, type) == want;
}

/* order.confirmed is announced only once the order's stock is committed; an order that lost
 * its stock says order.backordered, and order.filled once a restock fills it. The customer
 * hears of both, and gets one confirmation. */
START_TEST(test_events_follow_the_stock_confirmed_backordered_filled)
{
    long long user = new_user();
    char id[40], path[96];

    order_with_backorder_retry("1");
    db_exec("inventory", "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS "
                         "$$ BEGIN RAISE EXCEPTION 'commit refused by the test'; END $$");
    db_exec("inventory", "CREATE TRIGGER refuse_commit BEFORE UPDATE ON reservations FOR EACH "
                         "ROW WHEN (NEW.status = 'committed') EXECUTE FUNCTION refuse_commit()");
    buy_one(user, 20, 1, id);
    ms_sleep_ms(600);
    ck_assert_msg(events_of(id, "order.confirmed") == 0,
                  "order.confirmed written before the stock was committed");
    expire_behind_the_order(id, 20, 1);
    stock_set(20, 0);
    db_exec("inventory", "DROP TRIGGER refuse_commit ON reservations; DROP FUNCTION "
                         "refuse_commit()");
    ck_assert(wait_events(id, "order.backordered", 1, 8000));
    assert_order_status(id, "backordered");
    snprintf(path, sizeof(path), "/notifications?order_id=%s", id);
    ck_assert_int_eq(wait_notifications(path, 1, 5000), 1);
    stock_set(20, 5);
    ck_assert(wait_events(id, "order.filled", 1, 8000));
    assert_order_status(id, "confirmed");
    ck_assert_int_eq(events_of(id, "order.confirmed"), 0);
    ck_assert_int_eq(wait_notifications(path, 2, 5000), 2);
    ck_assert_int_eq(stock_field(20, "available"), 4);
    stock_set(20, 100);
}
END_TEST

/* An order clears only the cart lines it bought: a line added while it ran stays. And a clear
 * that fails (cart away) is finished later, not forgotten. */
START_TEST(test_checkout_clears_only_what_it_bought_and_finishes_the_clear_later)
{
    long long user = new_user();
    struct buyer b = {0};
    pthread_t t;
    char path[64];
    json_t *cart, *items;
    int64_t deadline;

    /* inventory is made slow (900 ms) on purpose, to leave time to change the cart: longer than
     * order's default budget */
    order_restart_with((const char *const[]){"ADMIN_ENABLED=true", "REQUEST_BUDGET_MS=3000", NULL});
    cart_add(user, 21, 2);
    snprintf(b.body, sizeof(b.body), "{\"user_id\":%lld}", user);
    json_decref(call_ok(MS_SVC_INVENTORY, "PUT", "/admin/faults",
                        "{\"delay_ms\":900,\"delay_percent\":100}", 200));
    pthread_create(&t, NULL, buy, &b);
    ms_sleep_ms(200); /* the order has read the cart and waits for inventory (1 s time-out) */
    cart_add(user, 22, 1);
    cart_add(user, 21, 1); /* one more of a line it is buying: that one stays too */
    ck_assert_int_eq(ms_test_stack_stop_one(&st, MS_SVC_CART, SIGTERM), 0);
    pthread_join(t, NULL);
    json_decref(call_ok(MS_SVC_INVENTORY, "DELETE", "/admin/faults", NULL, 200));
    ck_assert_int_eq(b.status, 201);
    all_running(); /* the cart is back; the order's clear failed while it was away */
    snprintf(path, sizeof(path), "/cart/%lld", user);
    deadline = ms_now_ms() + 8000;
    while (cart_lines(user) == 2 && ms_now_ms() < deadline)
        ms_sleep_ms(200);
    cart = call_ok(MS_SVC_CART, "GET", path, NULL, 200);
    items = json_object_get(cart, "items");
    ck_assert_int_eq(json_array_size(items), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 0), "quantity")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 1), "product_id")),
                     22);
    json_decref(cart);
}
END_TEST

/* One command on the stack's Redis; the reply's integer (or -1 for another type). */
static long long redis_command(const char *fmt, const char *arg)
{
    redisContext *c = redisConnect("127.0.0.1", st.redis.port);
    redisReply *r;
    long long v;

    ck_assert(c && !c->err);
    r = redisCommand(c, fmt, arg);
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r->str);
    v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* Events already on the stream when Redis loses its data (FLUSHALL, a restart without
 * persistence) are published again: every order is still notified. */
START_TEST(test_events_lost_with_redis_data_are_published_again)
{
    long long user = new_user();
    char ids[3][40], path[160];

    ck_assert_int_eq(ms_test_stack_stop_one(&st, MS_SVC_NOTIFICATION, SIGTERM), 0);
    for (int i = 0; i < 3; i++)
        buy_one(user, 23, 1, ids[i]);
    ck_assert(
        wait_db_count("order", "SELECT count(*) FROM outbox WHERE published_at IS NULL", 0, 5000));
    redis_command("FLUSHALL", NULL);
    all_running();
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "/notifications?order_id=%s", ids[i]);
        ck_assert_msg(wait_notifications(path, 1, 10000) == 1, "order %d was never notified", i);
    }
}
END_TEST

/* The stream is capped: events beyond the cap (long consumed) are trimmed, so a Redis under
 * noeviction never fills up with them. */
START_TEST(test_the_event_stream_is_capped)
{
    static const char *const env[] = {"ADMIN_ENABLED=true", "ORDER_STREAM_MAXLEN=100", NULL};

    order_restart_with(env);
    ck_assert_int_eq(db_count("order", "WITH o AS (INSERT INTO outbox (stream, fields) SELECT "
                                       "'capped.events', jsonb_build_object('type', 'test', 'n', "
                                       "n::text) FROM generate_series(1, 400) n RETURNING 1) "
                                       "SELECT count(*) FROM o"),
                     400);
    ck_assert(wait_db_count("order",
                            "SELECT count(*) FROM outbox WHERE stream = 'capped.events' AND "
                            "published_at IS NULL",
                            0, 10000));
    ck_assert_int_le(redis_command("XLEN %s", "capped.events"), 200);
}
END_TEST

/* While Redis is slow to take an event, no transaction of the outbox publisher stays open in
 * PostgreSQL holding row locks. */
START_TEST(test_outbox_publisher_holds_no_transaction_across_redis_calls)
{
    static const char *const env[] = {"ADMIN_ENABLED=true", "REDIS_TIMEOUT_MS=3000", NULL};
    long long user = new_user();
    char id[40], sql[200];
    int64_t deadline;
    long long open = 0;

    order_restart_with(env);
    redis_command("CLIENT PAUSE 1500 WRITE", NULL);
    buy_one(user, 24, 1, id);
    deadline = ms_now_ms() + 1200;
    while (ms_now_ms() < deadline && open == 0) {
        open = db_count("order", "SELECT count(*) FROM pg_stat_activity WHERE datname = 'order' "
                                 "AND state LIKE 'idle in transaction%'");
        ms_sleep_ms(50);
    }
    ck_assert_msg(open == 0, "a transaction stayed open while Redis was paused");
    ck_assert(wait_events(id, "order.confirmed", 1, 3000));
    /* this order's events only: an earlier test's order stopped mid-claim leaves its own rows
     * claimed for OUTBOX_CLAIM_S */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM outbox WHERE fields->>'order_id' = '%s' AND "
             "published_at IS NULL",
             id);
    ck_assert(wait_db_count("order", sql, 0, 5000));
}
END_TEST

/* ---- answers lost on the way back from PostgreSQL ---- */

struct persistent_buyer {
    char body[160];
    char key[64];
    long status; /* the last answer */
    int attempts;
};

/* Buys with one Idempotency-Key, retrying a 503 or a 409 "in progress" with the same key as a
 * client would, until a final answer or for 10 s: the bound issue 12 sets for every key to
 * reach its final answer through a lossy link. */
static void *buy_until_final(void *arg)
{
    struct persistent_buyer *b = arg;
    char header[100];
    const char *headers[] = {header, NULL};
    int64_t give_up = ms_now_ms() + 10000;

    snprintf(header, sizeof(header), "Idempotency-Key: %s", b->key);
    for (b->attempts = 0; ms_now_ms() < give_up; b->attempts++) {
        json_decref(call(MS_SVC_ORDER, "POST", "/orders", b->body, headers, &b->status));
        if (b->status != 503 && b->status != 409 && b->status != 0)
            break;
        ms_sleep_ms(50 + 10 * (b->attempts % 5));
    }
    return NULL;
}

/* PostgreSQL commits an order and its answer is lost (the connection is reset on the way back):
 * the order service must not take that as "not stored" and give the stock back. With a share of
 * order's PostgreSQL answers lost, every key still ends with its order, and every order ends with
 * its stock committed: none backordered, none whose reservation was released. */
START_TEST(test_orders_whose_insert_answer_is_lost_keep_their_stock)
{
    enum { BUYERS = 8, ROUNDS = 4 };
    struct ms_test_proxy px;
    struct persistent_buyer b[BUYERS * ROUNDS];
    pthread_t t[BUYERS];
    char url[200], env_url[220];
    long long user = new_user();
    int done = 0;

    ck_assert_int_eq(ms_test_proxy_start(&px, "order-pg", st.pg.port, NULL), 0);
    snprintf(url, sizeof(url), "postgresql://ms@127.0.0.1:%d/order", px.port);
    snprintf(env_url, sizeof(env_url), "DATABASE_URL=%s", url);
    order_restart_with((const char *const[]){"ADMIN_ENABLED=true", env_url, NULL});
    ck_assert_int_eq(ms_test_proxy_faults(&px, "{\"lose_answer_percent\":8}"), 0);
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < BUYERS; i++) {
            struct persistent_buyer *p = &b[r * BUYERS + i];
            memset(p, 0, sizeof(*p));
            direct_body(p->body, sizeof(p->body), user, 25, 1);
            snprintf(p->key, sizeof(p->key), "lost-%lld-%d-%d", user, r, i);
            pthread_create(&t[i], NULL, buy_until_final, p);
        }
        for (int i = 0; i < BUYERS; i++)
            pthread_join(t[i], NULL);
    }
    ck_assert_double_gt(ms_test_proxy_applied(&px, "lost_answer"), 0);
    ck_assert_int_eq(ms_test_proxy_clean(&px), 0);
    for (int i = 0; i < BUYERS * ROUNDS; i++)
        done += b[i].status == 201;
    ck_assert_int_eq(done, BUYERS * ROUNDS);
    ck_assert_msg(wait_db_count("order",
                                "SELECT count(*) FROM orders WHERE NOT reservation_committed", 0,
                                10000),
                  "orders left without their stock committed");
    ck_assert_int_eq(db_count("order", "SELECT count(*) FROM orders WHERE status = 'backordered'"),
                     0);
    ck_assert_int_eq(orders_of(user), BUYERS * ROUNDS);
    ck_assert_int_eq(ms_test_proxy_stop(&px), 0);
}
END_TEST

/* Waits up to timeout_ms until the order database shows (want true) or no longer shows a
 * statement asleep in pg_sleep. */
static bool wait_sleeping(bool want, long timeout_ms)
{
    const char *sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'order' AND "
                      "wait_event = 'PgSleep'";

    return wait_db_count("order", sql, want ? 1 : 0, timeout_ms);
}

/* The one ambiguous answer, made on purpose: the order's insert is slowed by a trigger, every
 * answer of order's PostgreSQL is lost while it runs, so PostgreSQL commits it and the order
 * service only sees its connection reset. The order's fate says it was placed: the purchase
 * goes on (201 at the first attempt), its stock is committed, nothing is released. */
START_TEST(test_order_insert_committed_without_an_answer_goes_on)
{
    struct ms_test_proxy px;
    char env_url[220], sql[400], id[40];
    long long user = new_user();
    struct buyer b = {0};
    pthread_t t;

    ck_assert_int_eq(ms_test_proxy_start(&px, "order-pg", st.pg.port, NULL), 0);
    snprintf(env_url, sizeof(env_url), "DATABASE_URL=postgresql://ms@127.0.0.1:%d/order", px.port);
    /* the insert alone takes 1 s: a budget that outlasts it and the loss (lab 8 shows the
     * default budget's side with a shorter insert) */
    order_restart_with(
        (const char *const[]){"ADMIN_ENABLED=true", env_url, "REQUEST_BUDGET_MS=5000", NULL});
    db_exec("order", "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$");
    snprintf(sql, sizeof(sql),
             "CREATE TRIGGER slow_insert AFTER INSERT ON orders FOR EACH ROW WHEN "
             "(NEW.user_id = %lld) EXECUTE FUNCTION slow_insert()",
             user);
    db_exec("order", sql);
    direct_body(b.body, sizeof(b.body), user, 26, 1);
    pthread_create(&t, NULL, buy, &b);
    ck_assert(wait_sleeping(true, 5000));
    ck_assert_int_eq(ms_test_proxy_faults(&px, "{\"lose_answer_percent\":100}"), 0);
    ck_assert(wait_sleeping(false, 5000)); /* committed; its answer is lost on the way */
    ms_sleep_ms(100);
    ck_assert_int_eq(ms_test_proxy_clean(&px), 0);
    pthread_join(t, NULL);
    db_exec("order", "DROP TRIGGER slow_insert ON orders; DROP FUNCTION slow_insert()");
    ck_assert_double_ge(ms_test_proxy_applied(&px, "lost_answer"), 1);
    ck_assert_int_eq(b.status, 201);
    snprintf(id, sizeof(id), "%s", b.order_id);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM orders WHERE id = '%s' AND reservation_committed AND "
             "status = 'confirmed'",
             id);
    ck_assert(wait_db_count("order", sql, 1, 5000));
    ck_assert_double_eq(metric_of(MS_SVC_ORDER, "order_ambiguous_inserts_total{fate=\"placed\"}"),
                        1);
    ck_assert_int_eq(orders_of(user), 1);
    ck_assert_int_eq(ms_test_proxy_stop(&px), 0);
}
END_TEST

/* Sends b's purchase while every answer from order's PostgreSQL is lost, so that its claim is
 * made and its request answers 503 all the same, then lifts the fault. Whether the claim was
 * made, as the worker's deletion of it shows (the worker's own statement may have met the
 * fault first, leaving the request no connection to send its claim on). */
static bool claim_left_behind(struct ms_test_proxy *px, struct persistent_buyer *b, double before)
{
    const char *deleted = "order_idempotency_orphans_total{event=\"deleted\"}";
    char header[100];
    const char *headers[] = {header, NULL};

    snprintf(header, sizeof(header), "Idempotency-Key: %s", b->key);
    ck_assert_int_eq(ms_test_proxy_faults(px, "{\"lose_answer_percent\":100}"), 0);
    json_decref(call(MS_SVC_ORDER, "POST", "/orders", b->body, headers, &b->status));
    ck_assert_int_eq(b->status, 503);
    ck_assert_int_eq(ms_test_proxy_clean(px), 0);
    return wait_metric(MS_SVC_ORDER, deleted, before + 1, 3000);
}

/* A request whose claim of its Idempotency-Key reached PostgreSQL, but whose answers were all
 * lost, answers 503: the key must not stay "in progress" for the claim's TTL (30 s), every retry
 * of the purchase told 409 meanwhile. The order's worker deletes the claim it left behind. */
START_TEST(test_claim_left_by_a_request_that_gave_up_frees_its_key)
{
    struct ms_test_proxy px;
    struct persistent_buyer b = {0};
    char env_url[220], published[200];
    long long user = new_user();
    int64_t freed;
    bool left = false;

    snprintf(published, sizeof(published),
             "SELECT count(*) FROM outbox WHERE published_at IS NULL AND fields->>'user_id' = "
             "'%lld'",
             user);

    ck_assert_int_eq(ms_test_proxy_start(&px, "order-pg", st.pg.port, NULL), 0);
    snprintf(env_url, sizeof(env_url), "DATABASE_URL=postgresql://ms@127.0.0.1:%d/order", px.port);
    /* one connection, on which the claim's statement is already prepared (else the prepare's
     * answer, not the claim's, would be the one lost, and no claim made) */
    order_restart_with((const char *const[]){"ADMIN_ENABLED=true", env_url, "DB_POOL_SIZE=1",
                                             "IDEMPOTENCY_CLAIM_TTL_S=30", NULL});
    direct_body(b.body, sizeof(b.body), user, 27, 1);
    for (int attempt = 0; attempt < 3 && !left; attempt++) {
        snprintf(b.key, sizeof(b.key), "warm-%lld-%d", user, attempt);
        buy_until_final(&b);
        ck_assert_int_eq(b.status, 201);
        /* the worker, woken by the order, has published its event: the connection is free */
        ck_assert(wait_db_count("order", published, 0, 5000));
        ms_sleep_ms(50);
        snprintf(b.key, sizeof(b.key), "left-%lld-%d", user, attempt);
        left = claim_left_behind(&px, &b, attempt);
    }
    ck_assert_msg(left, "no claim was left behind in 3 attempts");
    freed = ms_now_ms();
    buy_until_final(&b);
    ck_assert_int_eq(b.status, 201);
    ck_assert_int_lt(ms_now_ms() - freed, 3000);
    ck_assert_double_eq(
        metric_of(MS_SVC_ORDER, "order_idempotency_orphans_total{event=\"deleted\"}"), 1);
    ck_assert_int_eq(ms_test_proxy_stop(&px), 0);
}
END_TEST

/* Twenty backorders that cannot be filled must not keep a newer one, whose stock is back,
 * waiting for ever: each pass takes the orders tried longest ago, not the oldest. */
START_TEST(test_unfillable_backorders_do_not_starve_a_newer_one)
{
    enum { STUCK = 21 };
    long long user = new_user();
    char stuck[STUCK][40], newer[40], sql[300];

    order_with_backorder_retry("1");
    for (int i = 0; i < STUCK; i++)
        buy_one(user, 13, 1, stuck[i]);
    buy_one(user, 14, 1, newer);
    /* sold out first, so no late commit can take the stock back before the orders backorder */
    stock_set(13, 0);
    stock_set(14, 0);
    for (int i = 0; i < STUCK; i++)
        expire_behind_the_order(stuck[i], 13, 0);
    expire_behind_the_order(newer, 14, 0);
    ck_assert(wait_db_count("order", "SELECT count(*) FROM orders WHERE status = 'backordered'",
                            STUCK + 1, 15000));
    stock_set(14, 5);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM orders WHERE id = '%s' AND status = 'confirmed' AND "
             "reservation_committed",
             newer);
    ck_assert_msg(wait_db_count("order", sql, 1, 8000), "the newer backorder was never filled");
    ck_assert_int_eq(stock_field(14, "available"), 4);
    stock_set(13, 100);
    stock_set(14, 100);
}
END_TEST

/* ---- failures ---- */

START_TEST(test_inventory_down_order_fails_fast_and_leaves_nothing)
{
    long long user = new_user();
    char body[64], url[128];
    struct ms_test_response r;
    char *retry;

    cart_add(user, 4, 1);
    ck_assert_int_eq(ms_test_stack_stop_one(&st, MS_SVC_INVENTORY, SIGTERM), 0);
    snprintf(body, sizeof(body), "{\"user_id\":%lld}", user);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/orders", port_of(MS_SVC_ORDER));
    ck_assert_int_eq(ms_test_http("POST", url, body, NULL, 15000, &r), 0);
    ck_assert_int_eq(r.status, 503);
    ck_assert_double_lt(r.seconds, 2.0);
    retry = ms_test_header(&r, "Retry-After");
    ck_assert_ptr_nonnull(retry);
    ck_assert_ptr_nonnull(strstr(r.body, "inventory"));
    free(retry);
    ms_test_response_free(&r);
    all_running();
    ck_assert_int_eq(orders_of(user), 0);
    ck_assert_int_eq(cart_lines(user), 1);
}
END_TEST

#define INVENTORY_503(route)                                                                       \
    "http_requests_total{service=\"inventory\",method=\"POST\",route=\"" route "\",code=\"503\"}"

static const char reserve_refused[] = INVENTORY_503("/inventory/reservations");

/* The 503s inventory answered to reservations and their releases (a series not yet there is 0). */
static double inventory_refusals(void)
{
    double reserves = metric_of(MS_SVC_INVENTORY, reserve_refused);
    double releases =
        metric_of(MS_SVC_INVENTORY, INVENTORY_503("/inventory/reservations/{id}/release"));

    return (reserves > 0 ? reserves : 0) + (releases > 0 ? releases : 0);
}

/* Inventory counts a request once its answer is sent, a moment after order has it. */
static bool wait_inventory_refusals(double want, long timeout_ms)
{
    int64_t deadline = ms_now_ms() + timeout_ms;

    while (inventory_refusals() < want && ms_now_ms() < deadline)
        ms_sleep_ms(20);
    return inventory_refusals() >= want;
}

START_TEST(test_breaker_opens_on_failing_inventory_and_closes_after)
{
    static const char *const breaker_env[] = {"ADMIN_ENABLED=true", "INVENTORY_BREAKER_FAILURES=3",
                                              "INVENTORY_BREAKER_OPEN_MS=1500",
                                              "INVENTORY_RETRIES=0", NULL};
    long long user = new_user();
    char body[160];
    double seen;

    order_restart_with(breaker_env);
    json_decref(call_ok(MS_SVC_INVENTORY, "PUT", "/admin/faults",
                        "{\"abort_status\":503,\"abort_percent\":100}", 200));
    direct_body(body, sizeof(body), user, 5, 1);
    for (int i = 0; i < 3; i++)
        json_decref(call_ok(MS_SVC_ORDER, "POST", "/orders", body, 503));
    ck_assert_double_eq(metric_of(MS_SVC_ORDER, "circuit_breaker_state{upstream=\"inventory\"}"),
                        1);
    /* Three failures opened it: the first order's reservation, then its release, either sent
     * at once or by the worker's retry of it, which may come before the second order does. */
    ck_assert(wait_inventory_refusals(3, 2000));
    seen = inventory_refusals();
    ck_assert_double_ge(metric_of(MS_SVC_INVENTORY, reserve_refused), 1);
    for (int i = 0; i < 3; i++)
        json_decref(call_ok(MS_SVC_ORDER, "POST", "/orders", body, 503));
    /* open: the orders failed without a single call reaching inventory */
    ck_assert_double_eq(inventory_refusals(), seen);
    ck_assert_double_ge(metric_of(MS_SVC_ORDER, "upstream_requests_total{upstream=\"inventory\","
                                                "outcome=\"rejected\"}"),
                        3);
    json_decref(call_ok(MS_SVC_INVENTORY, "DELETE", "/admin/faults", NULL, 200));
    ms_sleep_ms(1600);
    json_decref(call_ok(MS_SVC_ORDER, "POST", "/orders", body, 201));
    ck_assert_double_eq(metric_of(MS_SVC_ORDER, "circuit_breaker_state{upstream=\"inventory\"}"),
                        0);
    ck_assert_int_eq(orders_of(user), 1);
}
END_TEST

START_TEST(test_notification_stopped_during_thirty_orders_loses_none)
{
    long long user = new_user();
    char body[160], path[64];

    ck_assert_int_eq(ms_test_stack_stop_one(&st, MS_SVC_NOTIFICATION, SIGTERM), 0);
    direct_body(body, sizeof(body), user, 2, 1);
    for (int i = 0; i < 30; i++)
        json_decref(call_ok(MS_SVC_ORDER, "POST", "/orders", body, 201));
    all_running();
    snprintf(path, sizeof(path), "/notifications?user_id=%lld", user);
    ck_assert_int_eq(wait_notifications(path, 30, 15000), 30);
    ms_sleep_ms(500);
    ck_assert_int_eq(wait_notifications(path, 31, 200), 30); /* and not one more */
    ck_assert_int_eq(db_count("notification", "SELECT count(*) - count(DISTINCT order_id) FROM "
                                              "notifications"),
                     0);
}
END_TEST

START_TEST(test_slow_product_service_degrades_the_cart_not_the_order_history)
{
    long long user = new_user();
    char path[64], url[128];
    struct ms_test_response r;
    json_t *doc;

    cart_add(user, 7, 1);
    json_decref(call_ok(MS_SVC_PRODUCT, "PUT", "/admin/faults",
                        "{\"delay_ms\":1500,\"delay_percent\":100}", 200));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/cart/%lld", port_of(MS_SVC_CART), user);
    ck_assert_int_eq(ms_test_http("GET", url, NULL, NULL, 5000, &r), 0);
    json_decref(call_ok(MS_SVC_PRODUCT, "DELETE", "/admin/faults", NULL, 200));
    ck_assert_int_eq(r.status, 200);
    ck_assert_double_lt(r.seconds, 1.0);
    doc = ms_test_json(&r);
    ck_assert(json_is_true(json_object_get(doc, "degraded")));
    ck_assert_int_eq(json_array_size(json_object_get(doc, "items")), 1);
    json_decref(doc);
    ms_test_response_free(&r);
    snprintf(path, sizeof(path), "/orders?user_id=%lld", user);
    json_decref(call_ok(MS_SVC_ORDER, "GET", path, NULL, 200));
}
END_TEST

/* ---- bad input ---- */

/* The teardown's look for dead services: a service that died on its own is found, reported and
 * started again (what back_to_defaults relies on to fail the test it died in). */
START_TEST(test_a_service_that_dies_is_noticed_and_started_again)
{
    long status;

    ck_assert_int_eq(kill(st.svc[MS_SVC_NOTIFICATION].pid, SIGKILL), 0);
    ms_sleep_ms(200);
    ck_assert_int_eq(ms_test_stack_reap(&st), 1);
    ck_assert_int_eq(st.svc[MS_SVC_NOTIFICATION].pid, 0);
    ck_assert_int_eq(ms_test_stack_reap(&st), 0);
    all_running();
    json_decref(call(MS_SVC_NOTIFICATION, "GET", "/health", NULL, NULL, &status));
    ck_assert_int_eq(status, 200);
}
END_TEST

START_TEST(test_bad_orders_get_4xx_and_write_nothing)
{
    long long user = new_user();
    char bodies[16][200];
    long long orders_before = db_count("order", "SELECT count(*) FROM orders");
    int n = 0;

    snprintf(bodies[n++], 200, "{\"user_id\":%lld", user);
    snprintf(bodies[n++], 200, "{\"user_id\":\"%lld\"}", user);
    snprintf(bodies[n++], 200, "{\"items\":[{\"product_id\":1,\"quantity\":1}]}");
    snprintf(bodies[n++], 200, "{\"user_id\":%lld,\"items\":[]}", user);
    snprintf(bodies[n++], 200, "{\"user_id\":%lld,\"items\":[{\"product_id\":1,\"quantity\":0}]}",
             user);
    snprintf(bodies[n++], 200, "{\"user_id\":%lld,\"items\":[{\"product_id\":1,\"quantity\":-2}]}",
             user);
    snprintf(bodies[n++], 200, "{\"user_id\":%lld,\"items\":[{\"product_id\":1,\"quantity\":100}]}",
             user);
    snprintf(bodies[n++], 200,
             "{\"user_id\":%lld,\"items\":[{\"product_id\":1,\"quantity\":99999999999999999999}]}",
             user);
    snprintf(bodies[n++], 200,
             "{\"user_id\":%lld,\"items\":[{\"product_id\":1,\"quantity\":1,"
             "\"price_cents\":1}]}",
             user);
    snprintf(bodies[n++], 200,
             "{\"user_id\":%lld,\"items\":[{\"product_id\":1,\"quantity\":1},"
             "{\"product_id\":1,\"quantity\":2}]}",
             user);
    snprintf(bodies[n++], 200, "{\"user_id\":%lld,\"total_cents\":1}", user);
    snprintf(bodies[n++], 200, "[1,2,3]");
    snprintf(bodies[n++], 200, "{\"user_id\":\"1; DROP TABLE orders;--\"}");
    snprintf(bodies[n++], 200, "{\"user_id\":%lld}", user); /* the cart is empty */
    for (int i = 0; i < n; i++) {
        long status = 0;
        json_t *doc = call(MS_SVC_ORDER, "POST", "/orders", bodies[i], NULL, &status);
        ck_assert_msg(status == 400, "%s: %ld", bodies[i], status);
        ck_assert_ptr_nonnull(json_object_get(doc, "error"));
        json_decref(doc);
    }
    snprintf(bodies[0], 200,
             "{\"user_id\":2000000000,\"items\":[{\"product_id\":1,\"quantity\":1}]}");
    json_decref(call_ok(MS_SVC_ORDER, "POST", "/orders", bodies[0], 404)); /* unknown user */
    direct_body(bodies[0], 200, user, 424242, 1);
    json_decref(call_ok(MS_SVC_ORDER, "POST", "/orders", bodies[0], 404)); /* unknown product */
    json_decref(call_ok(MS_SVC_ORDER, "GET", "/orders/not-a-uuid", NULL, 400));
    json_decref(
        call_ok(MS_SVC_ORDER, "GET", "/orders/00000000-0000-4000-8000-000000000000", NULL, 404));
    json_decref(call_ok(MS_SVC_ORDER, "GET", "/orders", NULL, 400));
    json_decref(call_ok(MS_SVC_ORDER, "GET", "/orders?user_id=abc", NULL, 400));
    ck_assert_int_eq(db_count("order", "SELECT count(*) FROM orders"), orders_before);
}
END_TEST

/* The saga's repairs, on a stack of their own (CK_RUN_CASE=saga runs them alone). */
static TCase *saga_case(void)
{
    TCase *tc = tcase_create("saga");

    tcase_add_unchecked_fixture(tc, stack_up, stack_down);
    tcase_add_checked_fixture(tc, all_running, back_to_defaults);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_unfillable_backorders_do_not_starve_a_newer_one);
    tcase_add_test(tc, test_key_in_progress_and_out_of_stock_have_their_own_codes);
    tcase_add_test(tc, test_replay_of_a_key_with_an_order_answers_the_order);
    tcase_add_test(tc, test_stalled_request_that_fails_leaves_the_takeover_claim_alone);
    tcase_add_test(tc, test_long_multibyte_product_name_keeps_its_order_line);
    tcase_add_test(tc, test_old_keys_and_published_events_are_pruned);
    tcase_add_test(tc, test_release_blocked_by_the_open_breaker_is_sent_later);
    tcase_add_test(tc, test_events_follow_the_stock_confirmed_backordered_filled);
    tcase_add_test(tc, test_checkout_clears_only_what_it_bought_and_finishes_the_clear_later);
    tcase_add_test(tc, test_events_lost_with_redis_data_are_published_again);
    tcase_add_test(tc, test_the_event_stream_is_capped);
    tcase_add_test(tc, test_outbox_publisher_holds_no_transaction_across_redis_calls);
    tcase_add_test(tc, test_orders_whose_insert_answer_is_lost_keep_their_stock);
    tcase_add_test(tc, test_order_insert_committed_without_an_answer_goes_on);
    tcase_add_test(tc, test_claim_left_by_a_request_that_gave_up_frees_its_key);
    return tc;
}

static Suite *shopping_suite(void)
{
    Suite *s = suite_create("shopping_flow");
    TCase *tc = tcase_create("stack");

    tcase_add_unchecked_fixture(tc, stack_up, stack_down);
    tcase_add_checked_fixture(tc, all_running, back_to_defaults);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_journey_from_sign_up_to_notification);
    tcase_add_test(tc, test_fifty_parallel_orders_for_ten_in_stock);
    tcase_add_test(tc, test_one_idempotency_key_twenty_times_makes_one_order);
    tcase_add_test(tc, test_claim_left_by_a_dead_request_is_taken_over_by_a_retry);
    tcase_add_test(tc, test_stalled_request_and_its_takeover_make_one_order);
    tcase_add_test(tc, test_order_whose_reservation_expired_commits_late_or_waits_for_stock);
    tcase_add_test(tc, test_inventory_down_order_fails_fast_and_leaves_nothing);
    tcase_add_test(tc, test_breaker_opens_on_failing_inventory_and_closes_after);
    tcase_add_test(tc, test_notification_stopped_during_thirty_orders_loses_none);
    tcase_add_test(tc, test_slow_product_service_degrades_the_cart_not_the_order_history);
    tcase_add_test(tc, test_bad_orders_get_4xx_and_write_nothing);
    tcase_add_test(tc, test_a_service_that_dies_is_noticed_and_started_again);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, saga_case());
    return s;
}

int main(void)
{
    /* unforked: the services a test stops and starts must stay known to the next one */
    return ms_test_main(shopping_suite(), false);
}
