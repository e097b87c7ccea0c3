/* Integration: the fault-injecting proxy (tools/faultproxy), the real binary between a client
 * and real PostgreSQL and Redis servers; every fault is observed from the client's side. */
#include "deps.h"
#include "faultproxy.h"
#include "http.h"
#include "proc.h"
#include "runner.h"

#include "ms/clock.h"

#include <check.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Started once by the unchecked fixture in the parent process; the tests run in forked
 * children, only read these, and begin by switching every fault off. */
static struct ms_test_pg pg;
static struct ms_test_redis redis;
static struct ms_test_proxy pg_proxy, redis_proxy;

static void suite_up(void)
{
    ck_assert_int_eq(ms_test_pg_start(&pg), 0);
    ck_assert_int_eq(ms_test_pg_createdb(&pg, "mstest"), 0);
    ck_assert_int_eq(ms_test_redis_start(&redis), 0);
    ck_assert_int_eq(ms_test_proxy_start(&pg_proxy, "test-pg", pg.port, NULL), 0);
    ck_assert_int_eq(ms_test_proxy_start(&redis_proxy, "test-redis", redis.port, NULL), 0);
}

static void suite_down(void)
{
    /* a clean exit after everything the tests did: under ASan, no leak and no error report */
    int pg_status = ms_test_proxy_stop(&pg_proxy);
    int redis_status = ms_test_proxy_stop(&redis_proxy);

    ms_test_redis_stop(&redis);
    ms_test_pg_stop(&pg);
    ck_assert_int_eq(pg_status, 0);
    ck_assert_int_eq(redis_status, 0);
}

static long admin(const struct ms_test_proxy *px, const char *method, const char *path,
                  const char *body)
{
    return ms_test_proxy_admin(px, method, path, body);
}

static void faults(const struct ms_test_proxy *px, const char *json)
{
    ck_assert_int_eq(ms_test_proxy_faults(px, json), 0);
}

/* Every fault off and no connection left from an earlier test. */
static void clean(const struct ms_test_proxy *px)
{
    ck_assert_int_eq(ms_test_proxy_clean(px), 0);
}

static double faults_applied(const struct ms_test_proxy *px, const char *kind)
{
    double v = ms_test_proxy_applied(px, kind);

    ck_assert_msg(v >= 0, "no faults_total series of kind %s", kind);
    return v;
}

/* ---- clients ---- */

static redisContext *redis_on(int port, int timeout_ms)
{
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);

    ck_assert_ptr_nonnull(c);
    ck_assert_msg(!c->err, "connect: %s", c->errstr);
    redisSetTimeout(c, tv);
    return c;
}

/* Runs a command; returns the reply (caller frees) or NULL with c->err set. */
static redisReply *rcmd(redisContext *c, const char *cmd)
{
    return redisCommand(c, cmd);
}

static void rok(redisContext *c, const char *cmd)
{
    redisReply *r = rcmd(c, cmd);

    ck_assert_msg(r != NULL, "%s: %s", cmd, c->errstr);
    ck_assert_int_ne(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

static long long rint_direct(const char *cmd)
{
    redisContext *c = redis_on(redis.port, 2000);
    redisReply *r = rcmd(c, cmd);
    long long v;

    ck_assert_ptr_nonnull(r);
    v = r->type == REDIS_REPLY_INTEGER  ? r->integer
        : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10)
                                        : -1;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* How long one PING takes through c, in milliseconds. */
static long ping_ms(redisContext *c)
{
    int64_t t0 = ms_now_ms();

    rok(c, "PING");
    return (long)(ms_now_ms() - t0);
}

static PGconn *pg_on(int port)
{
    char conninfo[160];
    PGconn *conn;

    snprintf(conninfo, sizeof(conninfo),
             "host=127.0.0.1 port=%d user=ms dbname=mstest connect_timeout=3 sslmode=disable",
             port);
    conn = PQconnectdb(conninfo);
    ck_assert_msg(PQstatus(conn) == CONNECTION_OK, "connect: %s", PQerrorMessage(conn));
    return conn;
}

static void pg_ok(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);

    ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%s: %s", sql,
                  PQerrorMessage(conn));
    PQclear(res);
}

