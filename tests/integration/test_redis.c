/* Integration: the Redis pool, pipelining, timeouts and outages, against a real server started
 * by scripts/redis.sh for each test case. */
#include "deps.h"
#include "metrics.h"
#include "proc.h"

#include "ms/budget.h"
#include "ms/clock.h"
#include "ms/err.h"
#include "ms/redis.h"
#include "runner.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One server per test case, started by the unchecked fixture in the parent process; the tests
 * run in forked children and only read these. */
static struct ms_test_redis server;
static char *url;

static void server_up(void)
{
    ck_assert_int_eq(ms_test_redis_start(&server), 0);
    url = ms_test_redis_url(&server);
    ck_assert_ptr_nonnull(url);
}

static void server_down(void)
{
    ms_test_redis_stop(&server);
    free(url);
    url = NULL;
}

static struct ms_redis_pool *pool_on(const char *pool_url, const char *name, int size,
                                     int command_ms)
{
    struct ms_redis_config cfg = {
        .url = pool_url,
        .name = name,
        .size = size,
        .connect_timeout_ms = 200,
        .command_timeout_ms = command_ms,
        .acquire_timeout_ms = 150,
    };
    struct ms_redis_pool *pool = ms_redis_pool_new(&cfg);

    ck_assert_ptr_nonnull(pool);
    return pool;
}

/* Runs a command given as NUL-free words and returns its reply, asserting success. */
static redisReply *call(struct ms_redis_pool *pool, int argc, const char **argv)
{
    redisReply *reply = NULL;

    ck_assert_int_eq(ms_redis_call(pool, &reply, argc, argv, NULL), 0);
    ck_assert_ptr_nonnull(reply);
    return reply;
}

START_TEST(test_redis_set_get_is_binary_safe)
{
    static const char value[] = "a\0b\r\n$3\r\nzz";
    struct ms_redis_pool *pool = pool_on(url, "binary", 2, 200);
    const char *set[] = {"SET", "bin", value};
    const size_t set_len[] = {3, 3, sizeof(value) - 1};
    const char *get[] = {"GET", "bin"};
    redisReply *reply = NULL;

    ck_assert_int_eq(ms_redis_call(pool, &reply, 3, set, set_len), 0);
    ck_assert_int_eq(reply->type, REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    reply = call(pool, 2, get);
    ck_assert_int_eq(reply->type, REDIS_REPLY_STRING);
    ck_assert_uint_eq(reply->len, sizeof(value) - 1);
    ck_assert_mem_eq(reply->str, value, sizeof(value) - 1);
    freeReplyObject(reply);
    ck_assert_int_eq(ms_redis_ping(pool), 0);
    ck_assert(ms_test_has_sample("redis_commands_total{pool=\"binary\",result=\"ok\"} 3"));
    ms_redis_pool_free(pool);
}
END_TEST

/* Commands are formatted by hand into a 1 KiB buffer, by hiredis when larger: values of every
 * length around that limit, and a large one, come back intact. */
START_TEST(test_redis_commands_around_the_format_buffer_round_trip)
{
    static char value[9000];
    struct ms_redis_pool *pool = pool_on(url, "sizes", 1, 200);
    const char *get[] = {"GET", "sized"};
    redisReply *reply = NULL;

    for (size_t i = 0; i < sizeof(value); i++)
        value[i] = (char)('a' + i % 26);
    for (size_t n = 940; n <= sizeof(value); n += n < 1060 ? 1 : 7000) {
        const char *set[] = {"SET", "sized", value};
        const size_t set_len[] = {3, 5, n};
        ck_assert_int_eq(ms_redis_call(pool, &reply, 3, set, set_len), 0);
        ck_assert_int_eq(reply->type, REDIS_REPLY_STATUS);
        freeReplyObject(reply);
        reply = call(pool, 2, get);
        ck_assert_int_eq(reply->type, REDIS_REPLY_STRING);
        ck_assert_uint_eq(reply->len, n);
        ck_assert_mem_eq(reply->str, value, n);
        freeReplyObject(reply);
    }
    ms_redis_pool_free(pool);
}
END_TEST

START_TEST(test_redis_error_reply_is_returned_to_the_caller)
{
    struct ms_redis_pool *pool = pool_on(url, "errreply", 1, 200);
    const char *set[] = {"SET", "word", "hello"};
    const char *incr[] = {"INCR", "word"};
    redisReply *reply;

    freeReplyObject(call(pool, 3, set));
    reply = call(pool, 2, incr);
    ck_assert_int_eq(reply->type, REDIS_REPLY_ERROR);
    freeReplyObject(reply);
    ck_assert(ms_test_has_sample("redis_commands_total{pool=\"errreply\",result=\"error\"} 1"));
    /* An error reply does not spoil the context. */
    ck_assert_int_eq(ms_redis_ping(pool), 0);
    ms_redis_pool_free(pool);
}
END_TEST

START_TEST(test_redis_pipeline_multi_exec)
{
    struct ms_redis_pool *pool = pool_on(url, "pipeline", 1, 200);
    const char *multi[] = {"MULTI"}, *incr[] = {"INCRBY", "counter", "5"}, *exec[] = {"EXEC"};
    struct ms_redis_conn *conn = NULL;
    redisReply *reply = NULL;

    ck_assert_int_eq(ms_redis_acquire(pool, &conn), 0);
    ck_assert_int_eq(ms_redis_append(conn, 1, multi, NULL), 0);
    ck_assert_int_eq(ms_redis_append(conn, 3, incr, NULL), 0);
    ck_assert_int_eq(ms_redis_append(conn, 3, incr, NULL), 0);
    ck_assert_int_eq(ms_redis_append(conn, 1, exec, NULL), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ms_redis_read(conn, &reply), 0);
        ck_assert_int_eq(reply->type, REDIS_REPLY_STATUS); /* OK, QUEUED, QUEUED */
        freeReplyObject(reply);
    }
    ck_assert_int_eq(ms_redis_read(conn, &reply), 0);
    ck_assert_int_eq(reply->type, REDIS_REPLY_ARRAY);
    ck_assert_uint_eq(reply->elements, 2);
    ck_assert_int_eq(reply->element[0]->integer, 5);
    ck_assert_int_eq(reply->element[1]->integer, 10);
    freeReplyObject(reply);
    /* Nothing left to read: refused instead of waiting for the timeout. */
    ck_assert_int_eq(ms_redis_read(conn, &reply), MS_EINVAL);
    ms_redis_release(pool, conn);
    ms_redis_pool_free(pool);
}
END_TEST

