/* The inventory service over real HTTP against a real PostgreSQL: stock, reservations and their
 * idempotency, the no-oversell proof under concurrency, commit and release transitions, the
 * reaper, hostile input on every endpoint, metrics, and PostgreSQL outages. Every test uses
 * product ids of its own (1000 and up; 1..27 are the seeded catalog, never reserved here). */
#include <check.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deps.h"
#include "http.h"
#include "ms/clock.h"
#include "proc.h"
#include "runner.h"

static struct ms_test_pg pg;
static struct ms_test_service inv; /* shared by the API tests: 8 threads, 8 connections */
static char db_url[256], db_env[300], reaper_db_env[300];

static void stack_up(void)
{
    char *url, *reaper_url;

    ck_assert_int_eq(ms_test_pg_start(&pg), 0);
    ck_assert_int_eq(ms_test_pg_createdb(&pg, "inventory"), 0);
    ck_assert_int_eq(ms_test_pg_createdb(&pg, "inventory_reaper"), 0);
    url = ms_test_pg_url(&pg, "inventory");
    reaper_url = ms_test_pg_url(&pg, "inventory_reaper");
    snprintf(db_url, sizeof(db_url), "%s", url);
    snprintf(db_env, sizeof(db_env), "DATABASE_URL=%s", url);
    snprintf(reaper_db_env, sizeof(reaper_db_env), "DATABASE_URL=%s", reaper_url);
    free(url);
    free(reaper_url);
    ck_assert_int_eq(
        ms_test_service_start(&inv, "inventory",
                              (const char *const[]){db_env, "THREADS=8", "DB_POOL_SIZE=8", NULL}),
        0);
    ck_assert_int_ge(ms_test_wait_status(inv.port, "/ready", 200, 15000), 0);
}

static void stack_down(void)
{
    ms_test_service_stop(&inv, SIGTERM, 5000);
    ms_test_pg_stop(&pg);
}

/* Starts another instance with extra settings (NULL-terminated) and waits until it is ready. */
static void start_instance(struct ms_test_service *svc, const char *const *env)
{
    ck_assert_int_eq(ms_test_service_start(svc, "inventory", env), 0);
    ck_assert_int_ge(ms_test_wait_status(svc->port, "/ready", 200, 15000), 0);
}

/* ---- HTTP helpers ---- */

/* Sends a request to port and checks its status; returns the parsed body (caller decrefs). */
static json_t *request(int port, const char *method, const char *path, const char *body, long want)
{
    struct ms_test_response r;
    char url[512];
    json_t *doc;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    ck_assert_int_eq(ms_test_http(method, url, body, NULL, 10000, &r), 0);
    ck_assert_msg(r.status == want, "%s %s %.300s: status %ld, want %ld; body %s", method, path,
                  body ? body : "", r.status, want, r.body);
    doc = ms_test_json(&r);
    ck_assert_msg(doc != NULL, "%s %s: body is not JSON: %s", method, path, r.body);
    ms_test_response_free(&r);
    return doc;
}

/* Checks the error envelope: its code, and its message when message is not NULL. */
static void assert_error(json_t *doc, const char *code, const char *message)
{
    json_t *err = json_object_get(doc, "error");

    ck_assert_str_eq(json_string_value(json_object_get(err, "code")), code);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(err, "message")));
    ck_assert_ptr_nonnull(json_string_value(json_object_get(err, "request_id")));
    if (message)
        ck_assert_str_eq(json_string_value(json_object_get(err, "message")), message);
}

/* Sends a request expecting an error; checks the envelope's code (and message). */
static void expect_error(int port, const char *method, const char *path, const char *body,
                         long want, const char *code, const char *message)
{
    json_t *doc = request(port, method, path, body, want);

    assert_error(doc, code, message);
    json_decref(doc);
}

static void set_stock(int port, long long product, long long available)
{
    char path[64], body[64];
    json_t *doc;

    snprintf(path, sizeof(path), "/inventory/%lld", product);
    snprintf(body, sizeof(body), "{\"available\":%lld}", available);
    doc = request(port, "PUT", path, body, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "available")), available);
    json_decref(doc);
}

static void assert_stock(int port, long long product, long long available, long long reserved)
{
    char path[64];
    json_t *doc;

    snprintf(path, sizeof(path), "/inventory/%lld", product);
    doc = request(port, "GET", path, NULL, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "product_id")), product);
    ck_assert_msg(json_integer_value(json_object_get(doc, "available")) == available &&
                      json_integer_value(json_object_get(doc, "reserved")) == reserved,
                  "product %lld: %s, want available %lld reserved %lld", product,
                  json_dumps(doc, JSON_COMPACT), available, reserved);
    json_decref(doc);
}

/* {"reservation_id":id,"items":[{"product_id":product,"quantity":quantity}]} into buf. */
static const char *one_item(char *buf, size_t cap, const char *id, long long product,
                            long long quantity)
{
    snprintf(buf, cap,
             "{\"reservation_id\":\"%s\",\"items\":[{\"product_id\":%lld,\"quantity\":%lld}]}", id,
             product, quantity);
    return buf;
}

static json_t *reserve_one(int port, const char *id, long long product, long long quantity,
                           long want)
{
    char body[256];

    return request(port, "POST", "/inventory/reservations",
                   one_item(body, sizeof(body), id, product, quantity), want);
}

/* POSTs /inventory/reservations/{id}/{verb} (commit, release): 200, the reservation at status. */
static void settled(int port, const char *id, const char *verb, const char *status)
{
    char path[160];
    json_t *doc;

    snprintf(path, sizeof(path), "/inventory/reservations/%s/%s", id, verb);
    doc = request(port, "POST", path, NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "reservation_id")), id);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "status")), status);
    ck_assert_uint_ge(json_array_size(json_object_get(doc, "items")), 1);
    json_decref(doc);
}

/* The same verb refused: 409, the state it is in named in message. */
static void settle_refused(int port, const char *id, const char *verb, const char *message)
{
    char path[160];

    snprintf(path, sizeof(path), "/inventory/reservations/%s/%s", id, verb);
    expect_error(port, "POST", path, NULL, 409, "conflict", message);
}

static void assert_status(json_t *reservation, const char *status)
{
    ck_assert_str_eq(json_string_value(json_object_get(reservation, "status")), status);
}

static double result_count(int port, const char *result)
{
    char name[128];

    snprintf(name, sizeof(name), "inventory_reservations_total{result=\"%s\"}", result);
    return ms_test_metric(port, name);
}

/* ---- PostgreSQL helpers: what was (not) written ---- */

/* The first column of the first row of sql, run with up to one text parameter, as text
 * (malloc'd), or NULL when no row came back. */
static char *db_text(const char *url, const char *sql, const char *param)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r;
    char *v = NULL;

    ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
    r = PQexecParams(c, sql, param ? 1 : 0, NULL, param ? &param : NULL, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    if (PQntuples(r) > 0)
        v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return v;
}