static long pg_scalar_direct(const char *sql)
{
    PGconn *conn = pg_on(pg.port);
    PGresult *res = PQexec(conn, sql);
    long v;

    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    PQfinish(conn);
    return v;
}

/* ---- tests ---- */

START_TEST(test_faultproxy_forwards_postgresql_and_redis_untouched)
{
    PGconn *conn;
    redisContext *c;

    clean(&pg_proxy);
    clean(&redis_proxy);
    conn = pg_on(pg_proxy.port);
    pg_ok(conn, "CREATE TABLE IF NOT EXISTS plain (id int PRIMARY KEY)");
    pg_ok(conn,
          "INSERT INTO plain SELECT g FROM generate_series(1, 5000) g ON CONFLICT DO NOTHING");
    PQfinish(conn);
    ck_assert_int_eq(pg_scalar_direct("SELECT count(*) FROM plain"), 5000);
    c = redis_on(redis_proxy.port, 2000);
    rok(c, "SET plain:key hello");
    rok(c, "GET plain:key");
    redisFree(c);
    ck_assert_int_eq(rint_direct("STRLEN plain:key"), 5);
}
END_TEST

/* The point of the proxy: PostgreSQL commits the insert, the client never hears it. */
START_TEST(test_faultproxy_lost_answer_leaves_the_row_committed_and_resets_the_client)
{
    PGconn *conn;
    PGresult *res;
    double before;

    clean(&pg_proxy);
    conn = pg_on(pg_proxy.port);
    pg_ok(conn, "CREATE TABLE IF NOT EXISTS lost (id int PRIMARY KEY)");
    before = faults_applied(&pg_proxy, "lost_answer");
    faults(&pg_proxy, "{\"lose_next\":1}");
    res = PQexec(conn, "INSERT INTO lost VALUES (42)");
    ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    ck_assert_int_eq(PQstatus(conn), CONNECTION_BAD); /* reset, not an SQL error */
    PQclear(res);
    PQfinish(conn);
    ck_assert_int_eq(pg_scalar_direct("SELECT count(*) FROM lost WHERE id = 42"), 1);
    ck_assert(faults_applied(&pg_proxy, "lost_answer") == before + 1);
    /* lose_next counted down: the next connection works */
    conn = pg_on(pg_proxy.port);
    pg_ok(conn, "SELECT 1");
    PQfinish(conn);
}
END_TEST

START_TEST(test_faultproxy_lost_redis_answer_leaves_the_write_done)
{
    redisContext *c;

    clean(&redis_proxy);
    c = redis_on(redis_proxy.port, 2000);
    rok(c, "SET lost:n 0");
    faults(&redis_proxy, "{\"lose_answer_percent\":100}");
    ck_assert_ptr_null(rcmd(c, "INCR lost:n"));
    ck_assert_int_ne(c->err, 0);
    redisFree(c);
    ck_assert_int_eq(rint_direct("GET lost:n"), 1);
}
END_TEST

/* lose_conn_percent picks connections; lose_conn_after lets that many answers pass first. */
START_TEST(test_faultproxy_lost_connection_loses_the_answer_after_the_given_count)
{
    redisContext *c;

    clean(&redis_proxy);
    faults(&redis_proxy, "{\"lose_conn_percent\":100,\"lose_conn_after\":2}");
    c = redis_on(redis_proxy.port, 2000);
    rok(c, "SET conn:n 0");
    rok(c, "INCR conn:n");
    ck_assert_ptr_null(rcmd(c, "INCR conn:n"));
    redisFree(c);
    ck_assert_int_eq(rint_direct("GET conn:n"), 2);
}
END_TEST

