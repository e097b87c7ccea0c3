/* Integration: the PostgreSQL pool, its error mapping, outages and migrations, against a real
 * server started by scripts/pg.sh for each test case. */
#include "deps.h"
#include "faultproxy.h"
#include "metrics.h"
#include "proc.h"

#include "ms/budget.h"
#include "ms/clock.h"
#include "ms/err.h"
#include "ms/pg.h"
#include "runner.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One server per test case, started by the unchecked fixture in the parent process; the tests
 * run in forked children and only read these. */
static struct ms_test_pg server;
static struct ms_test_pooler pooler; /* PgBouncer in front of server (scripts/pooler.sh) */
static char *db_url;                 /* the "mstest" database */
static int db_counter;

static void server_up(void)
{
    ck_assert_int_eq(ms_test_pg_start(&server), 0);
    ck_assert_int_eq(ms_test_pg_createdb(&server, "mstest"), 0);
    db_url = ms_test_pg_url(&server, "mstest");
    ck_assert_ptr_nonnull(db_url);
    ck_assert_int_eq(ms_test_pooler_start(&pooler, &server), 0);
}

static void server_down(void)
{
    ms_test_pooler_stop(&pooler);
    ms_test_pg_stop(&server);
    free(db_url);
    db_url = NULL;
}

static struct ms_pg_pool *pool_on(const char *url, const char *name, int size, int acquire_ms,
                                  int statement_ms)
{
    struct ms_pg_config cfg = {
        .conninfo = url,
        .name = name,
        .size = size,
        .acquire_timeout_ms = acquire_ms,
        .connect_timeout_s = 2,
        .statement_timeout_ms = statement_ms,
    };
    struct ms_pg_pool *pool = ms_pg_pool_new(&cfg);

    ck_assert_ptr_nonnull(pool);
    return pool;
}

/* A fresh database, so that migration tests do not see each other's schema_migrations. */
static char *fresh_db_url(void)
{
    char name[64];

    snprintf(name, sizeof(name), "mig_%d_%d", (int)getpid(), db_counter++);
    ck_assert_int_eq(ms_test_pg_createdb(&server, name), 0);
    return ms_test_pg_url(&server, name);
}

/* Runs sql and returns the first column of the first row as a number (-1 when no row). */
static long scalar(struct ms_pg_pool *pool, const char *sql)
{
    struct ms_pg_conn *conn = NULL;
    PGresult *res = NULL;
    long value = -1;
    int rc;

    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    rc = ms_pg_query(conn, sql, 0, NULL, &res);
    ck_assert_msg(rc == 0, "%s: %s", sql, ms_pg_last_error(conn));
    if (PQntuples(res) > 0)
        value = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    ms_pg_release(pool, conn);
    return value;
}

static void exec_ok(struct ms_pg_pool *pool, const char *sql)
{
    struct ms_pg_conn *conn = NULL;
    int rc;

    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    rc = ms_pg_exec(conn, sql);
    ck_assert_msg(rc == 0, "%s: %s", sql, ms_pg_last_error(conn));
    ms_pg_release(pool, conn);
}

START_TEST(test_pg_params_with_sql_metacharacters_are_stored_literally)
{
    static const char body[] = "Robert'); DROP TABLE notes; -- \\ $1 %s \"q\" ;";
    struct ms_pg_pool *pool = pool_on(db_url, "literal", 2, 1000, 2000);
    const char *params[] = {body};
    struct ms_pg_conn *conn = NULL;
    PGresult *res = NULL;

    exec_ok(pool, "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)");
    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    ck_assert_int_eq(
        ms_pg_query(conn, "INSERT INTO notes (body) VALUES ($1) RETURNING id", 1, params, &res), 0);
    ck_assert_int_eq(PQntuples(res), 1);
    PQclear(res);
    ck_assert_int_eq(ms_pg_query(conn, "SELECT body FROM notes WHERE body = $1", 1, params, &res),
                     0);
    ck_assert_int_eq(PQntuples(res), 1);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), body);
    PQclear(res);
    ms_pg_release(pool, conn);
    ck_assert_int_eq(scalar(pool, "SELECT count(*) FROM notes"), 1);
    exec_ok(pool, "DROP TABLE notes");
    ms_pg_pool_free(pool);
}
END_TEST

START_TEST(test_pg_unique_violation_is_conflict)
{
    struct ms_pg_pool *pool = pool_on(db_url, "unique", 1, 1000, 2000);
    const char *params[] = {"sku-1"};
    struct ms_pg_conn *conn = NULL;
    PGresult *res = NULL;
    const char *insert = "INSERT INTO skus (sku) VALUES ($1)";

    exec_ok(pool, "CREATE TABLE skus (sku text PRIMARY KEY)");
    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    ck_assert_int_eq(ms_pg_query(conn, insert, 1, params, &res), 0);
    PQclear(res);
    ck_assert_int_eq(ms_pg_query(conn, insert, 1, params, &res), MS_ECONFLICT);
    ck_assert_ptr_null(res);
    ck_assert_str_eq(ms_pg_last_sqlstate(conn), "23505");
    ck_assert_ptr_nonnull(strstr(ms_pg_last_error(conn), "duplicate key"));
    /* The error leaves the connection usable, and the next success clears the error. */
    ck_assert_int_eq(ms_pg_exec(conn, "SELECT 1"), 0);
    ck_assert_str_eq(ms_pg_last_sqlstate(conn), "");
    ms_pg_release(pool, conn);
    exec_ok(pool, "DROP TABLE skus");
    ms_pg_pool_free(pool);
}
END_TEST