START_TEST(test_redis_unread_pipeline_replies_do_not_leak_to_next_holder)
{
    struct ms_redis_pool *pool = pool_on(url, "leftover", 1, 200);
    const char *echo[] = {"ECHO", "stale"}, *get[] = {"ECHO", "fresh"};
    struct ms_redis_conn *conn = NULL;
    redisReply *reply;

    ck_assert_int_eq(ms_redis_acquire(pool, &conn), 0);
    ck_assert_int_eq(ms_redis_append(conn, 2, echo, NULL), 0);
    ms_redis_release(pool, conn); /* the reply was never read */
    reply = call(pool, 2, get);
    ck_assert_str_eq(reply->str, "fresh");
    freeReplyObject(reply);
    ms_redis_pool_free(pool);
}
END_TEST

/* A command sent without waiting for its reply leaves nothing unread on the connection: the
 * next command on the same (only) connection gets its own reply, not the SET's "+OK". */
START_TEST(test_redis_send_noreply_leaves_no_reply_behind)
{
    struct ms_redis_pool *pool = pool_on(url, "noreply", 1, 200);
    const char *set[] = {"SET", "noreply", "filled"};
    const char *get[] = {"GET", "noreply"};
    redisReply *reply;

    ck_assert_int_eq(ms_redis_send_noreply(pool, 3, set, NULL), 0);
    reply = call(pool, 2, get);
    ck_assert_int_eq(reply->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(reply->str, "filled");
    freeReplyObject(reply);
    ms_redis_pool_free(pool);
}
END_TEST

START_TEST(test_redis_slow_command_times_out)
{
    struct ms_redis_pool *pool = pool_on(url, "slow", 1, 100);
    const char *blpop[] = {"BLPOP", "nothing-here", "2"};
    redisReply *reply = NULL;
    int64_t start = ms_now_ms();

    ck_assert_int_eq(ms_redis_call(pool, &reply, 3, blpop, NULL), MS_ETIMEDOUT);
    ck_assert_ptr_null(reply);
    ck_assert_int_lt(ms_now_ms() - start, 1000);
    /* The timed-out context was dropped; a new one serves the next call. */
    ck_assert_int_eq(ms_redis_ping(pool), 0);
    ms_redis_pool_free(pool);
}
END_TEST

/* A command waits no longer than the request's budget allows, and the connection it left gets
 * its own timeout back for the next caller. */
START_TEST(test_redis_command_is_cut_to_the_request_budget)
{
    struct ms_redis_pool *pool = pool_on(url, "budget", 1, 2000);
    const char *blpop[] = {"BLPOP", "nothing-here", "2"}, *ping[] = {"PING"};
    const char *shorter[] = {"BLPOP", "nothing-here", "1"};
    redisReply *reply = NULL;
    int64_t start = ms_now_ms();

    ms_budget_set(start + 150);
    ck_assert_int_eq(ms_redis_call(pool, &reply, 3, blpop, NULL), MS_ETIMEDOUT);
    ck_assert_int_ge(ms_now_ms() - start, 100);
    ck_assert_int_lt(ms_now_ms() - start, 600);
    /* a command under a budget of 300 ms, then one under none: it waits its own 2 s */
    ms_budget_set(ms_now_ms() + 300);
    freeReplyObject(call(pool, 1, ping));
    ms_budget_set(0);
    start = ms_now_ms();
    reply = call(pool, 3, shorter);
    ck_assert_int_eq(reply->type, REDIS_REPLY_NIL);
    ck_assert_int_ge(ms_now_ms() - start, 900);
    freeReplyObject(reply);
    ms_redis_pool_free(pool);
}
END_TEST

/* With the budget spent nothing is sent, and the connection stays good. */
START_TEST(test_redis_spent_budget_sends_nothing)
{
    struct ms_redis_pool *pool = pool_on(url, "spent", 1, 200);
    const char *id[] = {"CLIENT", "ID"}, *incr[] = {"INCR", "budget-spent"};
    const char *get[] = {"GET", "budget-spent"};
    redisReply *reply = call(pool, 2, id), *after;
    int64_t start = ms_now_ms();

    ms_budget_set(start - 1);
    ck_assert_int_eq(ms_redis_call(pool, &after, 2, incr, NULL), MS_ETIMEDOUT);
    ck_assert_int_lt(ms_now_ms() - start, 50);
    ms_budget_set(0);
    after = call(pool, 2, id);
    ck_assert_int_eq(after->integer, reply->integer); /* the same connection */
    freeReplyObject(after);
    freeReplyObject(reply);
    reply = call(pool, 2, get);
    ck_assert_int_eq(reply->type, REDIS_REPLY_NIL); /* the INCR never ran */
    freeReplyObject(reply);
    ms_redis_pool_free(pool);
}
END_TEST

START_TEST(test_redis_acquire_times_out_when_all_contexts_are_out)
{
    struct ms_redis_pool *pool = pool_on(url, "busy", 1, 200);
    struct ms_redis_conn *a = NULL, *b = NULL;
    int64_t start, took;

    ck_assert_int_eq(ms_redis_acquire(pool, &a), 0);
    start = ms_now_ms();
    ck_assert_int_eq(ms_redis_acquire(pool, &b), MS_EUNAVAIL);
    took = ms_now_ms() - start;
    ck_assert_int_ge(took, 140);
    ck_assert_int_lt(took, 1000);
    ck_assert(ms_test_has_sample("redis_pool_connections{pool=\"busy\",state=\"in_use\"} 1"));
    ms_redis_release(pool, a);
    ck_assert(ms_test_has_sample("redis_pool_connections{pool=\"busy\",state=\"idle\"} 1"));
    ms_redis_pool_free(pool);
}
END_TEST

START_TEST(test_redis_url_database_is_selected)
{
    char db3_url[128];
    struct ms_redis_pool *db0, *db3;
    const char *set[] = {"SET", "where", "three"}, *get[] = {"GET", "where"};
    redisReply *reply;

    snprintf(db3_url, sizeof(db3_url), "redis://127.0.0.1:%d/3", server.port);
    db0 = pool_on(url, "db0", 1, 200);
    db3 = pool_on(db3_url, "db3", 1, 200);
    freeReplyObject(call(db3, 3, set));
    reply = call(db0, 2, get);
    ck_assert_int_eq(reply->type, REDIS_REPLY_NIL);
    freeReplyObject(reply);
    reply = call(db3, 2, get);
    ck_assert_str_eq(reply->str, "three");
    freeReplyObject(reply);
    ms_redis_pool_free(db0);
    ms_redis_pool_free(db3);
}
END_TEST

START_TEST(test_redis_bad_url_gives_no_pool)
{
    struct ms_redis_config cfg = {.url = "redis://host:notaport", .name = "bad"};

    ck_assert_ptr_null(ms_redis_pool_new(&cfg));
}
END_TEST

/* Outage: this test case has its own server, which the test kills and starts again. */
START_TEST(test_redis_server_killed_fails_fast_then_recovers)
{
    struct ms_redis_pool *pool = pool_on(url, "outage", 2, 200);
    const char *get[] = {"GET", "k"};
    redisReply *reply = NULL;
    int64_t start, took;
    int rc = MS_EUNAVAIL;

    ck_assert_int_eq(ms_redis_ping(pool), 0);
    ck_assert_int_eq(ms_test_redis_crash(&server), 0);
    start = ms_now_ms();
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(ms_redis_call(pool, &reply, 2, get, NULL), MS_EUNAVAIL);
        ck_assert_ptr_null(reply);
    }
    ck_assert_int_eq(ms_redis_ping(pool), MS_EUNAVAIL);
    took = ms_now_ms() - start;
    ck_assert_msg(took < 1000, "six calls against a dead server took %lld ms", (long long)took);
    ck_assert(ms_test_has_sample("redis_pool_connections{pool=\"outage\",state=\"open\"} 0"));
    ck_assert_int_eq(ms_test_redis_restart(&server), 0);
    for (int i = 0; i < 40 && rc != 0; i++) {
        rc = ms_redis_ping(pool);
        if (rc != 0)
            ms_sleep_ms(100);
    }
    ck_assert_int_eq(rc, 0);
    ms_redis_pool_free(pool);
}
END_TEST

