/* The common server in-process, over real HTTP: trace context flowing from an incoming
 * request to the calls made while serving it, body limits without Content-Length, JSON bodies,
 * keep-alive, the 500 for a handler that gives no answer, and two servers sharing a port while
 * one of them drains (the hand-over of a rolling restart), the second joining only once ready. */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "ms/budget.h"
#include "ms/clock.h"
#include "ms/err.h"
#include "ms/http_client.h"
#include "ms/server.h"
#include "runner.h"

static struct ms_server *srv;
static struct ms_upstream *self_upstream;
static int port;

/* Answers with the trace headers it received, as a JSON object. */
static void echo_trace(struct ms_req *req, struct ms_res *res)
{
    json_t *seen = json_object();

    for (int i = 0; i < MS_TRACE_NHEADERS; i++) {
        const char *v = ms_req_header(req, ms_trace_header_names[i]);
        if (v)
            json_object_set_new(seen, ms_trace_header_names[i], json_string(v));
    }
    ms_res_json_new(res, 200, seen);
}

/* Calls path on this same server through the resilient client and relays its answer. */
static void relay_from(struct ms_res *res, const char *path)
{
    struct ms_http_response up = {0};
    int rc = ms_http_request(self_upstream, "GET", path, NULL, 0, NULL, true, &up);

    if (rc) {
        ms_res_error(res, rc, "calling self");
        return;
    }
    ms_res_body_copy(res, (int)up.status, MS_CONTENT_TYPE_JSON, up.body, up.body_len);
    ms_http_response_free(&up);
}

static void relay(struct ms_req *req, struct ms_res *res)
{
    (void)req;
    relay_from(res, "/echo-trace");
}

static void echo_json(struct ms_req *req, struct ms_res *res)
{
    ms_res_json_new(res, 201, json_incref(req->json));
}

/* Answers the path parameter and the query parameter q as they reached the handler. */
static void echo_word(struct ms_req *req, struct ms_res *res)
{
    const char *q = ms_req_query(req, "q");

    ms_res_json_new(res, 200,
                    json_pack("{s:s,s:s}", "word", ms_req_param(req, "word"), "q", q ? q : ""));
}

/* Accepts only the query parameters a and b, each at most once. */
static void strict_query(struct ms_req *req, struct ms_res *res)
{
    if (ms_req_query_only_or_400(req, res, "a,b"))
        return;
    ms_res_json_new(res, 200, json_pack("{s:b}", "ok", 1));
}

/* Answers what is left of its budget, and what this server's /budget saw when called from here
 * (the budget passed on). */
static void budget(struct ms_req *req, struct ms_res *res)
{
    (void)req;
    ms_res_json_new(res, 200, json_pack("{s:I}", "left", (json_int_t)ms_budget_cap(INT32_MAX)));
}

static void relay_budget(struct ms_req *req, struct ms_res *res)
{
    (void)req;
    relay_from(res, "/budget");
}

static void forgetful(struct ms_req *req, struct ms_res *res)
{
    (void)req;
    (void)res;
}

static const struct ms_route routes[] = {
    {"GET", "/echo-trace", echo_trace, 0, 0},
    {"GET", "/relay", relay, 0, 0},
    {"POST", "/json", echo_json, 100, MS_ROUTE_JSON},
    {"GET", "/forgetful", forgetful, 0, 0},
    {"GET", "/echo/{word}", echo_word, 0, 0},
    {"GET", "/strict", strict_query, 0, 0},
    {"GET", "/budget", budget, 0, 0},
    {"GET", "/relay-budget", relay_budget, 0, 0},
};

static void server_up(void)
{
    struct ms_server_config cfg;
    char base[64];

    setenv("PORT", "0", 1);
    setenv("BIND_ADDRESS", "127.0.0.1", 1);
    setenv("THREADS", "4", 1);
    setenv("REQUEST_BUDGET_MS", "800", 1);
    ck_assert_int_eq(ms_server_config_load(&cfg, "testsvc", 0), 0);
    unsetenv("REQUEST_BUDGET_MS");
    srv = ms_server_new(&cfg, NULL);
    ck_assert_ptr_nonnull(srv);
    ck_assert_int_eq(ms_server_add_routes(srv, routes, sizeof(routes) / sizeof(routes[0])), 0);
    ck_assert_int_eq(ms_server_start(srv), 0);
    port = ms_server_port(srv);
    ck_assert_int_gt(port, 0);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    self_upstream = ms_upstream_new(&(struct ms_upstream_config){.name = "self", .base_url = base});
    ck_assert_ptr_nonnull(self_upstream);
}

