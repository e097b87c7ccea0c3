/* The common server in-process, over real HTTP: trace context flowing from an incoming
 * request to the calls made while serving it, body limits without Content-Length, JSON bodies,
 * keep-alive, and the 500 for a handler that gives no answer. */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
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

/* Calls /echo-trace on this same server through the resilient client and relays its body. */
static void relay(struct ms_req *req, struct ms_res *res)
{
    struct ms_http_response up = {0};
    int rc = ms_http_request(self_upstream, "GET", "/echo-trace", NULL, 0, NULL, true, &up);

    (void)req;
    if (rc) {
        ms_res_error(res, rc, "calling self");
        return;
    }
    ms_res_body_copy(res, (int)up.status, MS_CONTENT_TYPE_JSON, up.body, up.body_len);
    ms_http_response_free(&up);
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

static void forgetful(struct ms_req *req, struct ms_res *res)
{
    (void)req;
    (void)res;
}

static const struct ms_route routes[] = {
    {"GET", "/echo-trace", echo_trace, 0, 0},         {"GET", "/relay", relay, 0, 0},
    {"POST", "/json", echo_json, 100, MS_ROUTE_JSON}, {"GET", "/forgetful", forgetful, 0, 0},
    {"GET", "/echo/{word}", echo_word, 0, 0},         {"GET", "/strict", strict_query, 0, 0},
};

static void server_up(void)
{
    struct ms_server_config cfg;
    char base[64];

    setenv("PORT", "0", 1);
    setenv("BIND_ADDRESS", "127.0.0.1", 1);
    setenv("THREADS", "4", 1);
    ck_assert_int_eq(ms_server_config_load(&cfg, "testsvc", 0), 0);
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
    static const char *const bad[] = {"/strict?c=1", "/strict?a=1&a=2", "/strict?a=1&B=2",
                                      "/strict?b"
                                      "&b"};
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

static Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("in-process");

    tcase_add_unchecked_fixture(tc, server_up, server_down);
    tcase_add_test(tc, test_trace_headers_reach_outgoing_calls);
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
    return s;
}

int main(void)
{
    /* the server's threads live in this process; a forked test would not have them */
    return ms_test_main(server_suite(), false);
}