START_TEST(test_faultproxy_reset_on_connect)
{
    redisContext *c;
    double before;

    clean(&redis_proxy);
    before = faults_applied(&redis_proxy, "reset");
    faults(&redis_proxy, "{\"reset_percent\":100}");
    for (int i = 0; i < 5; i++) {
        /* the kernel completes the handshake; the reset comes at connect or first command */
        c = redisConnectWithTimeout("127.0.0.1", redis_proxy.port, (struct timeval){2, 0});
        ck_assert_ptr_nonnull(c);
        int64_t t0 = ms_now_ms();

        ck_assert(c->err || rcmd(c, "PING") == NULL);
        ck_assert_int_lt(ms_now_ms() - t0, 1000); /* a reset, not a time-out */
        redisFree(c);
    }
    ck_assert(faults_applied(&redis_proxy, "reset") == before + 5);
}
END_TEST

/* A blackhole accepts and never answers; lifted at run time, the waiting request goes through. */
START_TEST(test_faultproxy_blackhole_holds_then_heals_at_run_time)
{
    redisContext *c, *late;
    redisReply *r = NULL;
    int64_t t0;

    clean(&redis_proxy);
    c = redis_on(redis_proxy.port, 3000);
    rok(c, "PING");
    faults(&redis_proxy, "{\"blackhole\":true}");
    late = redis_on(redis_proxy.port, 400); /* accepted */
    ck_assert_ptr_null(rcmd(late, "PING"));
    ck_assert_int_eq(late->err, REDIS_ERR_IO); /* a time-out: no reset, no answer */
    redisFree(late);
    ck_assert_int_eq(redisAppendCommand(c, "SET bh:key held"), REDIS_OK);
    t0 = ms_now_ms();
    ck_assert_int_eq(redisBufferWrite(c, &(int){0}), REDIS_OK);
    ms_sleep_ms(500);
    ck_assert_int_eq(rint_direct("EXISTS bh:key"), 0); /* nothing got through */
    faults(&redis_proxy, "{\"blackhole\":false}");
    ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
    ck_assert_int_ge(ms_now_ms() - t0, 450);
    freeReplyObject(r);
    ck_assert_int_eq(rint_direct("EXISTS bh:key"), 1);
    redisFree(c);
}
END_TEST

START_TEST(test_faultproxy_latency_is_added_within_a_tolerance)
{
    redisContext *c;
    long base, slow;

    clean(&redis_proxy);
    c = redis_on(redis_proxy.port, 3000);
    base = ping_ms(c);
    ck_assert_int_lt(base, 100);
    faults(&redis_proxy, "{\"down_latency_ms\":200}");
    slow = ping_ms(c);
    ck_assert_int_ge(slow, 195);
    ck_assert_int_lt(slow, 600);
    faults(&redis_proxy, "{\"up_latency_ms\":150,\"down_latency_ms\":150}");
    slow = ping_ms(c);
    ck_assert_int_ge(slow, 295);
    ck_assert_int_lt(slow, 700);
    faults(&redis_proxy, "{\"latency_ms\":0}"); /* the shortcut clears both directions */
    ck_assert_int_lt(ping_ms(c), 100);
    redisFree(c);
}
END_TEST

START_TEST(test_faultproxy_jitter_varies_around_the_latency)
{
    redisContext *c;
    long lo = 100000, hi = 0;

    clean(&redis_proxy);
    c = redis_on(redis_proxy.port, 3000);
    faults(&redis_proxy, "{\"down_latency_ms\":100,\"down_jitter_ms\":80}");
    for (int i = 0; i < 12; i++) {
        long t = ping_ms(c);

        lo = t < lo ? t : lo;
        hi = t > hi ? t : hi;
    }
    ck_assert_int_ge(lo, 15);
    ck_assert_int_lt(hi, 500);
    ck_assert_int_gt(hi - lo, 20); /* 12 draws from ±80 ms spread that far */
    redisFree(c);
}
END_TEST