static void server_down(void)
{
    ms_server_free(srv);
    ms_upstream_free(self_upstream);
    ms_http_client_thread_cleanup();
}

static char *url_for(const char *path)
{
    static char url[256];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    return url;
}

/* What /budget (or /relay-budget) says is left, called with the given budget header (NULL:
 * none). */
static long budget_left(const char *path, const char *header)
{
    char line[96];
    const char *headers[] = {line, NULL};
    struct ms_test_response r;
    json_t *doc;
    long left;

    snprintf(line, sizeof(line), "x-envoy-expected-rq-timeout-ms: %s", header ? header : "");
    ck_assert_int_eq(ms_test_http("GET", url_for(path), NULL, header ? headers : NULL, 5000, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    doc = ms_test_json(&r);
    left = (long)json_integer_value(json_object_get(doc, "left"));
    json_decref(doc);
    ms_test_response_free(&r);
    return left;
}

/* A handler has REQUEST_BUDGET_MS (800 here) for its calls, less when its caller says it will
 * wait less (less a tenth, at most 50 ms, for the way back); a value that is not a plain
 * positive number is ignored. */
START_TEST(test_request_budget_is_the_default_or_the_callers)
{
    static const char *const ignored[] = {"abc", "-5", "0", "12ms", "99999999", ""};
    long left = budget_left("/budget", NULL);

    ck_assert_msg(left > 600 && left <= 800, "left %ld ms of 800", left);
    left = budget_left("/budget", "300");
    ck_assert_msg(left > 150 && left <= 270, "left %ld ms of 300 less 30", left);
    left = budget_left("/budget", "5000");
    ck_assert_msg(left > 600 && left <= 800, "left %ld ms: a longer wait keeps the default", left);
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        left = budget_left("/budget", ignored[i]);
        ck_assert_msg(left > 600 && left <= 800, "\"%s\" gave %ld ms", ignored[i], left);
    }
}
END_TEST

/* A chain of services shares one deadline: the service called from a handler gets what is left
 * of the handler's budget, not its own default. */
START_TEST(test_request_budget_is_passed_down_a_chain)
{
    long left = budget_left("/relay-budget", "400");

    ck_assert_msg(left > 150 && left < 360, "the called service had %ld ms of 400 - 40", left);
    /* outside a request, none is set */
    ck_assert_int_eq(ms_budget_deadline(), 0);
}
END_TEST

START_TEST(test_trace_headers_reach_outgoing_calls)
{
    static const char *const in[] = {
        "x-request-id: relay-1",
        "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate: congo=t61rcWkgMzE",
        "x-b3-traceid: 80f198ee56343ba864fe8b2a57d3eff7",
        "x-b3-spanid: e457b5a2e4d86bd1",
        "x-b3-parentspanid: 05e3ac9a4f6e3b90",
        "x-b3-sampled: 1",
        "x-b3-flags: 1",
        "b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1",
        NULL,
    };
    struct ms_test_response r;
    json_t *seen;

    ck_assert_int_eq(ms_test_http("GET", url_for("/relay"), NULL, in, 5000, &r), 0);
    ck_assert_int_eq(r.status, 200);
    seen = ms_test_json(&r);
    ck_assert_ptr_nonnull(seen);
    for (int i = 0; in[i]; i++) {
        char name[64];
        const char *colon = strchr(in[i], ':');
        snprintf(name, sizeof(name), "%.*s", (int)(colon - in[i]), in[i]);
        ck_assert_msg(json_object_get(seen, name), "%s was not forwarded", name);
        ck_assert_str_eq(json_string_value(json_object_get(seen, name)), colon + 2);
    }
    json_decref(seen);
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_generated_request_id_is_forwarded_too)
{
    struct ms_test_response r;
    json_t *seen;
    char *id;

    ck_assert_int_eq(ms_test_http("GET", url_for("/relay"), NULL, NULL, 5000, &r), 0);
    seen = ms_test_json(&r);
    id = ms_test_header(&r, "x-request-id");
    ck_assert_ptr_nonnull(id);
    ck_assert_str_eq(json_string_value(json_object_get(seen, "x-request-id")), id);
    ck_assert_ptr_null(json_object_get(seen, "traceparent"));
    free(id);
    json_decref(seen);
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_trace_is_not_leaked_to_calls_outside_requests)
{
    struct ms_http_response up = {0};
    json_t *seen;

    ck_assert_int_eq(ms_http_request(self_upstream, "GET", "/echo-trace", NULL, 0, NULL, true, &up),
                     0);
    seen = json_loads(up.body, 0, NULL);
    ck_assert_ptr_nonnull(seen);
    ck_assert_int_eq(json_object_size(seen), 0);
    json_decref(seen);
    ms_http_response_free(&up);
}
END_TEST

START_TEST(test_chunked_body_over_route_limit_is_413)
{
    char body[300];
    struct ms_test_response r;

    memset(body, ' ', sizeof(body) - 1);
    body[0] = '{';
    body[sizeof(body) - 2] = '}';
    body[sizeof(body) - 1] = '\0';
    ck_assert_int_eq(ms_test_http("POST", url_for("/json"), body,
                                  (const char *const[]){"Transfer-Encoding: chunked", NULL}, 5000,
                                  &r),
                     0);
    ck_assert_int_eq(r.status, 413);
    ck_assert_ptr_nonnull(strstr(r.body, "payload_too_large"));
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_json_body_is_parsed_before_the_handler)
{
    struct ms_test_response r;
    json_t *doc;

    ck_assert_int_eq(ms_test_http("POST", url_for("/json"), "{\"a\":[1,2]}", NULL, 5000, &r), 0);
    ck_assert_int_eq(r.status, 201);
    doc = ms_test_json(&r);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "a")), 2);
    json_decref(doc);
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_malformed_or_empty_json_is_400_naming_the_problem)
{
    static const char *const bad[] = {"{\"a\":", "{\"a\":1,\"a\":2}", "nul", "\"\\u0000\""};
    struct ms_test_response r;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(ms_test_http("POST", url_for("/json"), bad[i], NULL, 5000, &r), 0);
        ck_assert_msg(r.status == 400, "%s: %ld", bad[i], r.status);
        ck_assert_ptr_nonnull(strstr(r.body, "malformed JSON"));
        ms_test_response_free(&r);
    }
    ck_assert_int_eq(ms_test_http("POST", url_for("/json"), NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.status, 400);
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_handler_without_answer_is_500_envelope)
{
    struct ms_test_response r;

    ck_assert_int_eq(ms_test_http("GET", url_for("/forgetful"), NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.status, 500);
    ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"internal\""));
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_percent_decoding_keeps_nul_escapes_literal)
{
    struct ms_test_response r;
    json_t *doc;

    ck_assert_int_eq(ms_test_http("GET", url_for("/echo/a%20b%41?q=x%2By"), NULL, NULL, 5000, &r),
                     0);
    doc = ms_test_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "word")), "a bA");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "q")), "x+y");
    json_decref(doc);
    ms_test_response_free(&r);
    /* a NUL would cut "1%00x" to "1": it must reach the handler whole, and fail validation */
    ck_assert_int_eq(ms_test_http("GET", url_for("/echo/1%00x?q=a%00b"), NULL, NULL, 5000, &r), 0);
    doc = ms_test_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "word")), "1%00x");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "q")), "a%00b");
    json_decref(doc);
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_query_only_refuses_unknown_and_repeated_parameters)
{
    static const char *const good[] = {"/strict", "/strict?a=1", "/strict?a=1&b=2"};
    /* a parameter without "=" is a 400 like an empty one, not an absent one */
    static const char *const bad[] = {"/strict?c=1", "/strict?a=1&a=2", "/strict?a=1&B=2",
                                      "/strict?b&b", "/strict?a",       "/strict?a&b=1"};
    struct ms_test_response r;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_int_eq(ms_test_http("GET", url_for(good[i]), NULL, NULL, 5000, &r), 0);
        ck_assert_msg(r.status == 200, "%s: %ld", good[i], r.status);
        ms_test_response_free(&r);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(ms_test_http("GET", url_for(bad[i]), NULL, NULL, 5000, &r), 0);
        ck_assert_msg(r.status == 400, "%s: %ld", bad[i], r.status);
        ck_assert_ptr_nonnull(strstr(r.body, "invalid_argument"));
        ms_test_response_free(&r);
    }
}
END_TEST