START_TEST(test_pg_bad_input_syntax_is_invalid)
{
    struct ms_pg_pool *pool = pool_on(db_url, "invalid", 1, 1000, 2000);
    const char *params[] = {"not a number"};
    struct ms_pg_conn *conn = NULL;
    PGresult *res = NULL;

    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    ck_assert_int_eq(ms_pg_query(conn, "SELECT $1::int", 1, params, &res), MS_EINVAL);
    ck_assert_str_eq(ms_pg_last_sqlstate(conn), "22P02");
    ck_assert_int_eq(ms_pg_exec(conn, "SELECT * FROM no_such_table"), MS_EINTERNAL);
    ck_assert_str_eq(ms_pg_last_sqlstate(conn), "42P01");
    ms_pg_release(pool, conn);
    ms_pg_pool_free(pool);
}
END_TEST

START_TEST(test_pg_statement_timeout_is_timedout)
{
    struct ms_pg_pool *pool = pool_on(db_url, "slow", 1, 1000, 100);
    struct ms_pg_conn *conn = NULL;
    int64_t start;

    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    start = ms_now_ms();
    ck_assert_int_eq(ms_pg_exec(conn, "SELECT pg_sleep(5)"), MS_ETIMEDOUT);
    ck_assert_int_lt(ms_now_ms() - start, 2000);
    ck_assert_str_eq(ms_pg_last_sqlstate(conn), "57014");
    ck_assert_int_eq(ms_pg_exec(conn, "SELECT 1"), 0);
    ms_pg_release(pool, conn);
    ms_pg_pool_free(pool);
}
END_TEST

/* Sends SIGCONT to the backend *arg after 3 s: a stalled server that recovers, so a client
 * without a deadline of its own is not stuck for ever. */
static void *resume_later(void *arg)
{
    ms_sleep_ms(3000);
    kill(*(pid_t *)arg, SIGCONT);
    return NULL;
}

/* A server that stops answering (a blackholed connection: here its backend is stopped) costs a
 * query its statement time-out and a little more, not as long as TCP keeps retrying: the client
 * gives up at its own deadline, drops the connection, and the pool opens a new one. */
START_TEST(test_pg_stalled_server_is_a_client_side_time_out)
{
    struct ms_pg_pool *pool = pool_on(db_url, "stall", 2, 1000, 500);
    struct ms_pg_conn *conn = NULL;
    PGresult *res = NULL;
    pthread_t resumer;
    pid_t backend;
    int64_t start, took, refused_ms;
    int rc, refused;

    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    ck_assert_int_eq(ms_pg_query(conn, "SELECT pg_backend_pid()", 0, NULL, &res), 0);
    backend = (pid_t)atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    ck_assert_int_eq(kill(backend, SIGSTOP), 0);
    pthread_create(&resumer, NULL, resume_later, &backend);
    start = ms_now_ms();
    rc = ms_pg_query(conn, "SELECT 1", 0, NULL, &res);
    took = ms_now_ms() - start;
    PQclear(res);
    ms_pg_release(pool, conn);
    /* nothing else was answered meanwhile: the server looks silent, and the pool refuses at
     * once for a short while rather than hold the next request as long (silence.h) */
    start = ms_now_ms();
    refused = ms_pg_acquire(pool, &conn);
    refused_ms = ms_now_ms() - start;
    if (refused == 0)
        ms_pg_release(pool, conn);
    pthread_join(resumer, NULL); /* before any assertion: a stopped backend must not outlive us */
    ck_assert_int_eq(refused, MS_EUNAVAIL);
    ck_assert_int_lt(refused_ms, 100);
    ck_assert_msg(took < 2500, "the query waited %lld ms", (long long)took);
    ck_assert_int_eq(rc, MS_ETIMEDOUT);
    ck_assert_int_eq(scalar(pool, "SELECT 1"), 1); /* the probe is answered: the silence ends */
    ck_assert_int_eq(scalar(pool, "SELECT 1"), 1);
    ms_pg_pool_free(pool);
}
END_TEST

struct answering {
    struct ms_pg_pool *pool;
    struct ms_pg_conn *conn;
    atomic_bool stop;
    int answered;
};

/* Runs SELECT 1 on its connection every 50 ms until told to stop. */
static void *keep_answering(void *arg)
{
    struct answering *a = arg;

    while (!atomic_load(&a->stop)) {
        if (ms_pg_exec(a->conn, "SELECT 1") == 0)
            a->answered++;
        ms_sleep_ms(50);
    }
    return NULL;
}

/* One stalled session while another is answered is a slow statement, not a silent server: the
 * next request is served, not refused. */
