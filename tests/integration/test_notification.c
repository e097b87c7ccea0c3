/* The notification service over real HTTP, against real PostgreSQL and Redis: order.confirmed
 * events published to the stream become exactly one notification each, through redelivery,
 * restarts, entries left pending by this or a dead consumer, poison messages, replicas, and
 * outages of either database; the API, its hostile input, readiness and metrics. */
#include <check.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deps.h"
#include "http.h"
#include "ms/clock.h"
#include "ms/rand.h"
#include "runner.h"

#define GROUP "notification"
#define CREATED_AT "2024-05-01T12:30:00.123Z"

enum { WAIT_MS = 10000 };

static struct ms_test_pg pg;
static struct ms_test_redis redis;
static struct ms_test_service shared; /* the default stream, consumer "shared-1" */
static char db_env[256], redis_env[256], db_url[256];

/* The test's own Redis connection; made again after a crash. */
static redisContext *rctx;

/* ---- Redis ---- */

static redisReply *redis_cmd_len(int argc, const char **argv, const size_t *lens)
{
    redisReply *reply = NULL;

    /* a second try on a new connection: the last one may have died with a crashed server */
    for (int attempt = 0; !reply && attempt < 2; attempt++) {
        if (rctx && (rctx->err || attempt > 0)) {
            redisFree(rctx);
            rctx = NULL;
        }
        if (!rctx)
            rctx = redisConnect("127.0.0.1", redis.port);
        ck_assert_msg(rctx && !rctx->err, "cannot connect to the test Redis");
        reply = redisCommandArgv(rctx, argc, argv, lens);
    }
    ck_assert_msg(reply != NULL, "%s: no reply", argv[0]);
    ck_assert_msg(reply->type != REDIS_REPLY_ERROR, "%s: %s", argv[0], reply->str);
    return reply;
}

/* Runs a NULL-terminated argv. */
static redisReply *redis_cmd(const char *const *argv)
{
    int argc = 0;

    while (argv[argc])
        argc++;
    return redis_cmd_len(argc, (const char **)argv, NULL);
}

static void redis_do(const char *const *argv)
{
    freeReplyObject(redis_cmd(argv));
}

/* XADD stream * with n field/value strings (lens may be NULL). */
static void xadd_fields(const char *stream, int n, const char *const *fields, const size_t *lens)
{
    const char *argv[40] = {"XADD", stream, "*"};
    size_t argvlen[40] = {4, strlen(stream), 1};

    ck_assert_int_le(n, 37);
    for (int i = 0; i < n; i++) {
        argv[3 + i] = fields[i];
        argvlen[3 + i] = lens ? lens[i] : strlen(fields[i]);
    }
    freeReplyObject(redis_cmd_len(3 + n, argv, argvlen));
}

/* Publishes an order.confirmed event exactly as the order service does. */
static void publish(const char *stream, const char *order_id, long long user_id, const char *email)
{
    char user[24];

    snprintf(user, sizeof(user), "%lld", user_id);
    xadd_fields(stream, 12,
                (const char *const[]){"type", "order.confirmed", "order_id", order_id, "user_id",
                                      user, "email", email, "total_cents", "4599", "created_at",
                                      CREATED_AT},
                NULL);
}

static long long stream_pending(const void *stream)
{
    redisReply *r = redis_cmd((const char *const[]){"XPENDING", stream, GROUP, NULL});
    long long n;

    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    n = r->element[0]->integer;
    freeReplyObject(r);
    return n;
}

static long long stream_len(const char *stream)
{
    redisReply *r = redis_cmd((const char *const[]){"XLEN", stream, NULL});
    long long n = r->integer;

    freeReplyObject(r);
    return n;
}

/* Delivers up to 10 new entries to consumer without acknowledging them; how many came. */
static size_t deliver_without_ack(const char *stream, const char *consumer)
{
    redisReply *r;
    size_t n = 0;

    redis_do((const char *const[]){"XGROUP", "CREATE", stream, GROUP, "0", "MKSTREAM", NULL});
    r = redis_cmd((const char *const[]){"XREADGROUP", "GROUP", GROUP, consumer, "COUNT", "10",
                                        "STREAMS", stream, ">", NULL});
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        n = r->element[0]->element[1]->elements;
    freeReplyObject(r);
    return n;
}

/* ---- PostgreSQL, read directly ---- */