static long long db_count(const char *sql, const char *param)
{
    char *text = db_text(db_url, sql, param);
    long long n;

    ck_assert_ptr_nonnull(text);
    n = atoll(text);
    free(text);
    return n;
}

static const char count_reservation[] = "SELECT count(*) FROM reservations WHERE id = $1";
static const char count_items[] =
    "SELECT count(*) FROM reservation_items WHERE reservation_id = $1";
static const char status_of[] = "SELECT status FROM reservations WHERE id = $1";

static void assert_db_status(const char *id, const char *status)
{
    char *got = db_text(db_url, status_of, id);

    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, status);
    free(got);
}

/* ---- stock ---- */

START_TEST(test_stock_is_seeded_for_the_catalog)
{
    assert_stock(inv.port, 1, 100, 0);
    assert_stock(inv.port, 27, 100, 0);
    expect_error(inv.port, "GET", "/inventory/28", NULL, 404, "not_found",
                 "no stock for product 28");
    ck_assert_int_eq(db_count("SELECT count(*) FROM stock WHERE product_id BETWEEN 1 AND 27 "
                              "AND available = 100 AND reserved = 0",
                              NULL),
                     27);
}
END_TEST

START_TEST(test_stock_get_bad_ids)
{
    static const char *const bad[] = {"/inventory/abc", "/inventory/0",   "/inventory/-1",
                                      "/inventory/1.5", "/inventory/1x",  "/inventory/%2B1",
                                      "/inventory/%20", "/inventory/1%27"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_error(inv.port, "GET", bad[i], NULL, 400, "invalid_argument", NULL);
    expect_error(inv.port, "GET", "/inventory/99999999999", NULL, 404, "not_found", NULL);
}
END_TEST

START_TEST(test_stock_put_upserts_and_keeps_reserved)
{
    json_t *doc = request(inv.port, "PUT", "/inventory/2001", "{\"available\":10}", 200);

    ck_assert_int_eq(json_integer_value(json_object_get(doc, "product_id")), 2001);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "available")), 10);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "reserved")), 0);
    ck_assert_int_eq(json_object_size(doc), 3);
    json_decref(doc);
    ck_assert_int_eq(db_count("SELECT available FROM stock WHERE product_id = 2001", NULL), 10);
    json_decref(reserve_one(inv.port, "put-keep-1", 2001, 3, 201));
    assert_stock(inv.port, 2001, 7, 3);
    set_stock(inv.port, 2001, 50);
    assert_stock(inv.port, 2001, 50, 3);
    set_stock(inv.port, 2001, 0);
    assert_stock(inv.port, 2001, 0, 3);
    set_stock(inv.port, 2001, 1000000);
    assert_stock(inv.port, 2001, 1000000, 3);
}
END_TEST

START_TEST(test_stock_put_hostile_input_changes_nothing)
{
    static const char *const bad_bodies[] = {
        "",
        "{",
        "[]",
        "null",
        "{}",
        "{\"available\":null}",
        "{\"available\":\"10\"}",
        "{\"available\":-1}",
        "{\"available\":1000001}",
        "{\"available\":1.5}",
        "{\"available\":1e3}",
        "{\"available\":true}",
        "{\"available\":10,\"reserved\":5}",
        "{\"available\":99999999999999999999}",
        "{\"available\":10,\"available\":11}",
        "{\"available\":10} trailing",
        "{\"available\":\"1; DROP TABLE stock;--\"}",
    };
    static const char *const bad_paths[] = {"/inventory/abc", "/inventory/0", "/inventory/-1",
                                            "/inventory/2147483648", "/inventory/99999999999"};
    long long rows;

    set_stock(inv.port, 2101, 10);
    rows = db_count("SELECT count(*) FROM stock", NULL);
    for (size_t i = 0; i < sizeof(bad_bodies) / sizeof(bad_bodies[0]); i++)
        expect_error(inv.port, "PUT", "/inventory/2101", bad_bodies[i], 400, "invalid_argument",
                     NULL);
    for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++)
        expect_error(inv.port, "PUT", bad_paths[i], "{\"available\":5}", 400, "invalid_argument",
                     NULL);
    assert_stock(inv.port, 2101, 10, 0);
    ck_assert_int_eq(db_count("SELECT count(*) FROM stock", NULL), rows);
}
END_TEST