START_TEST(test_pg_one_stalled_session_while_others_answer_is_not_silence)
{
    struct ms_pg_pool *pool = pool_on(db_url, "stall-one", 2, 1000, 300);
    struct answering other = {.pool = pool};
    struct ms_pg_conn *conn = NULL;
    PGresult *res = NULL;
    pthread_t resumer, t;
    pid_t backend;
    int rc, served;

    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    ck_assert_int_eq(ms_pg_acquire(pool, &other.conn), 0);
    ck_assert_int_eq(ms_pg_query(conn, "SELECT pg_backend_pid()", 0, NULL, &res), 0);
    backend = (pid_t)atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    ck_assert_int_eq(kill(backend, SIGSTOP), 0);
    pthread_create(&resumer, NULL, resume_later, &backend);
    pthread_create(&t, NULL, keep_answering, &other);
    rc = ms_pg_exec(conn, "SELECT 1");
    atomic_store(&other.stop, true);
    pthread_join(t, NULL);
    ms_pg_release(pool, conn);
    ms_pg_release(pool, other.conn);
    served = ms_pg_acquire(pool, &conn);
    if (served == 0)
        ms_pg_release(pool, conn);
    pthread_join(resumer, NULL); /* before any assertion: a stopped backend must not outlive us */
    ck_assert_int_eq(rc, MS_ETIMEDOUT);
    ck_assert_int_gt(other.answered, 5);
    ck_assert_int_eq(served, 0); /* not refused: the server was answering */
    ms_pg_pool_free(pool);
}
END_TEST

/* The request's budget (ms/budget.h) cuts a statement shorter than its own deadline; once it is
 * spent a statement is not even sent, and the session stays good. */
START_TEST(test_pg_request_budget_cuts_statements)
{
    struct ms_pg_pool *pool = pool_on(db_url, "budget", 1, 1000, 5000);
    struct ms_pg_conn *conn = NULL;
    int64_t start;

    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    ms_budget_set(ms_now_ms() + 300);
    start = ms_now_ms();
    ck_assert_int_eq(ms_pg_exec(conn, "SELECT pg_sleep(3)"), MS_ETIMEDOUT);
    ck_assert_int_lt(ms_now_ms() - start, 1000);
    ck_assert_ptr_nonnull(strstr(ms_pg_last_error(conn), "budget"));
    ms_budget_set(0);
    ms_pg_release(pool, conn); /* unsure: the session is dropped */
    /* and with nothing else answered meanwhile the server may be silent: a probe after 0.5 s */
    ms_sleep_ms(600);
    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    ms_budget_set(ms_now_ms() - 1);
    ck_assert_int_eq(ms_pg_exec(conn, "SELECT 1"), MS_ETIMEDOUT);
    ck_assert_ptr_nonnull(strstr(ms_pg_last_error(conn), "spent"));
    ms_budget_set(0);
    ck_assert_int_eq(ms_pg_exec(conn, "SELECT 1"), 0);
    ms_pg_release(pool, conn);
    ms_pg_pool_free(pool);
}
END_TEST

/* A session left idle inside a transaction is ended by the server, not kept with its locks. */
START_TEST(test_pg_sessions_have_an_idle_in_transaction_time_out)
{
    struct ms_pg_pool *pool = pool_on(db_url, "idle", 1, 1000, 500);

    ck_assert_int_gt(scalar(pool, "SELECT setting::int FROM pg_settings WHERE name = "
                                  "'idle_in_transaction_session_timeout'"),
                     0);
    ms_pg_pool_free(pool);
}
END_TEST

/* Runs "SELECT pg_backend_pid() + $1::int * 0" with one parameter (so the statement is prepared
 * on the session) and returns the backend's PID. */
static long prepared_backend_pid(struct ms_pg_pool *pool)
{
    const char *const params[] = {"1"};
    struct ms_pg_conn *conn = NULL;
    PGresult *res = NULL;
    long pid;
    int rc;

    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    rc = ms_pg_query(conn, "SELECT pg_backend_pid() + $1::int * 0", 1, params, &res);
    ck_assert_msg(rc == 0, "prepared statement: %s", ms_pg_last_error(conn));
    pid = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    ms_pg_release(pool, conn);
    return pid;
}

/* Through PgBouncer (scripts/pooler.sh, as `make up` runs it): the session still has its limits
 * (a startup "options" would be refused there), and a pooled backend handed to a new session
 * carries nothing of the last one: its prepared statements were discarded, so preparing the
 * same name again works. */
START_TEST(test_pg_session_limits_and_statements_hold_through_the_pooler)
{
    struct ms_pg_conn *conn = NULL;
    char *url = ms_test_pooler_url(&pooler, "mstest");
    struct ms_pg_pool *pool;
    long first;

    ck_assert_ptr_nonnull(url);
    pool = pool_on(url, "pooled", 1, 1000, 200);
    ck_assert_int_eq(scalar(pool, "SELECT setting::int FROM pg_settings WHERE name = "
                                  "'statement_timeout'"),
                     200);
    ck_assert_int_eq(scalar(pool, "SELECT setting::int FROM pg_settings WHERE name = "
                                  "'idle_in_transaction_session_timeout'"),
                     10000);
    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    ck_assert_int_eq(ms_pg_exec(conn, "SELECT pg_sleep(5)"), MS_ETIMEDOUT);
    ck_assert_str_eq(ms_pg_last_sqlstate(conn), "57014"); /* the server's limit, not ours */
    ms_pg_release(pool, conn);
    first = prepared_backend_pid(pool);
    ms_pg_pool_free(pool);
    pool = pool_on(url, "pooled", 1, 1000, 300);
    ck_assert_int_eq(prepared_backend_pid(pool), first); /* the same backend, reset */
    ms_pg_pool_free(pool);
    free(url);
}
END_TEST