START_TEST(test_connections_are_kept_alive)
{
    CURL *c = curl_easy_init();
    long connects = -1;
    FILE *sink = fopen("/dev/null", "w");

    curl_easy_setopt(c, CURLOPT_URL, url_for("/health"));
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
    ck_assert_int_eq(connects, 0); /* the second request reused the first connection */
    curl_easy_cleanup(c);
    fclose(sink);
}
END_TEST

/* ---- hand-over: a second server on the same port takes over while the first drains ---- */

/* Clients 0..2 ask /whoami over kept-alive connections, clients 3 and 4 ask /slow (requests are
 * in flight while the first server drains), client 5 opens a new connection per request. */
enum { HANDOVER_SLOW_CLIENTS = 3, HANDOVER_FRESH_CLIENT = 5, HANDOVER_CLIENTS = 6 };

/* Phases of the hand-over, as the clients see them. */
enum { BEFORE_DRAIN, DRAINING, AFTER_DRAIN, HANDOVER_DONE, NPHASES = AFTER_DRAIN + 1 };

static atomic_int handover_phase;

struct handover_client {
    pthread_t thread;
    int port;
    const char *path;
    bool fresh_connections;   /* a new connection per request, else keep-alive */
    long answers[NPHASES][2]; /* per phase: answered by server "a", by server "b" */
    long failures;
    char first_failure[200];
};