/* count(*) of notifications WHERE where, with $1 = param; -1 when PostgreSQL is down. */
static long long count_rows(const char *where, const char *param)
{
    char sql[256];
    PGconn *conn = PQconnectdb(db_url);
    PGresult *res = NULL;
    long long n = -1;

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM notifications WHERE %s", where);
    if (PQstatus(conn) == CONNECTION_OK)
        res = PQexecParams(conn, sql, param ? 1 : 0, NULL, param ? &param : NULL, NULL, NULL, 0);
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
        n = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(conn);
    return n;
}

static long long order_rows(const void *order_id)
{
    return count_rows("order_id = $1", order_id);
}

static long long user_rows(const void *user_id)
{
    char text[24];

    snprintf(text, sizeof(text), "%lld", *(const long long *)user_id);
    return count_rows("user_id = $1", text);
}

/* ---- waiting ---- */

typedef long long (*reader_fn)(const void *arg);

/* Reads until the value reaches want, from whichever side it starts, or timeout_ms passes;
 * returns the last value read. Rows and counters only grow and pending lists only drain, so a
 * value past want is a failure the caller's assertion shows at once. */
static long long wait_value(reader_fn read, const void *arg, long long want, long timeout_ms)
{
    int64_t deadline = ms_now_ms() + timeout_ms;
    long long v = read(arg);
    bool rising = v < want;

    while ((rising ? v < want : v > want) && ms_now_ms() < deadline) {
        ms_sleep_ms(50);
        v = read(arg);
    }
    return v;
}

struct metric_probe {
    int port;
    const char *result; /* the result label of notifications_total */
};

static long long metric_value(const void *arg)
{
    const struct metric_probe *p = arg;
    char series[96];

    snprintf(series, sizeof(series), "notifications_total{result=\"%s\"}", p->result);
    return (long long)ms_test_metric(p->port, series);
}

static long long results(int port, const char *result)
{
    struct metric_probe p = {port, result};

    return metric_value(&p);
}

static long long wait_results(int port, const char *result, long long want)
{
    struct metric_probe p = {port, result};

    return wait_value(metric_value, &p, want, WAIT_MS);
}

/* ---- ids and services ---- */

static long long fresh_user(void)
{
    return 1 + (long long)ms_rand_below(2000000000);
}

static void fresh_id(char *buf, size_t cap)
{
    ms_uuid4(buf, cap);
}

/* A stream of the test's own, so that its entries and pending lists are its alone. */
static void fresh_stream(char *buf, size_t cap, const char *what)
{
    char id[MS_UUID_LEN + 1];

    fresh_id(id, sizeof(id));
    snprintf(buf, cap, "test.%s.%s", what, id);
}

/* Starts an instance on the suite's databases reading stream (consumer NULL: the default
 * hostname-pid); extra may be NULL. Returns once /health answers; ready is not waited for. */
static void start_service(struct ms_test_service *svc, const char *stream, const char *consumer,
                          const char *extra)
{
    char stream_env[256], consumer_env[256];
    const char *env[6] = {db_env, redis_env, stream_env};
    int n = 3;

    snprintf(stream_env, sizeof(stream_env), "ORDER_EVENTS_STREAM=%s", stream);
    if (consumer) {
        snprintf(consumer_env, sizeof(consumer_env), "NOTIFICATION_CONSUMER=%s", consumer);
        env[n++] = consumer_env;
    }
    if (extra)
        env[n++] = extra;
    env[n] = NULL;
    ck_assert_int_eq(ms_test_service_start(svc, "notification", env), 0);
}

static void start_ready(struct ms_test_service *svc, const char *stream, const char *consumer,
                        const char *extra)
{
    start_service(svc, stream, consumer, extra);
    ck_assert_int_ge(ms_test_wait_status(svc->port, "/ready", 200, 15000), 0);
}

/* Starts an instance on a fresh stream (written to stream) and waits until it has stored one
 * event, so that the group exists and the consumer is known to be at work. */
static void start_consuming(struct ms_test_service *svc, char *stream, size_t cap,
                            const char *consumer)
{
    char order[MS_UUID_LEN + 1];

    fresh_stream(stream, cap, "warm");
    start_ready(svc, stream, consumer, NULL);
    fresh_id(order, sizeof(order));
    publish(stream, order, fresh_user(), "warm@example.com");
    ck_assert_int_eq(wait_value(order_rows, order, 1, WAIT_MS), 1);
}

static void stop_service(struct ms_test_service *svc)
{
    ck_assert_int_eq(ms_test_service_stop(svc, SIGTERM, 5000), 0);
}