struct pool_query {
    struct ms_pg_pool *pool;
    int rc;
};

static void *query_in_thread(void *arg)
{
    struct pool_query *q = arg;
    PGresult *res = NULL;

    q->rc = ms_pg_pool_query(q->pool, "SELECT 1", 0, NULL, &res);
    PQclear(res);
    return NULL;
}

/* One connection lost, and new connections failing for a while (their handshake answers lost):
 * a request whose own connection cannot be reopened is served by another open connection as
 * soon as one is free, instead of PostgreSQL being called unavailable while it is answering. */
START_TEST(test_pg_a_dead_connection_does_not_fail_requests_while_others_work)
{
    struct ms_test_proxy px;
    char url[160];
    struct ms_pg_pool *pool;
    struct ms_pg_conn *a = NULL, *b = NULL;
    struct pool_query q;
    PGresult *res = NULL;
    pthread_t t;

    ck_assert_int_eq(ms_test_proxy_start(&px, "pool-pg", server.port, NULL), 0);
    snprintf(url, sizeof(url), "postgresql://ms@127.0.0.1:%d/mstest", px.port);
    pool = pool_on(url, "proportional", 2, 2000, 1000);
    ck_assert_int_eq(ms_pg_acquire(pool, &a), 0);
    ck_assert_int_eq(ms_pg_acquire(pool, &b), 0);
    ck_assert_int_eq(ms_pg_exec(a, "SELECT 1"), 0);
    ck_assert_int_eq(ms_pg_exec(b, "SELECT 1"), 0);
    /* a's next answer is lost: a is dead; and every new connection loses its first answer */
    ck_assert_int_eq(ms_test_proxy_faults(&px, "{\"lose_next\":1}"), 0);
    ck_assert_int_eq(ms_pg_query(a, "SELECT 1", 0, NULL, &res), MS_EUNAVAIL);
    ms_pg_release(pool, a);
    ck_assert_int_eq(ms_test_proxy_faults(&px, "{\"lose_conn_percent\":100,\"lose_conn_after\":0}"),
                     0);
    q = (struct pool_query){.pool = pool, .rc = 1};
    pthread_create(&t, NULL, query_in_thread, &q); /* gets a's slot: it cannot be reopened */
    ms_sleep_ms(300);
    ms_pg_release(pool, b); /* b is free: the waiting request takes it */
    pthread_join(t, NULL);
    ck_assert_int_eq(q.rc, 0);
    ck_assert_int_eq(ms_test_proxy_clean(&px), 0);
    ms_pg_pool_free(pool);
    ck_assert_int_eq(ms_test_proxy_stop(&px), 0);
}
END_TEST

/* The pool's one connection reset, and the first reconnect's handshake answer lost too: the
 * next request is not refused (PostgreSQL answers, only a connection failed); it waits while the
 * pool reconnects in the background, and is served. */
START_TEST(test_pg_reset_connections_are_replaced_while_a_request_waits)
{
    struct ms_test_proxy px;
    char url[160];
    struct ms_pg_pool *pool;
    struct ms_pg_conn *conn = NULL;
    PGresult *res = NULL;

    ck_assert_int_eq(ms_test_proxy_start(&px, "reset-pg", server.port, NULL), 0);
    snprintf(url, sizeof(url), "postgresql://ms@127.0.0.1:%d/mstest", px.port);
    pool = pool_on(url, "replaced", 1, 2000, 1000);
    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    ck_assert_int_eq(ms_pg_exec(conn, "SELECT 1"), 0);
    ms_pg_release(pool, conn);
    ck_assert_int_eq(ms_test_proxy_admin(&px, "DELETE", "/admin/connections", NULL), 200);
    ck_assert_int_eq(ms_test_proxy_faults(&px, "{\"lose_next\":1}"), 0);
    ck_assert_int_eq(ms_pg_pool_query(pool, "SELECT 1", 0, NULL, &res), 0);
    PQclear(res);
    ck_assert(ms_test_proxy_applied(&px, "lost_answer") == 1);
    ms_pg_pool_free(pool);
    ck_assert_int_eq(ms_test_proxy_stop(&px), 0);
}
END_TEST

struct query_loop {
    struct ms_pg_pool *pool;
    int64_t until_ms;
    int ok;
    int lost;    /* the statement's own connection was reset: allowed */
    int refused; /* no connection given at all: never allowed */
};

static void *query_until(void *arg)
{
    struct query_loop *q = arg;

    while (ms_now_ms() < q->until_ms) {
        struct ms_pg_conn *conn = NULL;

        if (ms_pg_acquire(q->pool, &conn) < 0) {
            q->refused++;
            continue;
        }
        if (ms_pg_exec(conn, "SELECT pg_sleep(0.002)") == 0)
            q->ok++;
        else
            q->lost++;
        ms_pg_release(q->pool, conn);
    }
    return NULL;
}

/* Requests run on four threads while the proxy resets every connection ten times, each time
 * losing the next answer too (a reconnect's handshake, or a statement's): each reset fails at
 * most the statements that were using a reset connection, and no request is ever refused a
 * connection. */