static Suite *redis_suite(void)
{
    Suite *s = suite_create("redis");
    TCase *pool = tcase_create("pool");
    TCase *outage = tcase_create("outage");

    tcase_add_unchecked_fixture(pool, server_up, server_down);
    tcase_add_test(pool, test_redis_set_get_is_binary_safe);
    tcase_add_test(pool, test_redis_commands_around_the_format_buffer_round_trip);
    tcase_add_test(pool, test_redis_error_reply_is_returned_to_the_caller);
    tcase_add_test(pool, test_redis_pipeline_multi_exec);
    tcase_add_test(pool, test_redis_unread_pipeline_replies_do_not_leak_to_next_holder);
    tcase_add_test(pool, test_redis_send_noreply_leaves_no_reply_behind);
    tcase_add_test(pool, test_redis_slow_command_times_out);
    tcase_add_test(pool, test_redis_command_is_cut_to_the_request_budget);
    tcase_add_test(pool, test_redis_spent_budget_sends_nothing);
    tcase_add_test(pool, test_redis_acquire_times_out_when_all_contexts_are_out);
    tcase_add_test(pool, test_redis_url_database_is_selected);
    tcase_add_test(pool, test_redis_bad_url_gives_no_pool);
    suite_add_tcase(s, pool);
    tcase_add_unchecked_fixture(outage, server_up, server_down);
    tcase_add_test(outage, test_redis_server_killed_fails_fast_then_recovers);
    suite_add_tcase(s, outage);
    return s;
}

int main(void)
{
    /* hiredis writes with write(2): a write to a connection the server dropped must fail with
     * EPIPE, not kill the test. Services ignore SIGPIPE in main for the same reason. */
    signal(SIGPIPE, SIG_IGN);
    return ms_test_main(redis_suite(), true);
}