/* Answers which server this is: req->svc is its name. */
static void whoami(struct ms_req *req, struct ms_res *res)
{
    ms_res_body_copy(res, 200, "text/plain", req->svc, strlen(req->svc));
}

/* The same after 200 ms, holding a worker thread. */
static void whoami_slowly(struct ms_req *req, struct ms_res *res)
{
    ms_sleep_ms(200);
    whoami(req, res);
}

static const struct ms_route whoami_routes[] = {{"GET", "/whoami", whoami, 0, 0},
                                                {"GET", "/slow", whoami_slowly, 0, 0}};

static size_t keep_first_byte(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    char *who = userdata;

    if (size * nmemb > 0 && !*who)
        *who = ptr[0];
    return size * nmemb;
}

static void handover_record(struct handover_client *c, int phase, CURLcode cc, long status,
                            char who)
{
    if (cc == CURLE_OK && status == 200 && (who == 'a' || who == 'b')) {
        c->answers[phase][who - 'a']++;
        return;
    }
    if (c->failures++ == 0)
        snprintf(c->first_failure, sizeof(c->first_failure), "phase %d: %s, HTTP %ld", phase,
                 curl_easy_strerror(cc), status);
}

/* Asks /whoami until the test is done, counting who answered in which phase and every failure. */
static void *handover_client_run(void *arg)
{
    struct handover_client *c = arg;
    CURL *h = curl_easy_init();
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", c->port, c->path);
    while (atomic_load(&handover_phase) != HANDOVER_DONE) {
        int phase = atomic_load(&handover_phase);
        char who = 0;
        long status = 0;
        CURLcode cc;

        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_first_byte);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &who);
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, c->fresh_connections ? 1L : 0L);
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, c->fresh_connections ? 1L : 0L);
        cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (phase != HANDOVER_DONE)
            handover_record(c, phase, cc, status, who);
        if (c->fresh_connections)
            ms_sleep_ms(1);
    }
    curl_easy_cleanup(h);
    return NULL;
}

/* A server called name on on_port (0: any free one). */
static struct ms_server *handover_server(const char *name, int on_port)
{
    struct ms_server_config cfg;
    struct ms_server *s;
    char port_text[16];