START_TEST(test_faultproxy_bandwidth_limits_the_transfer)
{
    redisContext *c;
    char *value = malloc(100001);
    int64_t t0;
    long took;

    ck_assert_ptr_nonnull(value);
    memset(value, 'x', 100000);
    value[100000] = '\0';
    clean(&redis_proxy);
    c = redis_on(redis_proxy.port, 5000);
    freeReplyObject(redisCommand(c, "SET bw:big %s", value));
    faults(&redis_proxy, "{\"down_rate_bps\":200000}");
    t0 = ms_now_ms();
    rok(c, "GET bw:big");
    took = (long)(ms_now_ms() - t0);
    ck_assert_int_ge(took, 450); /* 100 kB at 200 kB/s */
    ck_assert_int_lt(took, 2000);
    ck_assert(faults_applied(&redis_proxy, "bandwidth") > 0);
    redisFree(c);
    free(value);
}
END_TEST

/* Half-open: the server sees its client leave (the transaction aborts), the client waits. */
START_TEST(test_faultproxy_half_open_closes_upstream_and_leaves_the_client_hanging)
{
    PGconn *conn;
    redisContext *c;

    clean(&pg_proxy);
    clean(&redis_proxy);
    conn = pg_on(pg_proxy.port);
    pg_ok(conn, "CREATE TABLE IF NOT EXISTS half (id int PRIMARY KEY)");
    pg_ok(conn, "BEGIN");
    pg_ok(conn, "INSERT INTO half VALUES (7)");
    faults(&pg_proxy, "{\"half_open\":true}");
    ms_sleep_ms(300);
    ck_assert_int_eq(PQstatus(conn), CONNECTION_OK); /* the client was told nothing */
    ck_assert_int_eq(pg_scalar_direct("SELECT count(*) FROM half"), 0);
    ck_assert_int_eq(pg_scalar_direct("SELECT count(*) FROM pg_stat_activity WHERE state = "
                                      "'idle in transaction'"),
                     0);
    PQfinish(conn);
    faults(&redis_proxy, "{\"half_open\":true}");
    c = redis_on(redis_proxy.port, 400);
    ck_assert_ptr_null(rcmd(c, "PING"));
    ck_assert_int_eq(c->err, REDIS_ERR_IO); /* timed out, never reset */
    redisFree(c);
    clean(&pg_proxy);
    clean(&redis_proxy);
}
END_TEST

/* DELETE /admin/connections: a reset storm on demand. */
START_TEST(test_faultproxy_reset_all_connections)
{
    redisContext *c[3];
    char body[64];
    struct ms_test_response r = {0};

    clean(&redis_proxy);
    for (int i = 0; i < 3; i++) {
        c[i] = redis_on(redis_proxy.port, 2000);
        rok(c[i], "PING");
    }
    snprintf(body, sizeof(body), "http://127.0.0.1:%d/admin/connections", redis_proxy.admin);
    ck_assert_int_eq(ms_test_http("DELETE", body, NULL, NULL, 5000, &r), 0);
    ck_assert_str_eq(r.body, "{\"reset\":3}");
    ms_test_response_free(&r);
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(rcmd(c[i], "PING"));
        redisFree(c[i]);
    }
}
END_TEST

START_TEST(test_faultproxy_bad_admin_input_is_400_and_changes_nothing)
{
    struct ms_test_response r = {0};
    char url[128];

    clean(&redis_proxy);
    faults(&redis_proxy, "{\"down_latency_ms\":5}");
    ck_assert_int_eq(admin(&redis_proxy, "PUT", "/admin/faults", "{\"bogus\":1}"), 400);
    ck_assert_int_eq(admin(&redis_proxy, "PUT", "/admin/faults",
                           "{\"down_latency_ms\":9,\"reset_percent\":101}"),
                     400);
    ck_assert_int_eq(admin(&redis_proxy, "PUT", "/admin/faults", "{\"blackhole\":1}"), 400);
    ck_assert_int_eq(admin(&redis_proxy, "PUT", "/admin/faults", "[]"), 400);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/admin/faults", redis_proxy.admin);
    ck_assert_int_eq(ms_test_http("GET", url, NULL, NULL, 5000, &r), 0);
    ck_assert_ptr_nonnull(strstr(r.body, "\"down_latency_ms\":5,"));
    ck_assert_ptr_nonnull(strstr(r.body, "\"reset_percent\":0.0"));
    ms_test_response_free(&r);
    clean(&redis_proxy);
}
END_TEST