START_TEST(test_stock_put_body_over_limit_is_413)
{
    char body[2100];

    set_stock(inv.port, 2151, 10);
    memset(body, ' ', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    memcpy(body, "{\"available\":5", 14);
    body[sizeof(body) - 2] = '}';
    expect_error(inv.port, "PUT", "/inventory/2151", body, 413, "payload_too_large", NULL);
    assert_stock(inv.port, 2151, 10, 0);
}
END_TEST

START_TEST(test_wrong_method_is_405_with_allow)
{
    struct ms_test_response r;
    char url[128];
    char *allow;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/inventory/1", inv.port);
    ck_assert_int_eq(ms_test_http("DELETE", url, NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.status, 405);
    allow = ms_test_header(&r, "Allow");
    ck_assert_ptr_nonnull(allow);
    ck_assert_str_eq(allow, "GET, HEAD, PUT");
    free(allow);
    ms_test_response_free(&r);
    expect_error(inv.port, "GET", "/inventory/reservations/x/commit", NULL, 405,
                 "method_not_allowed", NULL);
    assert_stock(inv.port, 1, 100, 0);
}
END_TEST

/* ---- reservations ---- */

START_TEST(test_reserve_holds_stock_and_answers_201)
{
    const char *body = "{\"reservation_id\":\"r-hold-1\",\"items\":[{\"product_id\":2202,"
                       "\"quantity\":2},{\"product_id\":2201,\"quantity\":3}]}";
    double held = result_count(inv.port, "held");
    json_t *doc, *again;
    json_t *want = json_pack("{s:s,s:s,s:[{s:i,s:i},{s:i,s:i}]}", "reservation_id", "r-hold-1",
                             "status", "held", "items", "product_id", 2201, "quantity", 3,
                             "product_id", 2202, "quantity", 2);

    set_stock(inv.port, 2201, 10);
    set_stock(inv.port, 2202, 10);
    doc = request(inv.port, "POST", "/inventory/reservations", body, 201);
    ck_assert_msg(json_equal(doc, want), "got %s", json_dumps(doc, JSON_COMPACT));
    assert_stock(inv.port, 2201, 7, 3);
    assert_stock(inv.port, 2202, 8, 2);
    assert_db_status("r-hold-1", "held");
    ck_assert_int_eq(db_count(count_items, "r-hold-1"), 2);
    ck_assert_int_eq(db_count("SELECT quantity FROM reservation_items WHERE reservation_id = "
                              "'r-hold-1' AND product_id = 2201",
                              NULL),
                     3);
    again = request(inv.port, "GET", "/inventory/reservations/r-hold-1", NULL, 200);
    ck_assert(json_equal(again, want));
    ck_assert_double_eq(result_count(inv.port, "held"), held + 1);
    json_decref(doc);
    json_decref(again);
    json_decref(want);
}
END_TEST

START_TEST(test_reserve_replay_returns_the_stored_reservation_and_changes_nothing)
{
    char other[256];
    double replayed = result_count(inv.port, "replayed");
    json_t *first, *same, *different;

    set_stock(inv.port, 2301, 10);
    set_stock(inv.port, 2302, 10);
    first = reserve_one(inv.port, "r-replay-1", 2301, 4, 201);
    same = reserve_one(inv.port, "r-replay-1", 2301, 4, 201);
    /* a replay is answered from what is stored, whatever it carries */
    snprintf(other, sizeof(other),
             "{\"reservation_id\":\"r-replay-1\",\"items\":[{\"product_id\":2301,\"quantity\":1},"
             "{\"product_id\":2302,\"quantity\":9}]}");
    different = request(inv.port, "POST", "/inventory/reservations", other, 201);
    ck_assert(json_equal(first, same));
    ck_assert(json_equal(first, different));
    assert_stock(inv.port, 2301, 6, 4);
    assert_stock(inv.port, 2302, 10, 0);
    ck_assert_int_eq(db_count(count_reservation, "r-replay-1"), 1);
    ck_assert_int_eq(db_count(count_items, "r-replay-1"), 1);
    ck_assert_double_eq(result_count(inv.port, "replayed"), replayed + 2);
    json_decref(first);
    json_decref(same);
    json_decref(different);
}
END_TEST

/* The first attempt took the last of the stock and its answer was lost: the retry finds too
 * little stock, and must still answer the reservation it made, not 409. */
START_TEST(test_replay_of_a_reservation_that_took_the_last_stock_answers_it)
{
    double replayed = result_count(inv.port, "replayed");
    json_t *first, *again;

    set_stock(inv.port, 2311, 4);
    first = reserve_one(inv.port, "r-replay-last", 2311, 4, 201);
    again = reserve_one(inv.port, "r-replay-last", 2311, 4, 201);
    ck_assert(json_equal(first, again));
    assert_stock(inv.port, 2311, 0, 4);
    ck_assert_double_eq(result_count(inv.port, "replayed"), replayed + 1);
    json_decref(first);
    json_decref(again);
}
END_TEST

START_TEST(test_reserve_insufficient_is_409_naming_the_product)
{
    double insufficient = result_count(inv.port, "insufficient");
    json_t *doc;

    set_stock(inv.port, 2401, 3);
    doc = reserve_one(inv.port, "r-short-1", 2401, 4, 409);
    assert_error(doc, "conflict", "insufficient stock for product 2401: 3 available, 4 requested");
    json_decref(doc);
    assert_stock(inv.port, 2401, 3, 0);
    ck_assert_int_eq(db_count(count_reservation, "r-short-1"), 0);
    ck_assert_int_eq(db_count(count_items, "r-short-1"), 0);
    ck_assert_double_eq(result_count(inv.port, "insufficient"), insufficient + 1);
    /* the refused attempt left nothing behind: the same id works once there is stock */
    set_stock(inv.port, 2401, 10);
    doc = reserve_one(inv.port, "r-short-1", 2401, 4, 201);
    assert_status(doc, "held");
    json_decref(doc);
    assert_stock(inv.port, 2401, 6, 4);
}
END_TEST

START_TEST(test_reserve_is_all_or_nothing)
{
    const char *short_second = "{\"reservation_id\":\"r-aon-1\",\"items\":[{\"product_id\":2501,"
                               "\"quantity\":5},{\"product_id\":2502,\"quantity\":2}]}";
    const char *short_first = "{\"reservation_id\":\"r-aon-2\",\"items\":[{\"product_id\":2502,"
                              "\"quantity\":2},{\"product_id\":2501,\"quantity\":5}]}";
    const char *missing = "{\"reservation_id\":\"r-aon-3\",\"items\":[{\"product_id\":2501,"
                          "\"quantity\":5},{\"product_id\":2503,\"quantity\":1}]}";
    const char *msg = "insufficient stock for product 2502: 1 available, 2 requested";
    double not_found = result_count(inv.port, "not_found");

    set_stock(inv.port, 2501, 10);
    set_stock(inv.port, 2502, 1);
    expect_error(inv.port, "POST", "/inventory/reservations", short_second, 409, "conflict", msg);
    expect_error(inv.port, "POST", "/inventory/reservations", short_first, 409, "conflict", msg);
    expect_error(inv.port, "POST", "/inventory/reservations", missing, 404, "not_found",
                 "no stock for product 2503");
    assert_stock(inv.port, 2501, 10, 0);
    assert_stock(inv.port, 2502, 1, 0);
    expect_error(inv.port, "GET", "/inventory/2503", NULL, 404, "not_found", NULL);
    ck_assert_int_eq(db_count("SELECT count(*) FROM reservations WHERE id LIKE 'r-aon-%'", NULL),
                     0);
    ck_assert_int_eq(
        db_count("SELECT count(*) FROM reservation_items WHERE reservation_id LIKE 'r-aon-%'",
                 NULL),
        0);
    ck_assert_double_eq(result_count(inv.port, "not_found"), not_found + 1);
}
END_TEST

/* Bodies that parse as JSON but fail validation (counted as result="invalid"). */
static const char *const invalid_reservations[] = {
    "[]",
    "{}",
    "{\"reservation_id\":\"hostile-1\"}",
    "{\"items\":[{\"product_id\":2601,\"quantity\":1}]}",
    "{\"reservation_id\":42,\"items\":[{\"product_id\":2601,\"quantity\":1}]}",
    "{\"reservation_id\":null,\"items\":[{\"product_id\":2601,\"quantity\":1}]}",
    "{\"reservation_id\":\"\",\"items\":[{\"product_id\":2601,\"quantity\":1}]}",
    "{\"reservation_id\":\"hostile-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\","
    "\"items\":[{\"product_id\":2601,\"quantity\":1}]}",
    "{\"reservation_id\":\"hostile 2\",\"items\":[{\"product_id\":2601,\"quantity\":1}]}",
    "{\"reservation_id\":\"hostile'; DROP TABLE stock;--\",\"items\":[{\"product_id\":2601,"
    "\"quantity\":1}]}",
    "{\"reservation_id\":\"hostile/3\",\"items\":[{\"product_id\":2601,\"quantity\":1}]}",
    "{\"reservation_id\":\"hostile-\\u00e9\",\"items\":[{\"product_id\":2601,\"quantity\":1}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":{}}",
    "{\"reservation_id\":\"hostile-4\",\"items\":null}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[1]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[[2601,1]]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":2601}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"quantity\":1}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":2601,\"quantity\":0}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":2601,\"quantity\":-1}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":2601,\"quantity\":1001}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":2601,\"quantity\":\"1\"}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":2601,\"quantity\":1.5}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":2601,\"quantity\":1e30}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":2601,\"quantity\":true}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":2601,\"quantity\":null}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":0,\"quantity\":1}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":-5,\"quantity\":1}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":2147483648,\"quantity\":1}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":\"2601\",\"quantity\":1}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":2601,\"quantity\":1,"
    "\"price\":5}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":2601,\"quantity\":1},"
    "{\"product_id\":2601,\"quantity\":2}]}",
    "{\"reservation_id\":\"hostile-4\",\"items\":[{\"product_id\":2601,\"quantity\":1}],"
    "\"user_id\":7}",
};