START_TEST(test_pg_resets_fail_only_the_requests_that_used_the_connection)
{
    struct ms_test_proxy px;
    struct query_loop loops[4];
    pthread_t threads[4];
    int ok = 0, lost = 0, refused = 0;
    struct ms_pg_pool *pool;
    char url[160];

    ck_assert_int_eq(ms_test_proxy_start(&px, "storm-pg", server.port, NULL), 0);
    snprintf(url, sizeof(url), "postgresql://ms@127.0.0.1:%d/mstest", px.port);
    pool = pool_on(url, "storm", 3, 1000, 1000);
    for (int i = 0; i < 4; i++) {
        loops[i] = (struct query_loop){.pool = pool, .until_ms = ms_now_ms() + 1500};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, query_until, &loops[i]), 0);
    }
    for (int i = 0; i < 10; i++) {
        ms_sleep_ms(100);
        ck_assert_int_eq(ms_test_proxy_admin(&px, "DELETE", "/admin/connections", NULL), 200);
        ck_assert_int_eq(ms_test_proxy_faults(&px, "{\"lose_next\":1}"), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        ok += loops[i].ok;
        lost += loops[i].lost;
        refused += loops[i].refused;
    }
    ck_assert_msg(refused == 0 && lost <= 10 * 4 && ok > 100, "%d ok, %d lost, %d refused", ok,
                  lost, refused);
    ms_pg_pool_free(pool);
    ck_assert_int_eq(ms_test_proxy_stop(&px), 0);
}
END_TEST

START_TEST(test_pg_acquire_times_out_when_all_connections_are_out)
{
    struct ms_pg_pool *pool = pool_on(db_url, "busy", 2, 150, 2000);
    struct ms_pg_conn *a = NULL, *b = NULL, *c = NULL;
    int64_t start, took;

    ck_assert_int_eq(ms_pg_acquire(pool, &a), 0);
    ck_assert_int_eq(ms_pg_acquire(pool, &b), 0);
    start = ms_now_ms();
    ck_assert_int_eq(ms_pg_acquire(pool, &c), MS_EUNAVAIL);
    took = ms_now_ms() - start;
    ck_assert_ptr_null(c);
    ck_assert_int_ge(took, 140);
    ck_assert_int_lt(took, 1000);
    ck_assert(ms_test_has_sample("db_pool_acquire_total{pool=\"busy\",result=\"timeout\"} 1"));
    ck_assert(ms_test_has_sample("db_pool_connections{pool=\"busy\",state=\"in_use\"} 2"));
    ms_pg_release(pool, a);
    ck_assert_int_eq(ms_pg_acquire(pool, &c), 0);
    ck_assert_ptr_eq(c, a); /* the open connection is reused */
    ms_pg_release(pool, b);
    ms_pg_release(pool, c);
    ck_assert(ms_test_has_sample("db_pool_connections{pool=\"busy\",state=\"idle\"} 2"));
    ck_assert(ms_test_has_sample("db_pool_connections{pool=\"busy\",state=\"open\"} 2"));
    ck_assert(ms_test_has_sample("db_pool_acquire_total{pool=\"busy\",result=\"ok\"} 3"));
    ms_pg_pool_free(pool);
}
END_TEST

START_TEST(test_pg_release_rolls_back_an_open_transaction)
{
    struct ms_pg_pool *pool = pool_on(db_url, "rollback", 1, 1000, 2000);
    struct ms_pg_conn *conn = NULL;

    exec_ok(pool, "CREATE TABLE leftovers (n int)");
    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    ck_assert_int_eq(ms_pg_exec(conn, "BEGIN"), 0);
    ck_assert_int_eq(ms_pg_exec(conn, "INSERT INTO leftovers VALUES (1)"), 0);
    ms_pg_release(pool, conn); /* an error path that forgot to roll back */
    ck_assert_int_eq(scalar(pool, "SELECT count(*) FROM leftovers"), 0);
    exec_ok(pool, "DROP TABLE leftovers");
    ck_assert(ms_test_has_sample("db_queries_total{pool=\"rollback\",result=\"ok\"}"));
    ms_pg_pool_free(pool);
}
END_TEST

/* ---- prepared statements (one per statement text and session) ---- */

/* Runs sql with one parameter on conn and returns the first value as a number. */
static long scalar1(struct ms_pg_conn *conn, const char *sql, const char *param)
{
    const char *params[] = {param};
    PGresult *res = NULL;
    long value;
    int rc = ms_pg_query(conn, sql, 1, params, &res);

    ck_assert_msg(rc == 0, "%s: %s", sql, ms_pg_last_error(conn));
    value = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return value;
}

static long prepared_count(struct ms_pg_conn *conn, const char *sql)
{
    return scalar1(conn, "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", sql);
}

