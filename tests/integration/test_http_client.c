/* The HTTP client against a real HTTP server run inside the test on libmicrohttpd, whose
 * answers (status, failures first, delay, body size) each test controls. */
#include <arpa/inet.h>
#include <check.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics.h"
#include "ms/budget.h"
#include "ms/clock.h"
#include "ms/err.h"
#include "ms/http_client.h"
#include "ms/metrics.h"
#include "ms/trace.h"
#include "runner.h"

#define MIB ((size_t)1 << 20)

/* What the server does; set by the test thread, read by the server's threads. */
struct server {
    struct MHD_Daemon *daemon;
    atomic_int status;      /* the answer to every request not failed below */
    atomic_int fail_first;  /* this many requests get 503 before that */
    atomic_int delay_ms;    /* sleep before answering */
    atomic_int requests;    /* requests received completely */
    atomic_int connections; /* TCP connections accepted */
    atomic_size_t big_len;  /* body size of GET /big */
};

/* One request as the server sees it: its headers and body, echoed by /echo. */
struct exchange {
    char text[8192];
    size_t len;
};

static struct server srv;
static char base_url[64];
static struct ms_upstream *up;
static struct ms_http_response res;

static void text_append(struct exchange *x, const char *s, size_t n)
{
    size_t room = sizeof(x->text) - 1 - x->len;

    n = n < room ? n : room;
    memcpy(x->text + x->len, s, n);
    x->len += n;
    x->text[x->len] = '\0';
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct exchange *x = cls;

    (void)kind;
    text_append(x, key, strlen(key));
    text_append(x, ": ", 2);
    text_append(x, value, strlen(value));
    text_append(x, "\n", 1);
    return MHD_YES;
}

/* Takes one of the planned failures, if any are left. */
static bool take_failure(void)
{
    int left = atomic_load(&srv.fail_first);

    while (left > 0)
        if (atomic_compare_exchange_weak(&srv.fail_first, &left, left - 1))
            return true;
    return false;
}

static enum MHD_Result answer(struct MHD_Connection *conn, const char *url, struct exchange *x)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    size_t len = 5;
    char *body;
    int status;

    atomic_fetch_add(&srv.requests, 1);
    if (atomic_load(&srv.delay_ms) > 0)
        ms_sleep_ms(atomic_load(&srv.delay_ms));
    status = take_failure() ? 503 : atomic_load(&srv.status);
    if (strcmp(url, "/big") == 0) {
        len = atomic_load(&srv.big_len);
        body = malloc(len ? len : 1);
        if (body)
            memset(body, 'x', len);
    } else if (strcmp(url, "/echo") == 0) {
        /* Headers after the body, so the text reads "body\n--\nheaders". */
        text_append(x, "\n--\n", 4);
        MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, x);
        len = x->len;
        body = strdup(x->text);
    } else {
        body = strdup("hello");
    }
    if (!body)
        return MHD_NO;
    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "text/plain");
    ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static int requests_seen(void)
{
    return atomic_load(&srv.requests);
}