/* Bodies refused before validation: not one JSON document. */
static const char *const malformed_reservations[] = {
    "",
    "\"r-1\"",
    "{",
    "{\"reservation_id\":\"hostile-5\",",
    "{\"reservation_id\":\"hostile-5\"}{}",
    "{\"reservation_id\":\"hostile-5\",\"items\":[{\"product_id\":2601,"
    "\"quantity\":99999999999999999999}]}",
    "{\"reservation_id\":\"hostile-5\",\"reservation_id\":\"hostile-6\",\"items\":[{"
    "\"product_id\":2601,\"quantity\":1}]}",
    "{\"reservation_id\":\"hostile-\\u0000\",\"items\":[{\"product_id\":2601,\"quantity\":1}]}",
};

START_TEST(test_reserve_hostile_input_is_400_and_writes_nothing)
{
    size_t ninvalid = sizeof(invalid_reservations) / sizeof(invalid_reservations[0]);
    double invalid = result_count(inv.port, "invalid");
    long long reservations = db_count("SELECT count(*) FROM reservations", NULL);

    set_stock(inv.port, 2601, 10);
    for (size_t i = 0; i < ninvalid; i++)
        expect_error(inv.port, "POST", "/inventory/reservations", invalid_reservations[i], 400,
                     "invalid_argument", NULL);
    for (size_t i = 0; i < sizeof(malformed_reservations) / sizeof(malformed_reservations[0]); i++)
        expect_error(inv.port, "POST", "/inventory/reservations", malformed_reservations[i], 400,
                     "invalid_argument", NULL);
    assert_stock(inv.port, 2601, 10, 0);
    ck_assert_int_eq(db_count("SELECT count(*) FROM reservations", NULL), reservations);
    ck_assert_int_eq(db_count("SELECT count(*) FROM stock WHERE product_id BETWEEN 1 AND 27", NULL),
                     27);
    ck_assert_double_eq(result_count(inv.port, "invalid"), invalid + (double)ninvalid);
}
END_TEST

START_TEST(test_reserve_messages_name_the_bad_field)
{
    expect_error(inv.port, "POST", "/inventory/reservations",
                 "{\"reservation_id\":\"m-1\",\"items\":[{\"product_id\":2651,\"quantity\":1},"
                 "{\"product_id\":2651,\"quantity\":2}]}",
                 400, "invalid_argument", "product 2651 appears more than once in items");
    expect_error(inv.port, "POST", "/inventory/reservations",
                 "{\"reservation_id\":\"m-1\",\"items\":[{\"product_id\":2651,\"quantity\":1},"
                 "{\"product_id\":2652,\"quantity\":1001}]}",
                 400, "invalid_argument", "items[1]: quantity must be an integer from 1 to 1000");
    expect_error(inv.port, "POST", "/inventory/reservations",
                 "{\"reservation_id\":\"m 1\",\"items\":[{\"product_id\":2651,\"quantity\":1}]}",
                 400, "invalid_argument",
                 "reservation_id must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' "
                 "and '-'");
}
END_TEST

START_TEST(test_reserve_accepts_50_items_and_refuses_51)
{
    char body[4096];
    size_t len;

    for (int n = 50; n <= 51; n++) {
        len = (size_t)snprintf(body, sizeof(body), "{\"reservation_id\":\"r-many-%d\",\"items\":[",
                               n);
        for (int i = 0; i < n; i++) {
            if (n == 50)
                set_stock(inv.port, 2700 + i, 5);
            len += (size_t)snprintf(body + len, sizeof(body) - len,
                                    "%s{\"product_id\":%d,\"quantity\":2}", i ? "," : "", 2700 + i);
        }
        snprintf(body + len, sizeof(body) - len, "]}");
        json_decref(
            request(inv.port, "POST", "/inventory/reservations", body, n == 50 ? 201 : 400));
    }
    assert_stock(inv.port, 2700, 3, 2);
    assert_stock(inv.port, 2749, 3, 2);
    ck_assert_int_eq(db_count(count_items, "r-many-50"), 50);
    ck_assert_int_eq(db_count(count_reservation, "r-many-51"), 0);
}
END_TEST

START_TEST(test_reserve_body_over_limit_is_413_and_writes_nothing)
{
    size_t n = 20 * 1024;
    char *big = malloc(n + 1);
    const char *head = "{\"reservation_id\":\"r-big-1\",\"items\":[{\"product_id\":2751,"
                       "\"quantity\":1}]";

    set_stock(inv.port, 2751, 10);
    memset(big, ' ', n);
    memcpy(big, head, strlen(head));
    big[n - 1] = '}';
    big[n] = '\0';
    expect_error(inv.port, "POST", "/inventory/reservations", big, 413, "payload_too_large", NULL);
    free(big);
    assert_stock(inv.port, 2751, 10, 0);
    ck_assert_int_eq(db_count(count_reservation, "r-big-1"), 0);
}
END_TEST

START_TEST(test_reservation_ids_with_sql_metacharacters_are_stored_literally)
{
    const char *id = "o--1.2:3_x-';";
    const char *literal = "o--1.2:3_x--";
    json_t *doc;

    set_stock(inv.port, 2801, 10);
    /* quotes and semicolons are outside the id alphabet: refused, and every table still there */
    json_decref(reserve_one(inv.port, id, 2801, 1, 400));
    /* "--" and dots are in it: stored and read back exactly, never run as SQL */
    doc = reserve_one(inv.port, literal, 2801, 1, 201);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "reservation_id")), literal);
    json_decref(doc);
    doc = request(inv.port, "GET", "/inventory/reservations/o--1.2:3_x--", NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "reservation_id")), literal);
    json_decref(doc);
    assert_db_status(literal, "held");
    assert_stock(inv.port, 2801, 9, 1);
    ck_assert_int_eq(db_count("SELECT count(*) FROM stock WHERE product_id = 1", NULL), 1);
}
END_TEST