static void stack_up(void)
{
    char *db, *rd;

    ck_assert_int_eq(ms_test_pg_start(&pg), 0);
    ck_assert_int_eq(ms_test_pg_createdb(&pg, "notification"), 0);
    ck_assert_int_eq(ms_test_redis_start(&redis), 0);
    db = ms_test_pg_url(&pg, "notification");
    rd = ms_test_redis_url(&redis);
    snprintf(db_url, sizeof(db_url), "%s", db);
    snprintf(db_env, sizeof(db_env), "DATABASE_URL=%s", db);
    snprintf(redis_env, sizeof(redis_env), "REDIS_URL=%s", rd);
    free(db);
    free(rd);
    start_ready(&shared, "orders.events", "shared-1", NULL);
}

static void stack_down(void)
{
    ms_test_service_stop(&shared, SIGTERM, 5000);
    ms_test_services_stop_all(); /* what failed tests left running */
    ms_test_redis_stop(&redis);
    ms_test_pg_stop(&pg);
}

/* ---- HTTP ---- */

/* GETs path and checks the status; returns the parsed body (caller decrefs). */
static json_t *get_json(int port, const char *path, long want_status)
{
    struct ms_test_response r;
    json_t *doc;

    ck_assert_int_eq(ms_test_get(port, path, &r), 0);
    ck_assert_msg(r.status == want_status, "GET %s: status %ld, want %ld; body %s", path, r.status,
                  want_status, r.body);
    doc = ms_test_json(&r);
    ck_assert_msg(doc != NULL, "GET %s: body is not JSON: %s", path, r.body);
    ms_test_response_free(&r);
    return doc;
}

static json_t *list_by_order(int port, const char *order_id)
{
    char path[160];

    snprintf(path, sizeof(path), "/notifications?order_id=%s", order_id);
    return get_json(port, path, 200);
}

static json_t *list_by_user(int port, long long user_id)
{
    char path[96];

    snprintf(path, sizeof(path), "/notifications?user_id=%lld", user_id);
    return get_json(port, path, 200);
}

static const char *item_str(json_t *doc, size_t i, const char *key)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(doc, "items"), i), key));
}

static void assert_error_code(json_t *doc, const char *code)
{
    const char *got = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));

    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, code);
}

/* ---- events become notifications ---- */

START_TEST(test_event_becomes_notification_readable_by_order_and_user)
{
    char order[MS_UUID_LEN + 1];
    long long user = fresh_user();
    long long sent = results(shared.port, "sent");
    json_t *doc;

    fresh_id(order, sizeof(order));
    publish("orders.events", order, user, "ada@example.com");
    ck_assert_int_eq(wait_value(order_rows, order, 1, WAIT_MS), 1);
    doc = list_by_order(shared.port, order);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "items")), 1);
    ck_assert_str_eq(item_str(doc, 0, "order_id"), order);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_array_get(json_object_get(doc, "items"), 0), "user_id")),
                     user);
    ck_assert_str_eq(item_str(doc, 0, "email"), "ada@example.com");
    ck_assert_str_eq(item_str(doc, 0, "channel"), "email");
    ck_assert_str_eq(item_str(doc, 0, "status"), "sent");
    ck_assert_int_eq(strlen(item_str(doc, 0, "created_at")), strlen(CREATED_AT));
    ck_assert_int_eq(item_str(doc, 0, "created_at")[23], 'Z');
    json_decref(doc);
    doc = list_by_user(shared.port, user);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "items")), 1);
    ck_assert_str_eq(item_str(doc, 0, "order_id"), order);
    json_decref(doc);
    ck_assert_int_eq(wait_results(shared.port, "sent", sent + 1), sent + 1);
}
END_TEST

START_TEST(test_user_list_is_newest_first_and_at_most_100)
{
    char orders[105][MS_UUID_LEN + 1];
    long long user = fresh_user();
    json_t *doc;

    for (int i = 0; i < 105; i++) {
        fresh_id(orders[i], sizeof(orders[i]));
        publish("orders.events", orders[i], user, "many@example.com");
    }
    ck_assert_int_eq(wait_value(user_rows, &user, 105, WAIT_MS), 105);
    doc = list_by_user(shared.port, user);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "items")), 100);
    ck_assert_str_eq(item_str(doc, 0, "order_id"), orders[104]);
    ck_assert_str_eq(item_str(doc, 99, "order_id"), orders[5]);
    for (size_t i = 1; i < 100; i++)
        ck_assert_str_le(item_str(doc, i, "created_at"), item_str(doc, i - 1, "created_at"));
    json_decref(doc);
}
END_TEST