    snprintf(port_text, sizeof(port_text), "%d", on_port);
    setenv("PORT", port_text, 1);
    setenv("BIND_ADDRESS", "127.0.0.1", 1);
    setenv("THREADS", "4", 1);
    ck_assert_int_eq(ms_server_config_load(&cfg, "handover", 0), 0);
    s = ms_server_new(&cfg, (void *)name);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(ms_server_add_routes(s, whoami_routes, 2), 0);
    ck_assert_int_eq(ms_server_start(s), 0);
    return s;
}

/* Server a and server b share a port (SO_REUSEPORT) under steady load, over kept-alive and
 * fresh connections, with slow requests in flight; a drains as on SIGTERM. No request fails
 * (none is queued on a's socket after a gave the port up), a leaves soon, and from the end of
 * a's drain only b answers. */
START_TEST(test_a_second_server_on_the_port_takes_over_without_a_failed_request)
{
    struct handover_client clients[HANDOVER_CLIENTS] = {0};
    struct ms_server *a = handover_server("a", 0), *b;
    int64_t drain_start, drain_ms;
    long both[2] = {0, 0}, after_a = 0, after_b = 0;

    b = handover_server("b", ms_server_port(a));
    atomic_store(&handover_phase, BEFORE_DRAIN);
    for (int i = 0; i < HANDOVER_CLIENTS; i++) {
        clients[i].port = ms_server_port(a);
        clients[i].path =
            i >= HANDOVER_SLOW_CLIENTS && i < HANDOVER_FRESH_CLIENT ? "/slow" : "/whoami";
        clients[i].fresh_connections = i == HANDOVER_FRESH_CLIENT;
        ck_assert_int_eq(pthread_create(&clients[i].thread, NULL, handover_client_run, &clients[i]),
                         0);
    }
    ms_sleep_ms(500);
    atomic_store(&handover_phase, DRAINING);
    drain_start = ms_now_ms();
    ms_server_drain(a);
    drain_ms = ms_now_ms() - drain_start;
    atomic_store(&handover_phase, AFTER_DRAIN);
    ms_sleep_ms(300);
    atomic_store(&handover_phase, HANDOVER_DONE);
    for (int i = 0; i < HANDOVER_CLIENTS; i++) {
        pthread_join(clients[i].thread, NULL);
        ck_assert_msg(clients[i].failures == 0, "client %d: %ld failed requests, the first: %s", i,
                      clients[i].failures, clients[i].first_failure);
        both[0] += clients[i].answers[BEFORE_DRAIN][0];
        both[1] += clients[i].answers[BEFORE_DRAIN][1];
        after_a += clients[i].answers[AFTER_DRAIN][0];
        after_b += clients[i].answers[AFTER_DRAIN][1];
    }
    ck_assert_msg(both[0] > 0 && both[1] > 0, "before the drain a answered %ld, b %ld", both[0],
                  both[1]);
    ck_assert_msg(after_a == 0 && after_b > 0, "after the drain a answered %ld, b %ld", after_a,
                  after_b);
    ck_assert_msg(drain_ms < 3000, "a took %lld ms to drain", (long long)drain_ms);
    ms_server_free(a);
    ms_server_free(b);
}
END_TEST

static atomic_int joiner_ready_result; /* what the check of the joining server returns */

static int joiner_check(void *ctx)
{
    (void)ctx;
    return atomic_load(&joiner_ready_result);
}

/* Server b, started on on_port with a critical check failing (joiner_ready_result). */
static struct ms_server *joining_server(int on_port)
{
    struct ms_server_config cfg;
    struct ms_server *b;
    char port_text[16];

    atomic_store(&joiner_ready_result, MS_EUNAVAIL);
    snprintf(port_text, sizeof(port_text), "%d", on_port);
    setenv("PORT", port_text, 1);
    ck_assert_int_eq(ms_server_config_load(&cfg, "handover", 0), 0);
    b = ms_server_new(&cfg, (void *)"b");
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(ms_server_add_routes(b, whoami_routes, 2), 0);
    ck_assert_int_eq(ms_server_add_check(b, "dependency", joiner_check, NULL, true), 0);
    ck_assert_int_eq(ms_server_start(b), 0);
    return b;
}

/* Asks /whoami over n new connections; counts the answers of a and b. */
static void ask_fresh(int on_port, int n, long *a_answers, long *b_answers)
{
    char url[64];
    CURL *h = curl_easy_init();

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/whoami", on_port);
    for (int i = 0; i < n; i++) {
        char who = 0;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_first_byte);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &who);
        ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
        *a_answers += who == 'a';
        *b_answers += who == 'b';
    }
    curl_easy_cleanup(h);
}