START_TEST(test_get_reservation_unknown_is_404_and_bad_id_400)
{
    static const char *const bad[] = {
        "/inventory/reservations/bad%20id",
        "/inventory/reservations/a%27b",
        "/inventory/reservations/%3Bdrop",
        "/inventory/reservations/caf%C3%A9",
        "/inventory/reservations/"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    };

    expect_error(inv.port, "GET", "/inventory/reservations/no-such-reservation", NULL, 404,
                 "not_found", "reservation no-such-reservation not found");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_error(inv.port, "GET", bad[i], NULL, 400, "invalid_argument", NULL);
}
END_TEST

/* ---- commit and release ---- */

START_TEST(test_commit_is_idempotent_and_release_after_it_is_409)
{
    double committed = result_count(inv.port, "committed");
    double replayed = result_count(inv.port, "replayed");
    double conflict = result_count(inv.port, "conflict");
    json_t *doc;

    set_stock(inv.port, 2901, 10);
    json_decref(reserve_one(inv.port, "c-1", 2901, 4, 201));
    assert_stock(inv.port, 2901, 6, 4);
    settled(inv.port, "c-1", "commit", "committed");
    assert_stock(inv.port, 2901, 6, 0);
    assert_db_status("c-1", "committed");
    settled(inv.port, "c-1", "commit", "committed");
    assert_stock(inv.port, 2901, 6, 0);
    settle_refused(inv.port, "c-1", "release",
                   "reservation c-1 is committed and cannot be released");
    assert_stock(inv.port, 2901, 6, 0);
    /* a create replayed after the commit answers the stored reservation, as it is now */
    doc = reserve_one(inv.port, "c-1", 2901, 4, 201);
    assert_status(doc, "committed");
    json_decref(doc);
    assert_stock(inv.port, 2901, 6, 0);
    assert_db_status("c-1", "committed");
    ck_assert_double_eq(result_count(inv.port, "committed"), committed + 1);
    ck_assert_double_eq(result_count(inv.port, "replayed"), replayed + 2);
    ck_assert_double_eq(result_count(inv.port, "conflict"), conflict + 1);
}
END_TEST

START_TEST(test_release_is_idempotent_and_commit_after_it_is_409)
{
    double released = result_count(inv.port, "released");

    set_stock(inv.port, 3001, 10);
    set_stock(inv.port, 3002, 10);
    json_decref(request(inv.port, "POST", "/inventory/reservations",
                        "{\"reservation_id\":\"rel-1\",\"items\":[{\"product_id\":3001,"
                        "\"quantity\":4},{\"product_id\":3002,\"quantity\":10}]}",
                        201));
    assert_stock(inv.port, 3001, 6, 4);
    assert_stock(inv.port, 3002, 0, 10);
    settled(inv.port, "rel-1", "release", "released");
    assert_stock(inv.port, 3001, 10, 0);
    assert_stock(inv.port, 3002, 10, 0);
    assert_db_status("rel-1", "released");
    settled(inv.port, "rel-1", "release", "released");
    assert_stock(inv.port, 3001, 10, 0);
    settle_refused(inv.port, "rel-1", "commit",
                   "reservation rel-1 is released and cannot be committed");
    assert_stock(inv.port, 3001, 10, 0);
    assert_stock(inv.port, 3002, 10, 0);
    ck_assert_double_eq(result_count(inv.port, "released"), released + 1);
}
END_TEST

START_TEST(test_commit_unknown_is_404_release_unknown_a_tombstone_bad_id_400)
{
    double not_found = result_count(inv.port, "not_found");
    double invalid = result_count(inv.port, "invalid");
    long long reservations = db_count("SELECT count(*) FROM reservations", NULL);

    expect_error(inv.port, "POST", "/inventory/reservations/nope-1/commit", NULL, 404, "not_found",
                 "reservation nope-1 not found");
    /* a release of one never made leaves its tombstone (see the late-reserve test) */
    json_decref(request(inv.port, "POST", "/inventory/reservations/nope-1/release", NULL, 200));
    assert_db_status("nope-1", "released");
    expect_error(inv.port, "POST", "/inventory/reservations/bad%27id/commit", NULL, 400,
                 "invalid_argument", NULL);
    expect_error(inv.port, "POST", "/inventory/reservations/bad%20id/release", "{\"x\":1}", 400,
                 "invalid_argument", NULL);
    ck_assert_double_eq(result_count(inv.port, "not_found"), not_found + 1);
    ck_assert_double_eq(result_count(inv.port, "invalid"), invalid + 2);
    ck_assert_int_eq(db_count("SELECT count(*) FROM reservations", NULL), reservations + 1);
}
END_TEST

struct restocker {
    int port;
    long long product;
};

static void *restock_one(void *arg)
{
    const struct restocker *r = arg;
    char path[64];

    snprintf(path, sizeof(path), "/inventory/%lld/restock", r->product);
    json_decref(request(r->port, "POST", path, "{\"add\":1}", 200));
    return NULL;
}

/* A restock adds to what is there, atomically: reservations taken meanwhile are not undone, and
 * twenty restocks at once add twenty. */
START_TEST(test_restock_adds_to_the_stock_atomically)
{
    struct restocker r = {inv.port, 1100};
    pthread_t t[20];
    json_t *doc;

    set_stock(inv.port, 1100, 10);
    json_decref(reserve_one(inv.port, "restock-1", 1100, 4, 201));
    for (int i = 0; i < 20; i++)
        pthread_create(&t[i], NULL, restock_one, &r);
    for (int i = 0; i < 20; i++)
        pthread_join(t[i], NULL);
    assert_stock(inv.port, 1100, 26, 4);
    doc = request(inv.port, "POST", "/inventory/1100/restock", "{\"add\":-30}", 400);
    json_decref(doc);
    expect_error(inv.port, "POST", "/inventory/1100/restock", "{\"add\":0}", 400,
                 "invalid_argument", NULL);
    expect_error(inv.port, "POST", "/inventory/1100/restock", "{\"add\":1,\"x\":1}", 400,
                 "invalid_argument", NULL);
    expect_error(inv.port, "POST", "/inventory/1100/restock", "{\"add\":1000001}", 400,
                 "invalid_argument", NULL);
    json_decref(request(inv.port, "POST", "/inventory/1101/restock", "{\"add\":7}", 200));
    assert_stock(inv.port, 1101, 7, 0);
    assert_stock(inv.port, 1100, 26, 4);
}
END_TEST

/* A release that arrives before its reservation (the reserve's answer was lost, the order gave
 * up) leaves a tombstone: the late reserve is a no-op and takes no stock. */
START_TEST(test_release_before_reserve_makes_the_late_reserve_a_no_op)
{
    json_t *doc;

    set_stock(inv.port, 1102, 10);
    doc = request(inv.port, "POST", "/inventory/reservations/late-1/release", NULL, 200);
    assert_status(doc, "released");
    json_decref(doc);
    doc = reserve_one(inv.port, "late-1", 1102, 3, 201);
    assert_status(doc, "released");
    json_decref(doc);
    assert_stock(inv.port, 1102, 10, 0);
    assert_db_status("late-1", "released");
    ck_assert_int_eq(db_count(count_items, "late-1"), 0);
    /* a commit of it is refused: the order gave it up */
    settle_refused(inv.port, "late-1", "commit",
                   "reservation late-1 is released and cannot be committed");
}
END_TEST