START_TEST(test_same_order_published_twice_is_stored_once)
{
    char order[MS_UUID_LEN + 1];
    long long user = fresh_user();
    long long sent = results(shared.port, "sent");
    long long dup = results(shared.port, "duplicate");
    json_t *doc;

    fresh_id(order, sizeof(order));
    publish("orders.events", order, user, "first@example.com");
    publish("orders.events", order, user, "second@example.com");
    ck_assert_int_eq(wait_results(shared.port, "duplicate", dup + 1), dup + 1);
    ck_assert_int_eq(results(shared.port, "sent"), sent + 1);
    ck_assert_int_eq(order_rows(order), 1);
    doc = list_by_order(shared.port, order);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "items")), 1);
    ck_assert_str_eq(item_str(doc, 0, "email"), "first@example.com");
    json_decref(doc);
    ck_assert_int_eq(wait_value(stream_pending, "orders.events", 0, WAIT_MS), 0);
}
END_TEST

START_TEST(test_sql_metacharacters_in_an_event_are_stored_literally)
{
    const char *email = "o'brien\";DROP_TABLE_notifications;--@example.com";
    char order[MS_UUID_LEN + 1];
    long long user = fresh_user();
    json_t *doc;

    fresh_id(order, sizeof(order));
    publish("orders.events", order, user, email);
    ck_assert_int_eq(wait_value(order_rows, order, 1, WAIT_MS), 1);
    doc = list_by_user(shared.port, user);
    ck_assert_str_eq(item_str(doc, 0, "email"), email);
    json_decref(doc);
    ck_assert_int_ge(count_rows("true", NULL), 1);
}
END_TEST

/* Field lists of events that are not valid order.confirmed events; "$O" is a fresh order id and
 * "$U" the test's user, so that nothing stored by mistake could hide. */
static const char *const malformed[][14] = {
    {"type", "order.cancelled", "order_id", "$O", "user_id", "$U", "email", "a@example.com",
     "total_cents", "1", "created_at", CREATED_AT},
    {"type", "order.confirmed", "order_id", "$O", "user_id", "$U", "total_cents", "1", "created_at",
     CREATED_AT},
    {"type", "order.confirmed", "order_id", "x'; DROP TABLE notifications;--", "user_id", "$U",
     "email", "a@example.com", "total_cents", "1", "created_at", CREATED_AT},
    {"type", "order.confirmed", "order_id",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "user_id", "$U", "email",
     "a@example.com", "total_cents", "1", "created_at", CREATED_AT},
    {"type", "order.confirmed", "order_id", "$O", "user_id", "abc", "email", "a@example.com",
     "total_cents", "1", "created_at", CREATED_AT},
    {"type", "order.confirmed", "order_id", "$O", "user_id", "0", "email", "a@example.com",
     "total_cents", "1", "created_at", CREATED_AT},
    {"type", "order.confirmed", "order_id", "$O", "user_id", "-5", "email", "a@example.com",
     "total_cents", "1", "created_at", CREATED_AT},
    {"type", "order.confirmed", "order_id", "$O", "user_id", "99999999999999999999", "email",
     "a@example.com", "total_cents", "1", "created_at", CREATED_AT},
    {"type", "order.confirmed", "order_id", "$O", "user_id", "2147483648", "email", "a@example.com",
     "total_cents", "1", "created_at", CREATED_AT},
    {"type", "order.confirmed", "order_id", "$O", "user_id", "$U", "email", "no-at-sign",
     "total_cents", "1", "created_at", CREATED_AT},
    {"type", "order.confirmed", "order_id", "$O", "user_id", "$U", "email", "a b@example.com",
     "total_cents", "1", "created_at", CREATED_AT},
    {"type", "order.confirmed", "order_id", "$O", "user_id", "$U", "email", "a@example.com",
     "total_cents", "-1", "created_at", CREATED_AT},
    {"type", "order.confirmed", "order_id", "$O", "user_id", "$U", "email", "a@example.com",
     "total_cents", "12.5", "created_at", CREATED_AT},
    {"type", "order.confirmed", "order_id", "$O", "user_id", "$U", "email", "a@example.com",
     "total_cents", "1", "created_at", "yesterday"},
    {"type", "order.confirmed", "order_id", "$O", "user_id", "$U", "email", "a@example.com",
     "total_cents", "1", "created_at", "2024-13-01T00:00:00Z"},
    {"type", "order.confirmed", "order_id", "$O", "order_id", "$O", "user_id", "$U", "email",
     "a@example.com", "total_cents", "1", "created_at", CREATED_AT},
    {"type", "order.confirmed"},
};