static int connections_seen(void)
{
    return atomic_load(&srv.connections);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct exchange *x = *con_cls;

    (void)cls, (void)method, (void)version;
    if (!x) {
        x = calloc(1, sizeof(*x));
        *con_cls = x;
        /* Answering on a later call is what keeps MHD 0.9.75 from closing the connection. */
        return x ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        text_append(x, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return answer(conn, url, x);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls, (void)conn, (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&srv.connections, 1);
}

static void setup(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    const union MHD_DaemonInfo *info;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    memset(&srv, 0, sizeof(srv));
    atomic_store(&srv.status, 200);
    srv.daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request,
                         NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                         MHD_OPTION_THREAD_POOL_SIZE, 4u, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                         NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_END);
    ck_assert_ptr_nonnull(srv.daemon);
    info = MHD_get_daemon_info(srv.daemon, MHD_DAEMON_INFO_BIND_PORT);
    ck_assert_ptr_nonnull(info);
    snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%u", (unsigned)info->port);
    up = NULL;
    memset(&res, 0, sizeof(res));
}

static void teardown(void)
{
    ms_http_response_free(&res);
    ms_http_client_thread_cleanup();
    ms_upstream_free(up);
    up = NULL;
    MHD_stop_daemon(srv.daemon);
    ms_metrics_reset(); /* after the upstream is gone: it caches series pointers */
}

/* A config against the test server: fast backoff, small breaker, retries as asked
 * (-1 for none, since 0 takes the default). */
static struct ms_upstream *upstream_new(const char *name, int max_retries, int threshold)
{
    struct ms_upstream_config cfg = {
        .name = name,
        .base_url = base_url,
        .connect_timeout_ms = 200,
        .timeout_ms = 1000,
        .max_retries = max_retries,
        .backoff_base_ms = 5,
        .backoff_cap_ms = 20,
        .breaker = {.failure_threshold = threshold, .open_ms = 300, .half_open_max = 1},
    };

    up = ms_upstream_new(&cfg);
    ck_assert_ptr_nonnull(up);
    return up;
}

static int get(const char *path)
{
    return ms_http_request(up, "GET", path, NULL, 0, NULL, true, &res);
}

START_TEST(test_http_client_get_returns_status_and_body)
{
    upstream_new("ok", 0, 0);
    ck_assert_int_eq(get("/hello"), 0);
    ck_assert_int_eq(res.status, 200);
    ck_assert_str_eq(res.body, "hello");
    ck_assert_uint_eq(res.body_len, 5);
    ck_assert_pstr_eq(res.content_type, "text/plain");
}
END_TEST

START_TEST(test_http_client_4xx_is_an_answer_not_retried)
{
    atomic_store(&srv.status, 404);
    upstream_new("notfound", 2, 0);
    ck_assert_int_eq(get("/missing"), 0);
    ck_assert_int_eq(res.status, 404);
    ck_assert_int_eq(requests_seen(), 1);
    ck_assert_int_eq(ms_upstream_breaker_state(up), MS_BREAKER_CLOSED);
}
END_TEST

START_TEST(test_http_client_post_delivers_json_body)
{
    static const char json[] = "{\"sku\":\"a-1\",\"qty\":2}";

    upstream_new("post", 0, 0);
    ck_assert_int_eq(ms_http_request(up, "POST", "/echo", json, strlen(json), NULL, false, &res),
                     0);
    ck_assert_int_eq(res.status, 200);
    ck_assert_ptr_nonnull(strstr(res.body, json));
    ck_assert_ptr_nonnull(strcasestr(res.body, "content-type: application/json\n"));
    ck_assert_ptr_null(strcasestr(res.body, "expect:")); /* no 100-continue round trip */
}
END_TEST

START_TEST(test_http_client_sends_extra_headers)
{
    const char *const extra[] = {"Idempotency-Key: k-77", NULL};

    upstream_new("extra", 0, 0);
    ck_assert_int_eq(ms_http_request(up, "GET", "/echo", NULL, 0, extra, true, &res), 0);
    ck_assert_ptr_nonnull(strcasestr(res.body, "idempotency-key: k-77\n"));
    ck_assert_ptr_null(strcasestr(res.body, "content-type:")); /* no body, no type */
}
END_TEST

START_TEST(test_http_client_forwards_trace_headers)
{
    struct ms_trace trace = {.values = {NULL}};

    trace.values[MS_TRACE_REQUEST_ID] = "req-42";
    trace.values[1] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    ms_trace_set_current(&trace);
    upstream_new("trace", 0, 0);
    ck_assert_int_eq(get("/echo"), 0);
    ms_trace_set_current(NULL);
    ck_assert_ptr_nonnull(strcasestr(res.body, "x-request-id: req-42\n"));
    ck_assert_ptr_nonnull(strcasestr(
        res.body, "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n"));
    ck_assert_ptr_null(strcasestr(res.body, "x-b3-")); /* absent values are not sent */
}
END_TEST

START_TEST(test_http_client_no_trace_headers_outside_a_request)
{
    ms_trace_set_current(NULL);
    upstream_new("notrace", 0, 0);
    ck_assert_int_eq(get("/echo"), 0);
    ck_assert_ptr_null(strcasestr(res.body, "x-request-id"));
    ck_assert_ptr_null(strcasestr(res.body, "traceparent"));
}
END_TEST

START_TEST(test_http_client_idempotent_get_retried_on_503)
{
    atomic_store(&srv.fail_first, 2);
    upstream_new("retry", 2, 0);
    ck_assert_int_eq(get("/hello"), 0);
    ck_assert_int_eq(res.status, 200);
    ck_assert_str_eq(res.body, "hello");
    ck_assert_int_eq(requests_seen(), 3);
    ck_assert_double_eq(ms_test_sample("upstream_retries_total{upstream=\"retry\"}"), 2);
    ck_assert_double_eq(
        ms_test_sample("upstream_requests_total{upstream=\"retry\",outcome=\"error\"}"), 2);
}
END_TEST

START_TEST(test_http_client_retries_exhausted_return_last_answer)
{
    atomic_store(&srv.fail_first, 100);
    upstream_new("exhausted", 2, 0);
    ck_assert_int_eq(get("/hello"), 0);
    ck_assert_int_eq(res.status, 503);
    ck_assert_int_eq(requests_seen(), 3); /* the first attempt and two retries */
}
END_TEST

START_TEST(test_http_client_post_not_retried)
{
    static const char json[] = "{\"order\":1}";

    atomic_store(&srv.fail_first, 2);
    upstream_new("noretry", 2, 0);
    ck_assert_int_eq(ms_http_request(up, "POST", "/orders", json, strlen(json), NULL, false, &res),
                     0);
    ck_assert_int_eq(res.status, 503);
    ck_assert_int_eq(requests_seen(), 1);
}
END_TEST

START_TEST(test_http_client_timeout_is_etimedout)
{
    struct ms_upstream_config cfg = {.name = "slow",
                                     .base_url = base_url,
                                     .connect_timeout_ms = 100,
                                     .timeout_ms = 200,
                                     .max_retries = -1};
    int64_t start;

    atomic_store(&srv.delay_ms, 1000);
    up = ms_upstream_new(&cfg);
    ck_assert_ptr_nonnull(up);
    start = ms_now_ms();
    ck_assert_int_eq(get("/hello"), MS_ETIMEDOUT);
    ck_assert_int_lt(ms_now_ms() - start, 3 * cfg.timeout_ms);
    ck_assert_ptr_null(res.body);
    ck_assert_double_eq(
        ms_test_sample("upstream_requests_total{upstream=\"slow\",outcome=\"timeout\"}"), 1);
}
END_TEST

/* The request's budget (ms/budget.h) cuts a call shorter than its own time-out, and the
 * called service is told how long it has. */
START_TEST(test_http_client_call_is_cut_to_the_request_budget)
{
    int64_t start;

    upstream_new("budget", -1, 0);
    ck_assert_int_eq(get("/echo"), 0);
    /* no budget on this thread: the call's own time-out is passed on */
    ck_assert_ptr_nonnull(strcasestr(res.body, "x-envoy-expected-rq-timeout-ms: 1000\n"));
    ms_http_response_free(&res);
    ms_budget_set(ms_now_ms() + 400);
    ck_assert_int_eq(get("/echo"), 0);
    {
        const char *h = strcasestr(res.body, "x-envoy-expected-rq-timeout-ms: ");
        long passed = h ? atol(h + strlen("x-envoy-expected-rq-timeout-ms: ")) : -1;
        ck_assert_msg(passed > 300 && passed <= 400, "passed on %ld ms of a 400 ms budget", passed);
    }
    ms_http_response_free(&res);
    atomic_store(&srv.delay_ms, 1000);
    ms_budget_set(ms_now_ms() + 200);
    start = ms_now_ms();
    ck_assert_int_eq(get("/hello"), MS_ETIMEDOUT);
    ck_assert_int_lt(ms_now_ms() - start, 600); /* not the call's 1000 ms */
    ms_budget_set(0);
}
END_TEST

/* A call made after the budget is spent goes nowhere: an immediate time-out, no request sent,
 * and the upstream's breaker is not blamed for it. */
START_TEST(test_http_client_spent_budget_sends_nothing)
{
    upstream_new("spent", 2, 1);
    ms_budget_set(ms_now_ms() - 1);
    ck_assert_int_eq(get("/hello"), MS_ETIMEDOUT);
    ck_assert_int_eq(get("/hello"), MS_ETIMEDOUT);
    ms_budget_set(0);
    ck_assert_int_eq(requests_seen(), 0);
    ck_assert_int_eq(ms_upstream_breaker_state(up), MS_BREAKER_CLOSED);
    ck_assert_int_eq(get("/hello"), 0);
    ck_assert_int_eq(res.status, 200);
}
END_TEST

/* timeout_ms bounds the whole call: a slow upstream is not retried past it. */
START_TEST(test_http_client_retries_stay_within_the_timeout_budget)
{
    struct ms_upstream_config cfg = {.name = "budget",
                                     .base_url = base_url,
                                     .connect_timeout_ms = 100,
                                     .timeout_ms = 300,
                                     .max_retries = 2};
    int64_t took;

    atomic_store(&srv.delay_ms, 1000);
    up = ms_upstream_new(&cfg);
    ck_assert_ptr_nonnull(up);
    took = ms_now_ms();
    ck_assert_int_eq(get("/hello"), MS_ETIMEDOUT);
    took = ms_now_ms() - took;
    ck_assert_msg(took < 450, "a 300 ms budget took %lld ms", (long long)took);
    ck_assert_double_eq(ms_test_sample("upstream_retries_total{upstream=\"budget\"}"), 0);
}
END_TEST

/* With a per-try timeout below the budget, a slow first attempt leaves time for a retry. */
START_TEST(test_http_client_per_try_timeout_leaves_time_to_retry)
{
    struct ms_upstream_config cfg = {.name = "pertry",
                                     .base_url = base_url,
                                     .connect_timeout_ms = 100,
                                     .timeout_ms = 1000,
                                     .per_try_timeout_ms = 150,
                                     .max_retries = 2};
    int64_t took;

    atomic_store(&srv.delay_ms, 1000);
    up = ms_upstream_new(&cfg);
    ck_assert_ptr_nonnull(up);
    took = ms_now_ms();
    ck_assert_int_eq(get("/hello"), MS_ETIMEDOUT);
    took = ms_now_ms() - took;
    ck_assert_int_lt(took, 1000);
    ck_assert_double_eq(
        ms_test_sample("upstream_requests_total{upstream=\"pertry\",outcome=\"timeout\"}"), 3);
}
END_TEST

/* A loopback port nobody listens on: bound, read back, then released. */
static unsigned closed_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

START_TEST(test_http_client_connection_refused_is_eunavail)
{
    char url[64];
    struct ms_upstream_config cfg = {.name = "refused", .base_url = url, .backoff_base_ms = 1};

    snprintf(url, sizeof(url), "http://127.0.0.1:%u", closed_port());
    up = ms_upstream_new(&cfg);
    ck_assert_ptr_nonnull(up);
    ck_assert_int_eq(get("/hello"), MS_EUNAVAIL);
    ck_assert_ptr_null(res.body);
    /* Refused connections are retried too: the default two retries, three attempts. */
    ck_assert_double_eq(
        ms_test_sample("upstream_requests_total{upstream=\"refused\",outcome=\"error\"}"), 3);
}
END_TEST

/* Fails threshold calls with 500 so the breaker opens. */
static void trip_breaker(int threshold)
{
    atomic_store(&srv.status, 500);
    for (int i = 0; i < threshold; i++) {
        ck_assert_int_eq(get("/hello"), 0);
        ck_assert_int_eq(res.status, 500);
        ms_http_response_free(&res);
    }
    ck_assert_int_eq(ms_upstream_breaker_state(up), MS_BREAKER_OPEN);
    ck_assert_int_eq(requests_seen(), threshold);
}

START_TEST(test_http_client_open_breaker_fails_fast_without_calling)
{
    int64_t start;

    upstream_new("breaker", -1, 3);
    trip_breaker(3);
    atomic_store(&srv.status, 200);
    start = ms_now_ms();
    ck_assert_int_eq(get("/hello"), MS_EUNAVAIL);
    ck_assert_int_lt(ms_now_ms() - start, 50);
    ck_assert_int_eq(requests_seen(), 3); /* the server saw nothing more */
}
END_TEST

START_TEST(test_http_client_success_after_open_ms_closes_breaker)
{
    upstream_new("recover", -1, 3);
    trip_breaker(3);
    atomic_store(&srv.status, 200);
    ms_sleep_ms(300 + 50);
    ck_assert_int_eq(get("/hello"), 0);
    ck_assert_int_eq(res.status, 200);
    ck_assert_int_eq(ms_upstream_breaker_state(up), MS_BREAKER_CLOSED);
    ck_assert_int_eq(requests_seen(), 4);
    ck_assert_double_eq(
        ms_test_sample("circuit_breaker_transitions_total{upstream=\"recover\",to=\"half_open\"}"),
        1);
    ck_assert_double_eq(
        ms_test_sample("circuit_breaker_transitions_total{upstream=\"recover\",to=\"closed\"}"), 1);
}
END_TEST

START_TEST(test_http_client_metrics_count_outcomes_and_state)
{
    upstream_new("metered", -1, 2);
    ck_assert_int_eq(get("/hello"), 0);
    ms_http_response_free(&res);
    atomic_store(&srv.status, 500);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(get("/hello"), 0);
        ms_http_response_free(&res);
    }
    ck_assert_int_eq(get("/hello"), MS_EUNAVAIL);
    ck_assert_double_eq(
        ms_test_sample("upstream_requests_total{upstream=\"metered\",outcome=\"success\"}"), 1);
    ck_assert_double_eq(
        ms_test_sample("upstream_requests_total{upstream=\"metered\",outcome=\"error\"}"), 2);
    ck_assert_double_eq(
        ms_test_sample("upstream_requests_total{upstream=\"metered\",outcome=\"timeout\"}"), 0);
    ck_assert_double_eq(
        ms_test_sample("upstream_requests_total{upstream=\"metered\",outcome=\"rejected\"}"), 1);
    ck_assert_double_eq(ms_test_sample("circuit_breaker_state{upstream=\"metered\"}"), 1);
    ck_assert_double_eq(
        ms_test_sample("circuit_breaker_transitions_total{upstream=\"metered\",to=\"open\"}"), 1);
    /* A refused call never reached the network, so it has no duration. */
    ck_assert_double_eq(
        ms_test_sample("upstream_request_duration_seconds_count{upstream=\"metered\"}"), 3);
}
END_TEST