START_TEST(test_faultproxy_serves_many_connections_at_once)
{
    enum { N = 300 };
    redisContext **c = calloc(N, sizeof(*c));
    char series[96];

    ck_assert_ptr_nonnull(c);
    clean(&redis_proxy);
    for (int i = 0; i < N; i++)
        c[i] = redis_on(redis_proxy.port, 3000);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(redisAppendCommand(c[i], "INCR many:n"), REDIS_OK);
    for (int i = 0; i < N; i++) {
        redisReply *r = NULL;

        ck_assert_int_eq(redisGetReply(c[i], (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    snprintf(series, sizeof(series), "faultproxy_connections_active{proxy=\"%s\"}",
             redis_proxy.name);
    ck_assert(ms_test_metric(redis_proxy.admin, series) == N);
    for (int i = 0; i < N; i++)
        redisFree(c[i]);
    free(c);
    ck_assert_int_eq(rint_direct("GET many:n"), N);
}
END_TEST

/* Faults set at start by environment; SIGTERM stops it at once with connections open. */
START_TEST(test_faultproxy_env_faults_and_sigterm)
{
    struct ms_test_proxy px = {0};
    const char *env[] = {"PROXY_DOWN_LATENCY_MS=150", NULL};
    redisContext *c;
    int64_t t0;

    ck_assert_int_eq(ms_test_proxy_start(&px, "test-env", redis.port, env), 0);
    c = redis_on(px.port, 3000);
    ck_assert_int_ge(ping_ms(c), 145);
    t0 = ms_now_ms();
    ck_assert_int_eq(ms_test_proxy_stop(&px), 0);
    ck_assert_int_lt(ms_now_ms() - t0, 3000);
    ck_assert_ptr_null(rcmd(c, "PING")); /* its connection went with it */
    redisFree(c);
}
END_TEST

START_TEST(test_faultproxy_refuses_bad_configuration)
{
    const char *argv[] = {ms_test_proxy_binary(), NULL};
    const char *env[] = {"PROXY_LISTEN=127.0.0.1:1", "PROXY_UPSTREAM=nowhere", NULL};
    pid_t pid = ms_test_spawn(argv, env, "/tmp/ms-faultproxy-badconf.log");

    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(ms_test_stop(pid, 0, 5000), 2);
}
END_TEST

static Suite *faultproxy_suite(void)
{
    Suite *s = suite_create("faultproxy");
    TCase *tc = tcase_create("faults");

    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, suite_up, suite_down);
    tcase_add_test(tc, test_faultproxy_forwards_postgresql_and_redis_untouched);
    tcase_add_test(tc, test_faultproxy_lost_answer_leaves_the_row_committed_and_resets_the_client);
    tcase_add_test(tc, test_faultproxy_lost_redis_answer_leaves_the_write_done);
    tcase_add_test(tc, test_faultproxy_lost_connection_loses_the_answer_after_the_given_count);
    tcase_add_test(tc, test_faultproxy_reset_on_connect);
    tcase_add_test(tc, test_faultproxy_blackhole_holds_then_heals_at_run_time);
    tcase_add_test(tc, test_faultproxy_latency_is_added_within_a_tolerance);
    tcase_add_test(tc, test_faultproxy_jitter_varies_around_the_latency);
    tcase_add_test(tc, test_faultproxy_bandwidth_limits_the_transfer);
    tcase_add_test(tc, test_faultproxy_half_open_closes_upstream_and_leaves_the_client_hanging);
    tcase_add_test(tc, test_faultproxy_reset_all_connections);
    tcase_add_test(tc, test_faultproxy_bad_admin_input_is_400_and_changes_nothing);
    tcase_add_test(tc, test_faultproxy_serves_many_connections_at_once);
    tcase_add_test(tc, test_faultproxy_env_faults_and_sigterm);
    tcase_add_test(tc, test_faultproxy_refuses_bad_configuration);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ms_test_main(faultproxy_suite(), true);
}