/* Publishes malformed[i] with its placeholders filled in. */
static void publish_malformed(size_t i, long long user)
{
    const char *fields[14];
    char order[MS_UUID_LEN + 1], user_text[24];
    int n = 0;

    fresh_id(order, sizeof(order));
    snprintf(user_text, sizeof(user_text), "%lld", user);
    for (; n < 14 && malformed[i][n]; n++)
        fields[n] = strcmp(malformed[i][n], "$O") == 0   ? order
                    : strcmp(malformed[i][n], "$U") == 0 ? user_text
                                                         : malformed[i][n];
    xadd_fields("orders.events", n, fields, NULL);
}

START_TEST(test_malformed_events_are_acked_counted_invalid_and_do_not_block)
{
    static const char evil_email[] = "a@b.c\0evil"; /* a NUL byte inside */
    size_t nbad = sizeof(malformed) / sizeof(malformed[0]);
    const char *nul_email[] = {
        "type",     "order.confirmed", "order_id", "nul-byte-order", "user_id", "7", "email",
        evil_email, "total_cents",     "1",        "created_at",     CREATED_AT};
    size_t nul_lens[12];
    char order[MS_UUID_LEN + 1];
    long long user = fresh_user();
    long long invalid = results(shared.port, "invalid");
    long long sent = results(shared.port, "sent");

    for (size_t i = 0; i < nbad; i++)
        publish_malformed(i, user);
    for (int i = 0; i < 12; i++)
        nul_lens[i] = i == 7 ? sizeof(evil_email) - 1 : strlen(nul_email[i]);
    xadd_fields("orders.events", 12, nul_email, nul_lens);
    fresh_id(order, sizeof(order));
    publish("orders.events", order, user, "after@example.com");
    ck_assert_int_eq(wait_value(order_rows, order, 1, WAIT_MS), 1);
    ck_assert_int_eq(results(shared.port, "invalid"), invalid + (long long)nbad + 1);
    ck_assert_int_eq(results(shared.port, "sent"), sent + 1);
    ck_assert_int_eq(user_rows(&user), 1);
    ck_assert_int_eq(order_rows("nul-byte-order"), 0);
    ck_assert_int_eq(wait_value(stream_pending, "orders.events", 0, WAIT_MS), 0);
}
END_TEST

/* ---- the API ---- */

START_TEST(test_query_hostile_input_is_400_and_changes_nothing)
{
    static const char *const bad[] = {
        "/notifications",
        "/notifications?",
        "/notifications?order_id=",
        "/notifications?user_id=",
        "/notifications?order_id",
        "/notifications?order_id=abc&user_id=1",
        "/notifications?order_id=a&order_id=b",
        "/notifications?user_id=1&user_id=1",
        "/notifications?limit=5",
        "/notifications?user_id=1&extra=x",
        "/notifications?order_id=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "/notifications?order_id=%27%3B%20DROP%20TABLE%20notifications%3B--",
        "/notifications?order_id=a%20b",
        "/notifications?order_id=%C3%A9",
        "/notifications?order_id=a_b",
        "/notifications?user_id=abc",
        "/notifications?user_id=0",
        "/notifications?user_id=-1",
        "/notifications?user_id=1.5",
        "/notifications?user_id=%2B1",
        "/notifications?user_id=%201",
        "/notifications?user_id=1e3",
        "/notifications?user_id=0x10",
        "/notifications?user_id=2147483648",
        "/notifications?user_id=99999999999999999999",
        "/notifications?user_id=1%3B%20DELETE%20FROM%20notifications",
    };
    long long before = count_rows("true", NULL);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *doc = get_json(shared.port, bad[i], 400);
        assert_error_code(doc, "invalid_argument");
        json_decref(doc);
    }
    ck_assert_int_ge(before, 0);
    ck_assert_int_eq(count_rows("true", NULL), before);
}
END_TEST

START_TEST(test_unknown_order_or_user_is_an_empty_list)
{
    json_t *doc = list_by_order(shared.port, "no-such-order");

    ck_assert_int_eq(json_array_size(json_object_get(doc, "items")), 0);
    json_decref(doc);
    doc = list_by_user(shared.port, 2147483647);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "items")), 0);
    json_decref(doc);
}
END_TEST