START_TEST(test_http_client_reuses_connection)
{
    upstream_new("keepalive", 0, 0);
    ck_assert_int_eq(get("/hello"), 0);
    ms_http_response_free(&res);
    ck_assert_int_eq(get("/hello"), 0);
    ck_assert_int_eq(requests_seen(), 2);
    ck_assert_int_eq(connections_seen(), 1);
}
END_TEST

enum { WORKERS = 4, CALLS_PER_WORKER = 3 };

/* A pool thread: a few calls, then it exits without cleaning up, leaving its curl handle
 * to the thread-exit destructor (a leak would show under ASan). */
static void *worker(void *arg)
{
    struct ms_http_response r;
    intptr_t ok = 1;

    (void)arg;
    for (int i = 0; i < CALLS_PER_WORKER; i++) {
        if (ms_http_request(up, "GET", "/hello", NULL, 0, NULL, true, &r) != 0 || r.status != 200)
            ok = 0;
        ms_http_response_free(&r);
    }
    return (void *)ok;
}

START_TEST(test_http_client_each_thread_keeps_its_own_connection)
{
    pthread_t t[WORKERS];
    void *ok;

    upstream_new("threads", 0, 0);
    for (int i = 0; i < WORKERS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker, NULL), 0);
    for (int i = 0; i < WORKERS; i++) {
        ck_assert_int_eq(pthread_join(t[i], &ok), 0);
        ck_assert(ok != NULL);
    }
    ck_assert_int_eq(requests_seen(), WORKERS * CALLS_PER_WORKER);
    ck_assert_int_eq(connections_seen(), WORKERS);
}
END_TEST