START_TEST(test_pg_statement_with_params_is_prepared_once_per_session)
{
    static const char sql[] = "SELECT $1::int + 1";
    struct ms_pg_pool *pool = pool_on(db_url, "prepared", 1, 1000, 2000);
    struct ms_pg_conn *conn = NULL;

    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    ck_assert_int_eq(scalar1(conn, sql, "1"), 2);
    ck_assert_int_eq(scalar1(conn, sql, "41"), 42);
    ck_assert_int_eq(prepared_count(conn, sql), 1);
    ms_pg_release(pool, conn);
    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0); /* the same session, kept by the pool */
    ck_assert_int_eq(scalar1(conn, sql, "9"), 10);
    ck_assert_int_eq(prepared_count(conn, sql), 1);
    ms_pg_release(pool, conn);
    /* preparing is not a statement of its own in the counts: 5 queries, 5 ok */
    ck_assert(ms_test_has_sample("db_queries_total{pool=\"prepared\",result=\"ok\"} 5"));
    ms_pg_pool_free(pool);
}
END_TEST

START_TEST(test_pg_new_text_in_a_reused_buffer_is_prepared_anew)
{
    struct ms_pg_pool *pool = pool_on(db_url, "reused", 1, 1000, 2000);
    struct ms_pg_conn *conn = NULL;
    char sql[64];

    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    snprintf(sql, sizeof(sql), "SELECT $1::int + 1");
    ck_assert_int_eq(scalar1(conn, sql, "1"), 2);
    snprintf(sql, sizeof(sql), "SELECT $1::int * 10");
    ck_assert_int_eq(scalar1(conn, sql, "1"), 10);
    ms_pg_release(pool, conn);
    ms_pg_pool_free(pool);
}
END_TEST

START_TEST(test_pg_more_statements_than_are_prepared_still_run)
{
    struct ms_pg_pool *pool = pool_on(db_url, "many", 1, 1000, 2000);
    struct ms_pg_conn *conn = NULL;
    char sql[64];

    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 100; i++) {
            snprintf(sql, sizeof(sql), "SELECT $1::int + %d", i);
            ck_assert_int_eq(scalar1(conn, sql, "1000"), 1000 + i);
        }
    }
    ms_pg_release(pool, conn);
    ms_pg_pool_free(pool);
}
END_TEST

/* A new session has no prepared statements: after the old one died, statements are prepared
 * again instead of failing with "prepared statement does not exist". */