START_TEST(test_wrong_method_is_405_and_head_has_no_body)
{
    char url[128];
    struct ms_test_response r;
    char *allow;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/notifications?user_id=1", shared.port);
    ck_assert_int_eq(ms_test_http("POST", url, "{}", NULL, 5000, &r), 0);
    ck_assert_int_eq(r.status, 405);
    allow = ms_test_header(&r, "Allow");
    ck_assert_ptr_nonnull(allow);
    ck_assert_str_eq(allow, "GET, HEAD");
    free(allow);
    ms_test_response_free(&r);
    ck_assert_int_eq(ms_test_http("HEAD", url, NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.body_len, 0);
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_ready_reports_postgres_critical_and_redis_not)
{
    json_t *doc = get_json(shared.port, "/ready", 200);
    json_t *checks = json_object_get(doc, "checks");

    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(checks, "postgres"), "status")), "up");
    ck_assert(json_is_true(json_object_get(json_object_get(checks, "postgres"), "critical")));
    ck_assert(json_is_false(json_object_get(json_object_get(checks, "redis"), "critical")));
    json_decref(doc);
}
END_TEST

START_TEST(test_metrics_expose_results_and_the_pending_gauge)
{
    struct ms_test_response r;

    ck_assert_int_eq(ms_test_get(shared.port, "/metrics", &r), 0);
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE notifications_total counter"));
    ck_assert_ptr_nonnull(strstr(r.body, "notifications_total{result=\"sent\"} "));
    ck_assert_ptr_nonnull(strstr(r.body, "notifications_total{result=\"duplicate\"} "));
    ck_assert_ptr_nonnull(strstr(r.body, "notifications_total{result=\"invalid\"} "));
    ck_assert_ptr_nonnull(strstr(r.body, "notifications_total{result=\"error\"} "));
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE notification_stream_pending gauge"));
    ck_assert_ptr_nonnull(strstr(r.body, "redis_pool_connections{pool=\"notification_stream\""));
    ms_test_response_free(&r);
}
END_TEST

/* ---- delivery: restarts, pending entries, replicas ---- */

START_TEST(test_nothing_lost_or_doubled_while_stopped)
{
    struct ms_test_service svc;
    char stream[96], order[MS_UUID_LEN + 1];
    long long user = fresh_user();
    int64_t t0;

    start_consuming(&svc, stream, sizeof(stream), NULL); /* hostname-pid: new name on restart */
    t0 = ms_now_ms();
    stop_service(&svc);
    ck_assert_int_lt(ms_now_ms() - t0, 3000); /* the consumer stops within a block period */
    for (int i = 0; i < 30; i++) {
        fresh_id(order, sizeof(order));
        publish(stream, order, user, "later@example.com");
    }
    ck_assert_int_eq(user_rows(&user), 0);
    start_ready(&svc, stream, NULL, NULL);
    ck_assert_int_eq(wait_value(user_rows, &user, 30, WAIT_MS), 30);
    ck_assert_int_eq(wait_value(stream_pending, stream, 0, WAIT_MS), 0);
    ck_assert_int_eq(wait_results(svc.port, "sent", 30), 30);
    ck_assert_int_eq(results(svc.port, "duplicate"), 0);
    stop_service(&svc);
}
END_TEST

START_TEST(test_entry_delivered_but_not_acked_is_processed_on_start)
{
    struct ms_test_service svc;
    char stream[96], order[MS_UUID_LEN + 1];

    fresh_stream(stream, sizeof(stream), "pending");
    fresh_id(order, sizeof(order));
    publish(stream, order, fresh_user(), "pending@example.com");
    /* as if the service had read it and died before XACK; the default claim idle time (30 s)
     * keeps a claim from being what picks it up */
    ck_assert_int_eq(deliver_without_ack(stream, "crashed-1"), 1);
    ck_assert_int_eq(stream_pending(stream), 1);
    start_ready(&svc, stream, "crashed-1", NULL);
    ck_assert_int_eq(wait_value(order_rows, order, 1, 5000), 1);
    ck_assert_int_eq(wait_value(stream_pending, stream, 0, 5000), 0);
    ck_assert_int_eq(results(svc.port, "sent"), 1);
    stop_service(&svc);
}
END_TEST