/* A server started on a port that another one serves listens only once it is ready: until then
 * every connection goes to the first; then the kernel shares them. */
START_TEST(test_a_server_joins_a_served_port_only_once_ready)
{
    struct ms_server *a = handover_server("a", 0), *b = joining_server(ms_server_port(a));
    long a_answers = 0, b_answers = 0;
    int64_t deadline;

    ck_assert_int_eq(ms_server_port(b), ms_server_port(a));
    ms_sleep_ms(200);
    ask_fresh(ms_server_port(a), 40, &a_answers, &b_answers);
    ck_assert_msg(a_answers == 40 && b_answers == 0, "b unready: a answered %ld, b %ld", a_answers,
                  b_answers);
    atomic_store(&joiner_ready_result, 0);
    deadline = ms_now_ms() + 3000;
    while (b_answers == 0 && ms_now_ms() < deadline)
        ask_fresh(ms_server_port(a), 10, &a_answers, &b_answers);
    ck_assert_msg(b_answers > 0, "b ready: it never answered");
    ms_server_free(a);
    ms_server_free(b);
}
END_TEST

/* A server waiting to join its port can still be stopped. */
START_TEST(test_a_server_waiting_to_join_stops_cleanly)
{
    struct ms_server *a = handover_server("a", 0), *b = joining_server(ms_server_port(a));

    ms_sleep_ms(50);
    ck_assert_int_eq(ms_server_drain(b), 0);
    ms_server_free(b);
    ms_server_free(a);
}
END_TEST

/* A port held by a socket that does not share (no SO_REUSEPORT) is not joined: the start fails
 * at once, as it always did. */
START_TEST(test_a_port_held_by_a_socket_that_does_not_share_fails_the_start)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    struct ms_server_config cfg;
    struct ms_server *b;
    char port_text[16];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    snprintf(port_text, sizeof(port_text), "%d", ntohs(addr.sin_port));
    setenv("PORT", port_text, 1);
    ck_assert_int_eq(ms_server_config_load(&cfg, "handover", 0), 0);
    b = ms_server_new(&cfg, (void *)"b");
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(ms_server_start(b), MS_EUNAVAIL);
    ms_server_free(b);
    close(fd);
}
END_TEST

static Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("in-process"), *handover;

    tcase_add_unchecked_fixture(tc, server_up, server_down);
    tcase_add_test(tc, test_trace_headers_reach_outgoing_calls);
    tcase_add_test(tc, test_request_budget_is_the_default_or_the_callers);
    tcase_add_test(tc, test_request_budget_is_passed_down_a_chain);
    tcase_add_test(tc, test_generated_request_id_is_forwarded_too);
    tcase_add_test(tc, test_trace_is_not_leaked_to_calls_outside_requests);
    tcase_add_test(tc, test_chunked_body_over_route_limit_is_413);
    tcase_add_test(tc, test_json_body_is_parsed_before_the_handler);
    tcase_add_test(tc, test_malformed_or_empty_json_is_400_naming_the_problem);
    tcase_add_test(tc, test_handler_without_answer_is_500_envelope);
    tcase_add_test(tc, test_percent_decoding_keeps_nul_escapes_literal);
    tcase_add_test(tc, test_query_only_refuses_unknown_and_repeated_parameters);
    tcase_add_test(tc, test_connections_are_kept_alive);
    suite_add_tcase(s, tc);
    handover = tcase_create("hand-over");
    tcase_set_timeout(handover, 30);
    tcase_add_test(handover, test_a_second_server_on_the_port_takes_over_without_a_failed_request);
    tcase_add_test(handover, test_a_server_joins_a_served_port_only_once_ready);
    tcase_add_test(handover, test_a_server_waiting_to_join_stops_cleanly);
    tcase_add_test(handover, test_a_port_held_by_a_socket_that_does_not_share_fails_the_start);
    suite_add_tcase(s, handover);
    return s;
}

int main(void)
{
    /* the server's threads live in this process; a forked test would not have them */
    return ms_test_main(server_suite(), false);
}