START_TEST(test_http_client_body_over_1mib_is_etoobig)
{
    atomic_store(&srv.big_len, MIB + 1);
    upstream_new("big", 0, 0);
    ck_assert_int_eq(get("/big"), MS_ETOOBIG);
    ck_assert_ptr_null(res.body);
}
END_TEST

START_TEST(test_http_client_body_of_exactly_1mib_is_accepted)
{
    atomic_store(&srv.big_len, MIB);
    upstream_new("limit", 0, 0);
    ck_assert_int_eq(get("/big"), 0);
    ck_assert_uint_eq(res.body_len, MIB);
    ck_assert_int_eq(res.body[MIB - 1], 'x');
    ck_assert_int_eq(res.body[MIB], '\0');
}
END_TEST

static Suite *http_client_suite(void)
{
    Suite *s = suite_create("http_client");
    TCase *tc = tcase_create("upstream");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_http_client_get_returns_status_and_body);
    tcase_add_test(tc, test_http_client_4xx_is_an_answer_not_retried);
    tcase_add_test(tc, test_http_client_post_delivers_json_body);
    tcase_add_test(tc, test_http_client_sends_extra_headers);
    tcase_add_test(tc, test_http_client_call_is_cut_to_the_request_budget);
    tcase_add_test(tc, test_http_client_spent_budget_sends_nothing);
    tcase_add_test(tc, test_http_client_forwards_trace_headers);
    tcase_add_test(tc, test_http_client_no_trace_headers_outside_a_request);
    tcase_add_test(tc, test_http_client_idempotent_get_retried_on_503);
    tcase_add_test(tc, test_http_client_retries_exhausted_return_last_answer);
    tcase_add_test(tc, test_http_client_post_not_retried);
    tcase_add_test(tc, test_http_client_timeout_is_etimedout);
    tcase_add_test(tc, test_http_client_retries_stay_within_the_timeout_budget);
    tcase_add_test(tc, test_http_client_per_try_timeout_leaves_time_to_retry);
    tcase_add_test(tc, test_http_client_connection_refused_is_eunavail);
    tcase_add_test(tc, test_http_client_open_breaker_fails_fast_without_calling);
    tcase_add_test(tc, test_http_client_success_after_open_ms_closes_breaker);
    tcase_add_test(tc, test_http_client_metrics_count_outcomes_and_state);
    tcase_add_test(tc, test_http_client_reuses_connection);
    tcase_add_test(tc, test_http_client_each_thread_keeps_its_own_connection);
    tcase_add_test(tc, test_http_client_body_over_1mib_is_etoobig);
    tcase_add_test(tc, test_http_client_body_of_exactly_1mib_is_accepted);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ms_test_main(http_client_suite(), true);
}