START_TEST(test_entry_abandoned_by_a_dead_consumer_is_claimed)
{
    struct ms_test_service svc;
    char stream[96], order[MS_UUID_LEN + 1];
    redisReply *r;

    fresh_stream(stream, sizeof(stream), "claim");
    fresh_id(order, sizeof(order));
    publish(stream, order, fresh_user(), "claimed@example.com");
    ck_assert_int_eq(deliver_without_ack(stream, "dead-1"), 1);
    start_ready(&svc, stream, "live-1", "NOTIFICATION_CLAIM_IDLE_MS=300");
    ck_assert_int_eq(wait_value(order_rows, order, 1, 5000), 1);
    ck_assert_int_eq(wait_value(stream_pending, stream, 0, 5000), 0);
    r = redis_cmd((const char *const[]){"XPENDING", stream, GROUP, "-", "+", "10", "dead-1", NULL});
    ck_assert_int_eq(r->elements, 0);
    freeReplyObject(r);
    stop_service(&svc);
}
END_TEST

START_TEST(test_replicas_share_the_stream_and_store_each_order_once)
{
    struct ms_test_service a, b;
    char stream[96], orders[100][MS_UUID_LEN + 1];
    long long user = fresh_user();

    fresh_stream(stream, sizeof(stream), "replicas");
    start_ready(&a, stream, "replica-a", NULL);
    start_ready(&b, stream, "replica-b", NULL);
    for (int i = 0; i < 100; i++) {
        fresh_id(orders[i], sizeof(orders[i]));
        publish(stream, orders[i], user, "replica@example.com");
        if (i % 3 == 0) /* republished: possibly handled by both replicas at once */
            publish(stream, orders[i], user, "replica@example.com");
    }
    ck_assert_int_eq(wait_value(user_rows, &user, 100, WAIT_MS), 100);
    ck_assert_int_eq(wait_value(stream_pending, stream, 0, WAIT_MS), 0);
    ck_assert_int_eq(results(a.port, "sent") + results(b.port, "sent"), 100);
    ck_assert_int_eq(results(a.port, "duplicate") + results(b.port, "duplicate"), 34);
    stop_service(&a);
    stop_service(&b);
}
END_TEST

/* ---- outages ---- */

START_TEST(test_postgres_down_leaves_entries_pending_then_stores_each_once)
{
    struct ms_test_service svc;
    char stream[96], order[MS_UUID_LEN + 1];
    long long user = fresh_user();
    struct ms_test_response r;
    char *retry;

    start_consuming(&svc, stream, sizeof(stream), "pgdown-1");
    ck_assert_int_eq(ms_test_pg_shutdown(&pg), 0);
    for (int i = 0; i < 10; i++) {
        fresh_id(order, sizeof(order));
        publish(stream, order, user, "outage@example.com");
    }
    ck_assert_int_ge(wait_results(svc.port, "error", 3), 3); /* retried, with backoff */
    ck_assert_int_ge(stream_pending(stream), 1);             /* delivered, not acknowledged */
    ck_assert_int_eq(results(svc.port, "sent"), 1);
    ck_assert_int_eq(ms_test_get(svc.port, "/notifications?user_id=1", &r), 0);
    ck_assert_int_eq(r.status, 503);
    retry = ms_test_header(&r, "Retry-After");
    ck_assert_ptr_nonnull(retry);
    free(retry);
    ms_test_response_free(&r);
    ck_assert_int_ge(ms_test_wait_status(svc.port, "/ready", 503, 3000), 0);
    ck_assert_int_eq(ms_test_pg_restart(&pg), 0);
    ck_assert_int_eq(wait_value(user_rows, &user, 10, WAIT_MS), 10);
    ck_assert_int_eq(wait_value(stream_pending, stream, 0, WAIT_MS), 0);
    ck_assert_int_eq(results(svc.port, "sent"), 11);
    ck_assert_int_eq(results(svc.port, "duplicate"), 0);
    ck_assert_int_ge(ms_test_wait_status(svc.port, "/ready", 200, 5000), 0);
    stop_service(&svc);
    ck_assert_int_ge(ms_test_wait_status(shared.port, "/ready", 200, 10000), 0);
}
END_TEST