START_TEST(test_pg_statements_are_prepared_again_on_a_new_session)
{
    static const char sql[] = "SELECT $1::int * 2";
    struct ms_pg_pool *pool = pool_on(db_url, "reprepare", 1, 1000, 2000);
    struct ms_pg_pool *killer = pool_on(db_url, "killer", 1, 1000, 2000);
    struct ms_pg_conn *conn = NULL;
    char pid[16];

    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    ck_assert_int_eq(scalar1(conn, sql, "21"), 42);
    {
        PGresult *res = NULL;
        ck_assert_int_eq(ms_pg_query(conn, "SELECT pg_backend_pid()", 0, NULL, &res), 0);
        snprintf(pid, sizeof(pid), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    ms_pg_release(pool, conn);
    {
        struct ms_pg_conn *k = NULL;
        ck_assert_int_eq(ms_pg_acquire(killer, &k), 0);
        ck_assert_int_eq(scalar1(k, "SELECT pg_terminate_backend($1::int)::int", pid), 1);
        ms_pg_release(killer, k);
    }
    ms_sleep_ms(100);                                /* the session's end reaches its socket */
    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0); /* the dead session is noticed: a new one */
    ck_assert_int_eq(scalar1(conn, sql, "50"), 100);
    ck_assert_int_eq(prepared_count(conn, sql), 1);
    ms_pg_release(pool, conn);
    ms_pg_pool_free(killer);
    ms_pg_pool_free(pool);
}
END_TEST

/* A table changed under a prepared SELECT *: PostgreSQL refuses the old plan's row type once;
 * the session is dropped and the next one prepares the statement for the new table. */
START_TEST(test_pg_schema_change_under_a_prepared_statement_recovers)
{
    static const char sql[] = "SELECT * FROM shapes WHERE id = $1";
    struct ms_pg_pool *pool = pool_on(db_url, "shapes", 1, 1000, 2000);
    const char *params[] = {"1"};
    struct ms_pg_conn *conn = NULL;
    PGresult *res = NULL;
    int rc;

    exec_ok(pool, "CREATE TABLE shapes (id int PRIMARY KEY)");
    exec_ok(pool, "INSERT INTO shapes VALUES (1)");
    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    ck_assert_int_eq(scalar1(conn, sql, "1"), 1);
    ck_assert_int_eq(ms_pg_exec(conn, "ALTER TABLE shapes ADD COLUMN sides int DEFAULT 4"), 0);
    rc = ms_pg_query(conn, sql, 1, params, &res);
    if (rc == 0) { /* a PostgreSQL that re-plans silently is fine too */
        ck_assert_int_eq(PQnfields(res), 2);
        PQclear(res);
    }
    ms_pg_release(pool, conn);
    ck_assert_int_eq(ms_pg_acquire(pool, &conn), 0);
    ck_assert_int_eq(ms_pg_query(conn, sql, 1, params, &res), 0);
    ck_assert_int_eq(PQnfields(res), 2);
    ck_assert_str_eq(PQgetvalue(res, 0, 1), "4");
    PQclear(res);
    ms_pg_release(pool, conn);
    exec_ok(pool, "DROP TABLE shapes");
    ms_pg_pool_free(pool);
}
END_TEST

/* Migration 2 holds several statements; migration 1 sleeps so that concurrent migrators
 * overlap. */
static const struct ms_migration migrations[] = {
    {1, "create_items",
     "CREATE TABLE items (id int PRIMARY KEY, name text); SELECT pg_sleep(0.2);"},
    {2, "seed_items",
     "INSERT INTO items VALUES (1, 'one'); INSERT INTO items VALUES (2, 'two; with '';'' "
     "inside');"},
    {3, "comment_only", "-- nothing to do yet\n"},
};

START_TEST(test_pg_migrate_applies_each_once_and_reruns_idempotently)
{
    char *url = fresh_db_url();
    struct ms_pg_pool *pool = pool_on(url, "migrate", 2, 1000, 100);

    /* The 100 ms statement timeout would cut pg_sleep(0.2): migrations run without it. */
    ck_assert_int_eq(ms_pg_migrate(pool, "test", migrations, 3), 0);
    ck_assert_int_eq(scalar(pool, "SELECT count(*) FROM schema_migrations"), 3);
    ck_assert_int_eq(scalar(pool, "SELECT count(*) FROM items"), 2);
    ck_assert_int_eq(ms_pg_migrate(pool, "test", migrations, 3), 0);
    ck_assert_int_eq(scalar(pool, "SELECT count(*) FROM schema_migrations"), 3);
    ck_assert_int_eq(scalar(pool, "SELECT count(*) FROM items"), 2);
    ck_assert_int_eq(scalar(pool, "SELECT count(*) FROM schema_migrations WHERE name = "
                                  "'seed_items' AND applied_at <= now()"),
                     1);
    /* The session is back to the pool's statement timeout. */
    ck_assert_int_eq(scalar(pool, "SELECT setting::int FROM pg_settings WHERE name = "
                                  "'statement_timeout'"),
                     100);
    ms_pg_pool_free(pool);
    free(url);
}
END_TEST

START_TEST(test_pg_migrate_failure_rolls_back_that_migration)
{
    static const struct ms_migration broken[] = {
        {1, "good", "CREATE TABLE good (n int)"},
        {2, "bad", "CREATE TABLE half (n int); SELECT no_such_column FROM good;"},
        {3, "never", "CREATE TABLE never (n int)"},
    };
    char *url = fresh_db_url();
    struct ms_pg_pool *pool = pool_on(url, "migrate_bad", 1, 1000, 2000);

    ck_assert_int_eq(ms_pg_migrate(pool, "test", broken, 3), MS_EINTERNAL);
    ck_assert_int_eq(scalar(pool, "SELECT max(version) FROM schema_migrations"), 1);
    ck_assert_int_eq(scalar(pool, "SELECT count(*) FROM pg_tables WHERE tablename IN "
                                  "('half', 'never')"),
                     0);
    /* The lock was released: another migration run is not blocked. */
    ck_assert_int_eq(ms_pg_migrate(pool, "test", broken, 1), 0);
    ms_pg_pool_free(pool);
    free(url);
}
END_TEST

struct migrator {
    const char *url;
    char name[32];
    int rc;
};

static void *migrate_thread(void *arg)
{
    struct migrator *m = arg;
    struct ms_pg_config cfg = {.conninfo = m->url, .name = m->name, .size = 1};
    struct ms_pg_pool *pool = ms_pg_pool_new(&cfg);

    m->rc = pool != NULL ? ms_pg_migrate(pool, "test", migrations, 3) : MS_ENOMEM;
    ms_pg_pool_free(pool);
    return NULL;
}

START_TEST(test_pg_concurrent_migrators_apply_each_migration_once)
{
    char *url = fresh_db_url();
    struct migrator m[3];
    pthread_t threads[3];
    struct ms_pg_pool *pool;

    /* Each thread has its own pool, like replicas starting together. */
    for (int i = 0; i < 3; i++) {
        m[i] = (struct migrator){.url = url, .rc = -100};
        snprintf(m[i].name, sizeof(m[i].name), "replica%d", i);
        ck_assert_int_eq(pthread_create(&threads[i], NULL, migrate_thread, &m[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_int_eq(m[i].rc, 0);
    }
    pool = pool_on(url, "check", 1, 1000, 2000);
    ck_assert_int_eq(scalar(pool, "SELECT count(*) FROM schema_migrations"), 3);
    ck_assert_int_eq(scalar(pool, "SELECT count(*) FROM items"), 2);
    ms_pg_pool_free(pool);
    free(url);
}
END_TEST

/* Outage: this test case has its own server, which the test stops and starts again. */
START_TEST(test_pg_server_down_fails_fast_then_recovers)
{
    struct ms_pg_pool *pool = pool_on(db_url, "outage", 2, 1000, 2000);
    int64_t start, took;
    int rc = MS_EUNAVAIL;

    ck_assert_int_eq(ms_pg_ping(pool), 0);
    ck_assert_int_eq(ms_test_pg_shutdown(&server), 0);
    start = ms_now_ms();
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(ms_pg_ping(pool), MS_EUNAVAIL);
    took = ms_now_ms() - start;
    ck_assert_msg(took < 1000, "five pings against a stopped server took %lld ms", (long long)took);
    ck_assert(ms_test_has_sample("db_pool_acquire_total{pool=\"outage\",result=\"unavailable\"}"));
    ck_assert(ms_test_has_sample("db_pool_connections{pool=\"outage\",state=\"open\"} 0"));
    ck_assert_int_eq(ms_test_pg_restart(&server), 0);
    /* The same pool reconnects once the throttle period has passed. */
    for (int i = 0; i < 40 && rc != 0; i++) {
        rc = ms_pg_ping(pool);
        if (rc != 0)
            ms_sleep_ms(100);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(scalar(pool, "SELECT 41 + 1"), 42);
    ms_pg_pool_free(pool);
}
END_TEST

/* Idle pooled connections that the server closed while restarting are noticed at checkout,
 * so the first query after the restart succeeds instead of failing on a dead connection. */
START_TEST(test_pg_restart_while_idle_first_query_succeeds)
{
    struct ms_pg_pool *pool = pool_on(db_url, "restart", 1, 1000, 2000);
    int64_t deadline;

    ck_assert_int_eq(scalar(pool, "SELECT 1"), 1); /* the one connection is open and idle */
    ck_assert_int_eq(ms_test_pg_shutdown(&server), 0);
    ck_assert_int_eq(ms_test_pg_restart(&server), 0);
    deadline = ms_now_ms() + 1000; /* the server may need a moment to accept connections */
    while (ms_pg_ping(pool) != 0 && ms_now_ms() < deadline)
        ms_sleep_ms(300); /* past the connect throttle: a failure here is a refused connect */
    ck_assert_int_eq(ms_test_pg_shutdown(&server), 0);
    ck_assert_int_eq(ms_test_pg_restart(&server), 0);
    ms_sleep_ms(200);
    ck_assert_int_eq(ms_pg_ping(pool), 0);
    ms_pg_pool_free(pool);
}
END_TEST

START_TEST(test_pg_unreachable_server_fails_at_acquire)
{
    char url[128];
    struct ms_pg_pool *pool;
    struct ms_pg_conn *conn = NULL;
    int64_t start;

    /* Nothing listens on a port just found free. */
    snprintf(url, sizeof(url), "host=127.0.0.1 port=%d user=ms dbname=mstest", ms_test_free_port());
    pool = pool_on(url, "nowhere", 2, 1000, 2000);
    start = ms_now_ms();
    ck_assert_int_eq(ms_pg_acquire(pool, &conn), MS_EUNAVAIL);
    ck_assert_ptr_null(conn);
    ck_assert_int_eq(ms_pg_acquire(pool, &conn), MS_EUNAVAIL);
    ck_assert_int_lt(ms_now_ms() - start, 1000);
    ms_pg_pool_free(pool);
}
END_TEST

static Suite *pg_suite(void)
{
    Suite *s = suite_create("pg");
    TCase *pool = tcase_create("pool");
    TCase *outage = tcase_create("outage");

    tcase_add_unchecked_fixture(pool, server_up, server_down);
    tcase_add_test(pool, test_pg_params_with_sql_metacharacters_are_stored_literally);
    tcase_add_test(pool, test_pg_unique_violation_is_conflict);
    tcase_add_test(pool, test_pg_bad_input_syntax_is_invalid);
    tcase_add_test(pool, test_pg_statement_timeout_is_timedout);
    tcase_add_test(pool, test_pg_stalled_server_is_a_client_side_time_out);
    tcase_add_test(pool, test_pg_one_stalled_session_while_others_answer_is_not_silence);
    tcase_add_test(pool, test_pg_request_budget_cuts_statements);
    tcase_add_test(pool, test_pg_sessions_have_an_idle_in_transaction_time_out);
    tcase_add_test(pool, test_pg_session_limits_and_statements_hold_through_the_pooler);
    tcase_add_test(pool, test_pg_a_dead_connection_does_not_fail_requests_while_others_work);
    tcase_add_test(pool, test_pg_reset_connections_are_replaced_while_a_request_waits);
    tcase_add_test(pool, test_pg_resets_fail_only_the_requests_that_used_the_connection);
    tcase_add_test(pool, test_pg_acquire_times_out_when_all_connections_are_out);
    tcase_add_test(pool, test_pg_release_rolls_back_an_open_transaction);
    tcase_add_test(pool, test_pg_statement_with_params_is_prepared_once_per_session);
    tcase_add_test(pool, test_pg_new_text_in_a_reused_buffer_is_prepared_anew);
    tcase_add_test(pool, test_pg_more_statements_than_are_prepared_still_run);
    tcase_add_test(pool, test_pg_statements_are_prepared_again_on_a_new_session);
    tcase_add_test(pool, test_pg_schema_change_under_a_prepared_statement_recovers);
    tcase_add_test(pool, test_pg_unreachable_server_fails_at_acquire);
    tcase_add_test(pool, test_pg_migrate_applies_each_once_and_reruns_idempotently);
    tcase_add_test(pool, test_pg_migrate_failure_rolls_back_that_migration);
    tcase_add_test(pool, test_pg_concurrent_migrators_apply_each_migration_once);
    suite_add_tcase(s, pool);
    tcase_add_unchecked_fixture(outage, server_up, server_down);
    tcase_add_test(outage, test_pg_server_down_fails_fast_then_recovers);
    tcase_add_test(outage, test_pg_restart_while_idle_first_query_succeeds);
    suite_add_tcase(s, outage);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    return ms_test_main(pg_suite(), true);
}