/* ---- concurrency ---- */

struct racer {
    int port;
    pthread_barrier_t *start;
    char path[128]; /* what it POSTs to */
    char body[512]; /* "" sends none */
    long status;
    char *answer; /* malloc'd response body */
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct ms_test_response res;
    char url[256];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", r->port, r->path);
    pthread_barrier_wait(r->start);
    /* ms_test_http makes a curl handle of its own: one per thread */
    ms_test_http("POST", url, r->body[0] ? r->body : NULL, NULL, 20000, &res);
    r->status = res.status;
    r->answer = res.body;
    res.body = NULL;
    ms_test_response_free(&res);
    return NULL;
}

/* Points a racer at path on the shared instance. */
static void aim(struct racer *r, const char *path)
{
    r->port = inv.port;
    snprintf(r->path, sizeof(r->path), "%s", path);
}

/* Fires every racer's request at once, one thread each, and waits for all. */
static void run_race(struct racer *racers, size_t n)
{
    pthread_t threads[64];
    pthread_barrier_t start;

    ck_assert_uint_le(n, 64);
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (size_t i = 0; i < n; i++) {
        racers[i].start = &start;
        ck_assert_int_eq(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    }
    for (size_t i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
}

static size_t count_status(const struct racer *racers, size_t n, long status)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        k += racers[i].status == status;
    return k;
}

static void free_racers(struct racer *racers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(racers[i].answer);
}

START_TEST(test_concurrent_reservations_never_oversell)
{
    struct racer racers[50] = {0};

    set_stock(inv.port, 3101, 10);
    for (size_t i = 0; i < 50; i++) {
        char id[32];

        snprintf(id, sizeof(id), "conc-%zu", i);
        aim(&racers[i], "/inventory/reservations");
        one_item(racers[i].body, sizeof(racers[i].body), id, 3101, 1);
    }
    run_race(racers, 50);
    ck_assert_uint_eq(count_status(racers, 50, 201), 10);
    ck_assert_uint_eq(count_status(racers, 50, 409), 40);
    for (size_t i = 0; i < 50; i++)
        if (racers[i].status == 409)
            ck_assert_ptr_nonnull(strstr(racers[i].answer, "insufficient stock for product 3101"));
    assert_stock(inv.port, 3101, 0, 10);
    ck_assert_int_eq(db_count("SELECT count(*) FROM reservations r JOIN reservation_items i ON "
                              "i.reservation_id = r.id WHERE r.status = 'held' AND "
                              "i.product_id = 3101 AND i.quantity = 1",
                              NULL),
                     10);
    ck_assert_int_eq(db_count("SELECT count(*) FROM reservations WHERE id LIKE 'conc-%'", NULL),
                     10);
    free_racers(racers, 50);
}
END_TEST

START_TEST(test_concurrent_replays_reserve_once)
{
    struct racer racers[20] = {0};
    double held = result_count(inv.port, "held");
    double replayed = result_count(inv.port, "replayed");

    set_stock(inv.port, 3201, 10);
    for (size_t i = 0; i < 20; i++) {
        aim(&racers[i], "/inventory/reservations");
        one_item(racers[i].body, sizeof(racers[i].body), "replay-storm", 3201, 3);
    }
    run_race(racers, 20);
    ck_assert_uint_eq(count_status(racers, 20, 201), 20);
    for (size_t i = 1; i < 20; i++)
        ck_assert_str_eq(racers[i].answer, racers[0].answer);
    assert_stock(inv.port, 3201, 7, 3);
    ck_assert_int_eq(db_count(count_reservation, "replay-storm"), 1);
    ck_assert_int_eq(db_count(count_items, "replay-storm"), 1);
    ck_assert_double_eq(result_count(inv.port, "held"), held + 1);
    ck_assert_double_eq(result_count(inv.port, "replayed"), replayed + 19);
    free_racers(racers, 20);
}
END_TEST

START_TEST(test_concurrent_multi_item_reservations_do_not_deadlock)
{
    struct racer racers[30] = {0};

    for (long long p = 3301; p <= 3303; p++)
        set_stock(inv.port, p, 100);
    for (size_t i = 0; i < 30; i++) {
        aim(&racers[i], "/inventory/reservations");
        /* opposite orders in the body: the service must lock in one order regardless */
        snprintf(racers[i].body, sizeof(racers[i].body),
                 i % 2 ? "{\"reservation_id\":\"multi-%zu\",\"items\":[{\"product_id\":3301,"
                         "\"quantity\":1},{\"product_id\":3302,\"quantity\":1},{\"product_id\":"
                         "3303,\"quantity\":1}]}"
                       : "{\"reservation_id\":\"multi-%zu\",\"items\":[{\"product_id\":3303,"
                         "\"quantity\":1},{\"product_id\":3302,\"quantity\":1},{\"product_id\":"
                         "3301,\"quantity\":1}]}",
                 i);
    }
    run_race(racers, 30);
    ck_assert_uint_eq(count_status(racers, 30, 201), 30);
    for (long long p = 3301; p <= 3303; p++)
        assert_stock(inv.port, p, 70, 30);
    free_racers(racers, 30);
}
END_TEST

START_TEST(test_concurrent_commit_and_release_settle_once)
{
    struct racer racers[20] = {0};
    double settled = result_count(inv.port, "committed") + result_count(inv.port, "released");
    size_t commits, releases;

    set_stock(inv.port, 3401, 10);
    json_decref(reserve_one(inv.port, "settle-race", 3401, 4, 201));
    /* half commit, half release, all at once: the first to lock the reservation wins, every
     * other call of its kind is a replay and every call of the other kind a 409 */
    for (size_t i = 0; i < 20; i++)
        aim(&racers[i], i % 2 ? "/inventory/reservations/settle-race/release"
                              : "/inventory/reservations/settle-race/commit");
    run_race(racers, 20);
    ck_assert_uint_eq(count_status(racers, 20, 200) + count_status(racers, 20, 409), 20);
    commits = 0;
    releases = 0;
    for (size_t i = 0; i < 20; i++) {
        if (racers[i].status != 200)
            continue;
        if (i % 2)
            releases++;
        else
            commits++;
    }
    ck_assert_msg((commits == 10 && releases == 0) || (commits == 0 && releases == 10),
                  "%zu commits and %zu releases succeeded", commits, releases);
    if (commits)
        assert_stock(inv.port, 3401, 6, 0);
    else
        assert_stock(inv.port, 3401, 10, 0);
    ck_assert_double_eq(result_count(inv.port, "committed") + result_count(inv.port, "released"),
                        settled + 1);
    free_racers(racers, 20);
}
END_TEST

/* ---- metrics ---- */

START_TEST(test_metrics_expose_the_reservation_families)
{
    static const char *const results[] = {"held",    "replayed",  "insufficient", "not_found",
                                          "invalid", "committed", "released",     "expired",
                                          "revived", "conflict",  "unavailable"};
    struct ms_test_response r;

    json_decref(
        request(inv.port, "POST", "/inventory/reservations/nope-metrics/commit", NULL, 404));
    ck_assert_int_eq(ms_test_get(inv.port, "/metrics", &r), 0);
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE inventory_reservations_total counter"));
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE inventory_reservations_held gauge"));
    for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
        char series[96];

        snprintf(series, sizeof(series), "inventory_reservations_total{result=\"%s\"} ",
                 results[i]);
        ck_assert_msg(strstr(r.body, series) != NULL, "missing %s", series);
    }
    ck_assert_ptr_nonnull(strstr(r.body, "route=\"/inventory/reservations/{id}/commit\",code="
                                         "\"404\""));
    ck_assert_ptr_null(strstr(r.body, "nope-metrics"));
    ms_test_response_free(&r);
}
END_TEST