START_TEST(test_events_published_before_the_database_is_up_are_stored)
{
    struct ms_test_service svc;
    char stream[96], order[MS_UUID_LEN + 1];
    long long user = fresh_user();

    fresh_stream(stream, sizeof(stream), "early");
    ck_assert_int_eq(ms_test_pg_shutdown(&pg), 0);
    start_service(&svc, stream, "early-1", NULL);
    for (int i = 0; i < 5; i++) {
        fresh_id(order, sizeof(order));
        publish(stream, order, user, "early@example.com");
    }
    ck_assert_int_ge(ms_test_wait_status(svc.port, "/ready", 503, 3000), 0);
    ck_assert_int_eq(stream_len(stream), 5);
    ck_assert_int_eq(ms_test_pg_restart(&pg), 0);
    ck_assert_int_eq(wait_value(user_rows, &user, 5, WAIT_MS), 5);
    ck_assert_int_eq(wait_value(stream_pending, stream, 0, WAIT_MS), 0);
    ck_assert_int_ge(ms_test_wait_status(svc.port, "/ready", 200, 5000), 0);
    stop_service(&svc);
    ck_assert_int_ge(ms_test_wait_status(shared.port, "/ready", 200, 10000), 0);
}
END_TEST

START_TEST(test_redis_down_api_serves_and_consumer_reconnects)
{
    char order[MS_UUID_LEN + 1];
    long long user = fresh_user();
    json_t *doc;

    fresh_id(order, sizeof(order));
    publish("orders.events", order, user, "before@example.com");
    ck_assert_int_eq(wait_value(order_rows, order, 1, WAIT_MS), 1);
    ck_assert_int_eq(ms_test_redis_crash(&redis), 0);
    doc = list_by_order(shared.port, order);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "items")), 1);
    json_decref(doc);
    ms_sleep_ms(1100); /* past the readiness cache */
    doc = get_json(shared.port, "/ready", 200);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(doc, "checks"), "redis"), "status")),
                     "down");
    json_decref(doc);
    /* without persistence the stream and the group are gone: the consumer must make them again */
    ck_assert_int_eq(ms_test_redis_restart(&redis), 0);
    fresh_id(order, sizeof(order));
    publish("orders.events", order, user, "after@example.com");
    ck_assert_int_eq(wait_value(order_rows, order, 1, WAIT_MS), 1);
    ck_assert_int_eq(wait_value(stream_pending, "orders.events", 0, WAIT_MS), 0);
    ck_assert_int_eq(user_rows(&user), 2);
}
END_TEST

/* ---- configuration ---- */

START_TEST(test_invalid_config_exits_2_naming_the_variable)
{
    char text[512];

    ck_assert_int_eq(
        ms_test_config_error("notification",
                             (const char *const[]){"NOTIFICATION_CLAIM_IDLE_MS=soon", NULL}, text,
                             sizeof(text)),
        2);
    ck_assert_ptr_nonnull(strstr(text, "NOTIFICATION_CLAIM_IDLE_MS"));
}
END_TEST

static Suite *notification_suite(void)
{
    Suite *s = suite_create("notification");
    TCase *api = tcase_create("api");
    TCase *ops = tcase_create("operations");

    tcase_add_unchecked_fixture(api, stack_up, stack_down);
    tcase_set_timeout(api, 60);
    tcase_add_test(api, test_event_becomes_notification_readable_by_order_and_user);
    tcase_add_test(api, test_user_list_is_newest_first_and_at_most_100);
    tcase_add_test(api, test_same_order_published_twice_is_stored_once);
    tcase_add_test(api, test_sql_metacharacters_in_an_event_are_stored_literally);
    tcase_add_test(api, test_malformed_events_are_acked_counted_invalid_and_do_not_block);
    tcase_add_test(api, test_query_hostile_input_is_400_and_changes_nothing);
    tcase_add_test(api, test_unknown_order_or_user_is_an_empty_list);
    tcase_add_test(api, test_wrong_method_is_405_and_head_has_no_body);
    tcase_add_test(api, test_ready_reports_postgres_critical_and_redis_not);
    tcase_add_test(api, test_metrics_expose_results_and_the_pending_gauge);
    tcase_add_test(api, test_nothing_lost_or_doubled_while_stopped);
    tcase_add_test(api, test_entry_delivered_but_not_acked_is_processed_on_start);
    tcase_add_test(api, test_entry_abandoned_by_a_dead_consumer_is_claimed);
    tcase_add_test(api, test_replicas_share_the_stream_and_store_each_order_once);
    tcase_add_test(api, test_postgres_down_leaves_entries_pending_then_stores_each_once);
    tcase_add_test(api, test_events_published_before_the_database_is_up_are_stored);
    tcase_add_test(api, test_redis_down_api_serves_and_consumer_reconnects);
    tcase_set_timeout(ops, 30);
    tcase_add_test(ops, test_invalid_config_exits_2_naming_the_variable);
    suite_add_tcase(s, api);
    suite_add_tcase(s, ops);
    return s;
}

int main(void)
{
    return ms_test_main(notification_suite(), true);
}