/* ---- the reaper (its own database, so it never touches the other tests' reservations) ---- */

/* Polls GET path on port until its "status" field is want, up to timeout_ms. */
static bool wait_reservation_status(int port, const char *path, const char *want, long timeout_ms)
{
    int64_t deadline = ms_now_ms() + timeout_ms;

    while (ms_now_ms() < deadline) {
        json_t *doc = request(port, "GET", path, NULL, 200);
        bool done = strcmp(json_string_value(json_object_get(doc, "status")), want) == 0;

        json_decref(doc);
        if (done)
            return true;
        ms_sleep_ms(100);
    }
    return false;
}

static bool wait_metric(int port, const char *series, double want, long timeout_ms)
{
    int64_t deadline = ms_now_ms() + timeout_ms;

    while (ms_now_ms() < deadline) {
        if (ms_test_metric(port, series) == want)
            return true;
        ms_sleep_ms(100);
    }
    return false;
}

START_TEST(test_reaper_expires_old_reservations_and_restores_stock)
{
    struct ms_test_service reaper;
    json_t *doc;

    start_instance(&reaper, (const char *const[]){reaper_db_env, "RESERVATION_TTL_S=1",
                                                  "RESERVATION_REAP_INTERVAL_S=1", NULL});
    doc = reserve_one(reaper.port, "reap-1", 5, 4, 201);
    json_decref(doc);
    assert_stock(reaper.port, 5, 96, 4);
    /* committed in time: the reaper must leave it alone */
    json_decref(reserve_one(reaper.port, "reap-keep", 6, 2, 201));
    settled(reaper.port, "reap-keep", "commit", "committed");
    ck_assert(
        wait_reservation_status(reaper.port, "/inventory/reservations/reap-1", "expired", 8000));
    assert_stock(reaper.port, 5, 100, 0);
    ck_assert_double_eq(result_count(reaper.port, "expired"), 1);
    ck_assert(wait_metric(reaper.port, "inventory_reservations_held", 0, 3000));
    ck_assert(ms_test_log_has(reaper.log_path,
                              (const char *const[]){"\"event\":\"reservation_expired\"",
                                                    "\"reservation_id\":\"reap-1\"", NULL},
                              3000));
    /* a late release from the orchestrator only records that it gave up: a commit after it is
     * refused, and the stock stays where the expiry put it */
    settled(reaper.port, "reap-1", "release", "released");
    settle_refused(reaper.port, "reap-1", "commit",
                   "reservation reap-1 is released and cannot be committed");
    assert_stock(reaper.port, 5, 100, 0);
    ms_sleep_ms(1500);
    doc = request(reaper.port, "GET", "/inventory/reservations/reap-keep", NULL, 200);
    assert_status(doc, "committed");
    json_decref(doc);
    assert_stock(reaper.port, 6, 98, 0);
    ck_assert_int_eq(ms_test_service_stop(&reaper, SIGTERM, 5000), 0);
}
END_TEST

/* An order that was only slow (its commit failed while inventory was away for longer than the
 * TTL) still commits: from the stock that is left, all items or none. */
START_TEST(test_late_commit_of_an_expired_reservation_takes_the_stock_again)
{
    const char *two = "{\"reservation_id\":\"late-short\",\"items\":[{\"product_id\":9,"
                      "\"quantity\":2},{\"product_id\":10,\"quantity\":5}]}";
    struct ms_test_service svc;
    json_t *doc;

    start_instance(&svc, (const char *const[]){reaper_db_env, "RESERVATION_TTL_S=1",
                                               "RESERVATION_REAP_INTERVAL_S=1", NULL});
    json_decref(reserve_one(svc.port, "late-ok", 8, 3, 201));
    json_decref(request(svc.port, "POST", "/inventory/reservations", two, 201));
    ck_assert(
        wait_reservation_status(svc.port, "/inventory/reservations/late-ok", "expired", 8000));
    ck_assert(
        wait_reservation_status(svc.port, "/inventory/reservations/late-short", "expired", 8000));
    assert_stock(svc.port, 8, 100, 0);

    settled(svc.port, "late-ok", "commit", "committed");
    assert_stock(svc.port, 8, 97, 0);
    ck_assert_double_eq(result_count(svc.port, "revived"), 1);
    settled(svc.port, "late-ok", "commit", "committed"); /* a repeat takes nothing more */
    assert_stock(svc.port, 8, 97, 0);
    settle_refused(svc.port, "late-ok", "release",
                   "reservation late-ok is committed and cannot be released");

    /* product 10 sold down meanwhile: nothing is taken, not even product 9's share */
    set_stock(svc.port, 10, 4);
    settle_refused(svc.port, "late-short", "commit",
                   "reservation late-short expired and its stock has been taken since");
    assert_stock(svc.port, 9, 100, 0);
    assert_stock(svc.port, 10, 4, 0);
    doc = request(svc.port, "GET", "/inventory/reservations/late-short", NULL, 200);
    assert_status(doc, "expired");
    json_decref(doc);
    ck_assert_double_eq(result_count(svc.port, "revived"), 1);
    ck_assert_int_eq(ms_test_service_stop(&svc, SIGTERM, 5000), 0);
}
END_TEST

START_TEST(test_reaper_gauge_counts_held_reservations)
{
    struct ms_test_service svc;

    start_instance(&svc, (const char *const[]){reaper_db_env, "RESERVATION_TTL_S=3600",
                                               "RESERVATION_REAP_INTERVAL_S=1", NULL});
    json_decref(reserve_one(svc.port, "gauge-1", 7, 1, 201));
    ck_assert(wait_metric(svc.port, "inventory_reservations_held", 1, 4000));
    settled(svc.port, "gauge-1", "release", "released");
    ck_assert(wait_metric(svc.port, "inventory_reservations_held", 0, 4000));
    assert_stock(svc.port, 7, 100, 0);
    ck_assert_int_eq(ms_test_service_stop(&svc, SIGTERM, 5000), 0);
}
END_TEST

/* ---- configuration and failures ---- */

START_TEST(test_invalid_reaper_config_exits_2_naming_the_variable)
{
    char text[512];

    ck_assert_int_eq(ms_test_config_error("inventory",
                                          (const char *const[]){"RESERVATION_TTL_S=0", NULL}, text,
                                          sizeof(text)),
                     2);
    ck_assert_ptr_nonnull(strstr(text, "RESERVATION_TTL_S"));
}
END_TEST

/* Last in its case: it stops and restarts PostgreSQL under every instance. */
START_TEST(test_postgres_down_503_fast_then_recovers_by_itself)
{
    struct ms_test_service svc;
    struct ms_test_response r;
    char url[128], *retry;
    json_t *doc;

    start_instance(&svc, (const char *const[]){db_env, "RESERVATION_REAP_INTERVAL_S=1", NULL});
    set_stock(svc.port, 3501, 10);
    json_decref(reserve_one(svc.port, "outage-held", 3501, 2, 201));
    ck_assert_int_eq(ms_test_pg_shutdown(&pg), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/inventory/reservations", svc.port);
    ck_assert_int_eq(ms_test_http("POST", url,
                                  "{\"reservation_id\":\"outage-1\",\"items\":[{\"product_id\":"
                                  "3501,\"quantity\":1}]}",
                                  NULL, 5000, &r),
                     0);
    ck_assert_int_eq(r.status, 503);
    ck_assert_double_lt(r.seconds, 1.5);
    retry = ms_test_header(&r, "Retry-After");
    ck_assert_ptr_nonnull(retry);
    doc = ms_test_json(&r);
    assert_error(doc, "unavailable", NULL);
    json_decref(doc);
    free(retry);
    ms_test_response_free(&r);
    expect_error(svc.port, "GET", "/inventory/3501", NULL, 503, "unavailable", NULL);
    expect_error(svc.port, "PUT", "/inventory/3501", "{\"available\":1}", 503, "unavailable", NULL);
    expect_error(svc.port, "POST", "/inventory/reservations/outage-held/commit", NULL, 503,
                 "unavailable", NULL);
    ck_assert_double_ge(result_count(svc.port, "unavailable"), 2);
    ck_assert_int_ge(ms_test_wait_status(svc.port, "/ready", 503, 3000), 0);
    ck_assert(ms_test_log_has(
        svc.log_path, (const char *const[]){"\"event\":\"reaper_failed\"", "unavailable", NULL},
        5000));
    ck_assert_int_eq(ms_test_pg_restart(&pg), 0);
    ck_assert_int_ge(ms_test_wait_status(svc.port, "/inventory/3501", 200, 10000), 0);
    ck_assert_int_ge(ms_test_wait_status(svc.port, "/ready", 200, 5000), 0);
    /* nothing the outage refused was written, and the held reservation is as it was */
    ck_assert_int_eq(db_count(count_reservation, "outage-1"), 0);
    assert_stock(svc.port, 3501, 8, 2);
    assert_db_status("outage-held", "held");
    settled(svc.port, "outage-held", "commit", "committed");
    assert_stock(svc.port, 3501, 8, 0);
    /* the shared instance recovers too, once it has replaced its dead connections */
    ck_assert_int_ge(ms_test_wait_status(inv.port, "/inventory/3501", 200, 10000), 0);
    assert_stock(inv.port, 3501, 8, 0);
    ck_assert_int_eq(ms_test_service_stop(&svc, SIGTERM, 5000), 0);
}
END_TEST

static Suite *inventory_suite(void)
{
    Suite *s = suite_create("inventory");
    TCase *api = tcase_create("api");
    TCase *config = tcase_create("config");

    tcase_add_unchecked_fixture(api, stack_up, stack_down);
    tcase_set_timeout(api, 90);
    tcase_add_test(api, test_stock_is_seeded_for_the_catalog);
    tcase_add_test(api, test_stock_get_bad_ids);
    tcase_add_test(api, test_stock_put_upserts_and_keeps_reserved);
    tcase_add_test(api, test_stock_put_hostile_input_changes_nothing);
    tcase_add_test(api, test_stock_put_body_over_limit_is_413);
    tcase_add_test(api, test_wrong_method_is_405_with_allow);
    tcase_add_test(api, test_reserve_holds_stock_and_answers_201);
    tcase_add_test(api, test_reserve_replay_returns_the_stored_reservation_and_changes_nothing);
    tcase_add_test(api, test_replay_of_a_reservation_that_took_the_last_stock_answers_it);
    tcase_add_test(api, test_reserve_insufficient_is_409_naming_the_product);
    tcase_add_test(api, test_reserve_is_all_or_nothing);
    tcase_add_test(api, test_reserve_hostile_input_is_400_and_writes_nothing);
    tcase_add_test(api, test_reserve_messages_name_the_bad_field);
    tcase_add_test(api, test_reserve_accepts_50_items_and_refuses_51);
    tcase_add_test(api, test_reserve_body_over_limit_is_413_and_writes_nothing);
    tcase_add_test(api, test_reservation_ids_with_sql_metacharacters_are_stored_literally);
    tcase_add_test(api, test_get_reservation_unknown_is_404_and_bad_id_400);
    tcase_add_test(api, test_commit_is_idempotent_and_release_after_it_is_409);
    tcase_add_test(api, test_release_is_idempotent_and_commit_after_it_is_409);
    tcase_add_test(api, test_commit_unknown_is_404_release_unknown_a_tombstone_bad_id_400);
    tcase_add_test(api, test_concurrent_reservations_never_oversell);
    tcase_add_test(api, test_concurrent_replays_reserve_once);
    tcase_add_test(api, test_concurrent_multi_item_reservations_do_not_deadlock);
    tcase_add_test(api, test_concurrent_commit_and_release_settle_once);
    tcase_add_test(api, test_metrics_expose_the_reservation_families);
    tcase_add_test(api, test_restock_adds_to_the_stock_atomically);
    tcase_add_test(api, test_release_before_reserve_makes_the_late_reserve_a_no_op);
    tcase_add_test(api, test_reaper_expires_old_reservations_and_restores_stock);
    tcase_add_test(api, test_late_commit_of_an_expired_reservation_takes_the_stock_again);
    tcase_add_test(api, test_reaper_gauge_counts_held_reservations);
    tcase_add_test(api, test_postgres_down_503_fast_then_recovers_by_itself);
    tcase_set_timeout(config, 30);
    tcase_add_test(config, test_invalid_reaper_config_exits_2_naming_the_variable);
    suite_add_tcase(s, api);
    suite_add_tcase(s, config);
    return s;
}

int main(void)
{
    return ms_test_main(inventory_suite(), true);
}
