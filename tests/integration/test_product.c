/* The product service over real HTTP, against real PostgreSQL and Redis: the API, errors,
 * request ids, metrics, the canary version, fault injection, dependency failures and graceful
 * shutdown. */
#include <check.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deps.h"
#include "faultproxy.h"
#include "http.h"
#include "ms/clock.h"
#include "proc.h"
#include "runner.h"

static struct ms_test_pg pg;
static struct ms_test_redis redis;
static struct ms_test_service product; /* v1, admin on, cache on: shared by the API tests */
static char db_env[256], redis_env[256];

static void stack_up(void)
{
    char *db, *rd;

    ck_assert_int_eq(ms_test_pg_start(&pg), 0);
    ck_assert_int_eq(ms_test_pg_createdb(&pg, "product"), 0);
    ck_assert_int_eq(ms_test_redis_start(&redis), 0);
    db = ms_test_pg_url(&pg, "product");
    rd = ms_test_redis_url(&redis);
    snprintf(db_env, sizeof(db_env), "DATABASE_URL=%s", db);
    snprintf(redis_env, sizeof(redis_env), "REDIS_URL=%s", rd);
    free(db);
    free(rd);
    ck_assert_int_eq(
        ms_test_service_start(&product, "product",
                              (const char *const[]){db_env, redis_env, "ADMIN_ENABLED=true", NULL}),
        0);
    ck_assert_int_ge(ms_test_wait_status(product.port, "/ready", 200, 15000), 0);
}

static void stack_down(void)
{
    ms_test_service_stop(&product, SIGTERM, 5000);
    ms_test_redis_stop(&redis);
    ms_test_pg_stop(&pg);
}

/* Starts another product instance on the suite's databases with extra settings. */
static void start_instance(struct ms_test_service *svc, const char *a, const char *b, const char *c)
{
    const char *env[] = {db_env, redis_env, a, b, c, NULL};

    ck_assert_int_eq(ms_test_service_start(svc, "product", env), 0);
    ck_assert_int_ge(ms_test_wait_status(svc->port, "/ready", 200, 15000), 0);
}

/* Sends one request to the shared instance (body and headers may be NULL) with a 5 s limit;
 * ms_test_http's result. */
static int product_http(const char *method, const char *path, const char *body,
                        const char *const *headers, struct ms_test_response *out)
{
    char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", product.port, path);
    return ms_test_http(method, url, body, headers, 5000, out);
}

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

static void assert_error_code(json_t *doc, const char *code)
{
    const char *got = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));

    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, code);
    ck_assert_ptr_nonnull(
        json_string_value(json_object_get(json_object_get(doc, "error"), "message")));
}

/* ---- the API ---- */

START_TEST(test_product_list_default_page_is_20_in_id_order)
{
    json_t *doc = get_json(product.port, "/products", 200);
    json_t *items = json_object_get(doc, "items");

    ck_assert_int_eq(json_integer_value(json_object_get(doc, "total")), 27);
    ck_assert_int_eq(json_array_size(items), 20);
    for (size_t i = 0; i < json_array_size(items); i++)
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, i), "id")),
                         (json_int_t)i + 1);
    json_decref(doc);
}
END_TEST

START_TEST(test_product_list_filters_by_category)
{
    json_t *doc = get_json(product.port, "/products?category=books", 200);
    json_t *items = json_object_get(doc, "items");

    ck_assert_int_eq(json_integer_value(json_object_get(doc, "total")), 5);
    ck_assert_int_eq(json_array_size(items), 5);
    for (size_t i = 0; i < json_array_size(items); i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, i), "category")),
                         "books");
    json_decref(doc);
}
END_TEST

START_TEST(test_product_list_caps_limit_at_100_and_pages_with_offset)
{
    json_t *all = get_json(product.port, "/products?limit=500", 200);
    json_t *last = get_json(product.port, "/products?limit=2&offset=26", 200);
    json_t *past = get_json(product.port, "/products?offset=1000", 200);

    ck_assert_int_eq(json_array_size(json_object_get(all, "items")), 27);
    ck_assert_int_eq(json_array_size(json_object_get(last, "items")), 1);
    ck_assert_int_eq(json_integer_value(
                         json_object_get(json_array_get(json_object_get(last, "items"), 0), "id")),
                     27);
    ck_assert_int_eq(json_array_size(json_object_get(past, "items")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(past, "total")), 27);
    json_decref(all);
    json_decref(last);
    json_decref(past);
}
END_TEST

START_TEST(test_product_list_bad_query_values_get_400)
{
    static const char *const bad[] = {
        "/products?limit=0",
        "/products?limit=-1",
        "/products?limit=abc",
        "/products?offset=-5",
        "/products?limit=1.5",
        "/products?offset=99999999999",
        "/products?limit=%2010",
        "/products?category=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *doc = get_json(product.port, bad[i], 400);
        assert_error_code(doc, "invalid_argument");
        json_decref(doc);
    }
}
END_TEST

START_TEST(test_product_unknown_category_is_an_empty_page)
{
    json_t *doc =
        get_json(product.port, "/products?category=%27%3B%20DROP%20TABLE%20products%3B--", 200);

    ck_assert_int_eq(json_integer_value(json_object_get(doc, "total")), 0);
    json_decref(doc);
    doc = get_json(product.port, "/products", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "total")), 27);
    json_decref(doc);
}
END_TEST

START_TEST(test_product_list_by_ids_returns_those_in_id_order)
{
    json_t *doc = get_json(product.port, "/products?ids=9,2,424242,5&limit=100", 200);
    json_t *items = json_object_get(doc, "items");

    ck_assert_int_eq(json_integer_value(json_object_get(doc, "total")), 3);
    ck_assert_int_eq(json_array_size(items), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 0), "id")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 1), "id")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 2), "id")), 9);
    json_decref(doc);
}
END_TEST

START_TEST(test_product_list_bad_ids_get_400)
{
    static const char *const bad[] = {
        "/products?ids=",    "/products?ids=1,,2", "/products?ids=0",
        "/products?ids=1,x", "/products?ids=-1",   "/products?ids=1;DROP%20TABLE%20products"};
    char many[700] = "/products?ids=1";

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *doc = get_json(product.port, bad[i], 400);
        assert_error_code(doc, "invalid_argument");
        json_decref(doc);
    }
    for (int i = 2; i <= 101; i++) /* one id over the limit of 100 */
        snprintf(many + strlen(many), sizeof(many) - strlen(many), ",%d", i);
    json_decref(get_json(product.port, many, 400));
}
END_TEST

START_TEST(test_product_get_returns_every_field)
{
    json_t *doc = get_json(product.port, "/products/1", 200);

    ck_assert_int_eq(json_integer_value(json_object_get(doc, "id")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "name")), "Cast Iron Skillet");
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "price_cents")), 3499);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "currency")), "USD");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "category")), "kitchen");
    ck_assert_ptr_nonnull(json_string_value(json_object_get(doc, "description")));
    ck_assert_ptr_nonnull(json_string_value(json_object_get(doc, "image_url")));
    ck_assert_ptr_null(json_object_get(doc, "badge"));
    json_decref(doc);
}
END_TEST

START_TEST(test_product_get_unknown_id_is_404_envelope)
{
    json_t *doc = get_json(product.port, "/products/9999", 404);

    assert_error_code(doc, "not_found");
    json_decref(doc);
    doc = get_json(product.port, "/products/99999999999", 404);
    assert_error_code(doc, "not_found");
    json_decref(doc);
}
END_TEST

START_TEST(test_product_get_malformed_id_is_400)
{
    static const char *const bad[] = {"/products/abc",  "/products/0",  "/products/-3",
                                      "/products/1.5",  "/products/1x", "/products/%2B1",
                                      "/products/1%00x"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *doc = get_json(product.port, bad[i], 400);
        assert_error_code(doc, "invalid_argument");
        json_decref(doc);
    }
}
END_TEST

START_TEST(test_wrong_method_is_405_with_allow)
{
    struct ms_test_response r;
    char *allow;

    ck_assert_int_eq(product_http("DELETE", "/products/1", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 405);
    allow = ms_test_header(&r, "Allow");
    ck_assert_ptr_nonnull(allow);
    ck_assert_str_eq(allow, "GET, HEAD");
    ck_assert_ptr_nonnull(strstr(r.body, "\"method_not_allowed\""));
    free(allow);
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_unknown_path_is_404)
{
    json_t *doc = get_json(product.port, "/nope/nothing", 404);

    assert_error_code(doc, "not_found");
    json_decref(doc);
}
END_TEST

START_TEST(test_body_over_limit_is_413_and_changes_nothing)
{
    size_t n = 70 * 1024;
    char *big = malloc(n + 1);
    struct ms_test_response r;
    json_t *doc;

    memset(big, ' ', n);
    memcpy(big, "{\"delay_ms\":5000,", 17);
    big[n - 1] = '}';
    big[n] = '\0';
    ck_assert_int_eq(product_http("PUT", "/admin/faults", big, NULL, &r), 0);
    ck_assert_int_eq(r.status, 413);
    ck_assert_ptr_nonnull(strstr(r.body, "\"payload_too_large\""));
    ms_test_response_free(&r);
    free(big);
    doc = get_json(product.port, "/admin/faults", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "delay_ms")), 0);
    json_decref(doc);
}
END_TEST

START_TEST(test_request_id_is_echoed_in_header_and_envelope)
{
    struct ms_test_response r;
    char *id;

    ck_assert_int_eq(product_http("GET", "/products/4242", NULL,
                                  (const char *const[]){"x-request-id: lab-req-42", NULL}, &r),
                     0);
    id = ms_test_header(&r, "x-request-id");
    ck_assert_ptr_nonnull(id);
    ck_assert_str_eq(id, "lab-req-42");
    ck_assert_ptr_nonnull(strstr(r.body, "\"request_id\":\"lab-req-42\""));
    free(id);
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_request_id_is_generated_when_absent_or_unsafe)
{
    struct ms_test_response a, b;
    char *ida, *idb;
    regex_t uuid;

    ck_assert_int_eq(
        regcomp(&uuid, "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                REG_EXTENDED | REG_NOSUB),
        0);
    ck_assert_int_eq(ms_test_get(product.port, "/health", &a), 0);
    ck_assert_int_eq(product_http("GET", "/health", NULL,
                                  (const char *const[]){"x-request-id: <script>", NULL}, &b),
                     0);
    ida = ms_test_header(&a, "x-request-id");
    idb = ms_test_header(&b, "x-request-id");
    ck_assert_int_eq(regexec(&uuid, ida, 0, NULL, 0), 0);
    ck_assert_int_eq(regexec(&uuid, idb, 0, NULL, 0), 0);
    ck_assert_str_ne(ida, idb);
    regfree(&uuid);
    free(ida);
    free(idb);
    ms_test_response_free(&a);
    ms_test_response_free(&b);
}
END_TEST

START_TEST(test_head_answers_without_body)
{
    struct ms_test_response r;

    ck_assert_int_eq(product_http("HEAD", "/products/2", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.body_len, 0);
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_metrics_count_requests_by_route_pattern)
{
    const char *series = "http_requests_total{service=\"product\",method=\"GET\","
                         "route=\"/products/{id}\",code=\"200\"}";
    double before = ms_test_metric(product.port, series);
    struct ms_test_response r;

    for (int i = 0; i < 5; i++) {
        json_decref(get_json(product.port, "/products/3", 200));
    }
    ck_assert_double_eq(ms_test_metric(product.port, series), (before < 0 ? 0 : before) + 5);
    ck_assert_int_eq(ms_test_get(product.port, "/metrics", &r), 0);
    ck_assert_ptr_null(strstr(r.body, "route=\"/products/3\""));
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE http_request_duration_seconds histogram"));
    ck_assert_ptr_nonnull(strstr(r.body, "http_request_duration_seconds_bucket{service=\"product\","
                                         "method=\"GET\",route=\"/products/{id}\",le=\"+Inf\"}"));
    ck_assert_ptr_nonnull(strstr(r.body, "http_requests_in_flight{service=\"product\"}"));
    ck_assert_ptr_nonnull(strstr(r.body, "process_resident_memory_bytes "));
    ck_assert_ptr_nonnull(strstr(r.body, "process_open_fds "));
    ck_assert_ptr_nonnull(strstr(r.body, "cache_requests_total{cache=\"product\",result=\"hit\"}"));
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_access_log_carries_request_and_trace_ids)
{
    const char *trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    char header[128], want[128];
    struct ms_test_response r;

    snprintf(header, sizeof(header), "traceparent: 00-%s-00f067aa0ba902b7-01", trace);
    ck_assert_int_eq(product_http("GET", "/products/5", NULL,
                                  (const char *const[]){header, "x-request-id: trace-log-1", NULL},
                                  &r),
                     0);
    ms_test_response_free(&r);
    snprintf(want, sizeof(want), "\"trace_id\":\"%s\"", trace);
    ck_assert_msg(ms_test_log_has(product.log_path,
                                  (const char *const[]){"\"request_id\":\"trace-log-1\"", want,
                                                        "\"route\":\"/products/{id}\"",
                                                        "\"status\":200", NULL},
                                  3000),
                  "no access line with request and trace id in %s", product.log_path);
}
END_TEST

/* ---- the canary ---- */

START_TEST(test_v2_marks_products_sale_and_says_its_version)
{
    struct ms_test_service v2 = {0};
    struct ms_test_response r;
    json_t *doc;
    char *version;

    start_instance(&v2, "SERVICE_VERSION=v2", NULL, NULL);
    ck_assert_int_eq(ms_test_get(v2.port, "/products/1", &r), 0);
    version = ms_test_header(&r, "x-service-version");
    ck_assert_str_eq(version, "v2");
    doc = ms_test_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "badge")), "SALE");
    json_decref(doc);
    free(version);
    ms_test_response_free(&r);
    doc = get_json(v2.port, "/products?limit=3", 200);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(doc, "items"), 2), "badge")),
                     "SALE");
    json_decref(doc);
    /* v1 shares the cache and must not pick up v2's entries */
    ck_assert_int_eq(ms_test_get(product.port, "/products/1", &r), 0);
    version = ms_test_header(&r, "x-service-version");
    ck_assert_str_eq(version, "v1");
    ck_assert_ptr_null(strstr(r.body, "SALE"));
    free(version);
    ms_test_response_free(&r);
    ck_assert_int_eq(ms_test_service_stop(&v2, SIGTERM, 5000), 0);
}
END_TEST

/* ---- fault injection ---- */

START_TEST(test_runtime_delay_fault_slows_data_but_not_probes)
{
    struct ms_test_response r;

    ck_assert_int_eq(
        product_http("PUT", "/admin/faults", "{\"delay_ms\":400,\"delay_percent\":100}", NULL, &r),
        0);
    ck_assert_int_eq(r.status, 200);
    ms_test_response_free(&r);
    ck_assert_int_eq(ms_test_get(product.port, "/products/6", &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_double_ge(r.seconds, 0.39);
    ms_test_response_free(&r);
    ck_assert_int_eq(ms_test_get(product.port, "/health", &r), 0);
    ck_assert_double_lt(r.seconds, 0.3);
    ms_test_response_free(&r);
    ck_assert_int_eq(product_http("DELETE", "/admin/faults", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ms_test_response_free(&r);
    ck_assert_int_eq(ms_test_get(product.port, "/products/6", &r), 0);
    ck_assert_double_lt(r.seconds, 0.3);
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_admin_faults_rejects_bad_settings_and_keeps_old_ones)
{
    struct ms_test_response r;
    json_t *doc;
    static const char *const bad[] = {"{\"abort_status\":200}",
                                      "{\"delay_percent\":101}",
                                      "{\"delay_ms\":\"1\"}",
                                      "{\"bogus\":1}",
                                      "[1]",
                                      "{"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(product_http("PUT", "/admin/faults", bad[i], NULL, &r), 0);
        ck_assert_msg(r.status == 400, "%s: status %ld", bad[i], r.status);
        ms_test_response_free(&r);
    }
    doc = get_json(product.port, "/admin/faults", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "abort_status")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "delay_percent")), 0);
    json_decref(doc);
}
END_TEST

START_TEST(test_abort_fault_from_env_answers_status_but_probes_stay_up)
{
    struct ms_test_service faulty = {0};
    json_t *doc;

    start_instance(&faulty, "FAULT_ABORT_STATUS=503", "FAULT_ABORT_PERCENT=100", NULL);
    doc = get_json(faulty.port, "/products/1", 503);
    assert_error_code(doc, "fault_injected");
    json_decref(doc);
    ck_assert_int_ge(
        ms_test_metric(faulty.port, "faults_injected_total{service=\"product\",type=\"abort\"}"),
        1);
    ck_assert_int_eq(ms_test_service_stop(&faulty, SIGTERM, 5000), 0);
}
END_TEST

START_TEST(test_admin_endpoint_is_off_unless_enabled)
{
    struct ms_test_service plain = {0};
    json_t *doc;

    start_instance(&plain, "ADMIN_ENABLED=false", NULL, NULL);
    doc = get_json(plain.port, "/admin/faults", 404);
    json_decref(doc);
    ck_assert_int_eq(ms_test_service_stop(&plain, SIGTERM, 5000), 0);
}
END_TEST

/* ---- dependency failures ---- */

START_TEST(test_redis_down_products_still_served_from_postgres)
{
    const char *errors = "cache_requests_total{cache=\"product\",result=\"error\"}";
    double errors_before = ms_test_metric(product.port, errors);
    json_t *doc;

    ck_assert_int_eq(ms_test_redis_crash(&redis), 0);
    doc = get_json(product.port, "/products/12", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "id")), 12);
    json_decref(doc);
    doc = get_json(product.port, "/products?offset=7&limit=3", 200);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "items")), 3);
    json_decref(doc);
    ck_assert_double_gt(ms_test_metric(product.port, errors), errors_before);
    /* the cache is not critical: still ready, but the report names it down */
    ms_sleep_ms(1100);
    doc = get_json(product.port, "/ready", 200);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(doc, "checks"), "redis"), "status")),
                     "down");
    json_decref(doc);
    ck_assert_int_eq(ms_test_redis_restart(&redis), 0);
}
END_TEST

START_TEST(test_redis_back_cache_used_again)
{
    const char *hits = "cache_requests_total{cache=\"product\",result=\"hit\"}";
    double before;
    int64_t deadline = ms_now_ms() + 5000;

    json_decref(get_json(product.port, "/products/13", 200));
    before = ms_test_metric(product.port, hits);
    while (ms_now_ms() < deadline && ms_test_metric(product.port, hits) <= before) {
        json_decref(get_json(product.port, "/products/13", 200));
        ms_sleep_ms(100);
    }
    ck_assert_double_gt(ms_test_metric(product.port, hits), before);
}
END_TEST

/* How long a GET of path on port took, in ms (status 200 checked). */
static int64_t timed_get(int port, const char *path)
{
    int64_t start = ms_now_ms();

    json_decref(get_json(port, path, 200));
    return ms_now_ms() - start;
}

/* A cache slower than the database is skipped: with 200 ms added to every Redis answer, a few
 * slow reads open the cache's breaker, pages come from PostgreSQL at its speed meanwhile
 * (counted as skipped), and once Redis is fast again one read tries it and the hits come back. */
START_TEST(test_slow_cache_is_skipped_then_used_again)
{
    const char *skipped = "cache_requests_total{cache=\"product\",result=\"skipped\"}";
    const char *hits = "cache_requests_total{cache=\"product\",result=\"hit\"}";
    struct ms_test_service slow = {0};
    struct ms_test_proxy px;
    char env[160];
    int64_t took = 0, deadline;
    double before;

    ck_assert_int_eq(ms_test_proxy_start(&px, "product-redis", redis.port, NULL), 0);
    snprintf(env, sizeof(env), "REDIS_URL=redis://127.0.0.1:%d/0", px.port);
    {
        const char *const vars[] = {db_env, env, NULL};
        ck_assert_int_eq(ms_test_service_start(&slow, "product", vars), 0);
    }
    ck_assert_int_ge(ms_test_wait_status(slow.port, "/ready", 200, 15000), 0);
    json_decref(get_json(slow.port, "/products/15", 200)); /* fills the cache */
    ck_assert_int_eq(ms_test_proxy_faults(&px, "{\"down_latency_ms\":200}"), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_ge(timed_get(slow.port, "/products/15"), 180); /* the slow reads */
    for (int i = 0; i < 5; i++)
        took += timed_get(slow.port, "/products/15");
    ck_assert_msg(took < 5 * 100, "5 pages took %lld ms with the cache skipped", (long long)took);
    ck_assert_double_ge(ms_test_metric(slow.port, skipped), 5);
    ck_assert_int_eq(ms_test_proxy_clean(&px), 0);
    before = ms_test_metric(slow.port, hits);
    deadline = ms_now_ms() + 5000;
    while (ms_now_ms() < deadline && ms_test_metric(slow.port, hits) <= before) {
        json_decref(get_json(slow.port, "/products/15", 200));
        ms_sleep_ms(100);
    }
    ck_assert_double_gt(ms_test_metric(slow.port, hits), before);
    ck_assert_int_eq(ms_test_service_stop(&slow, SIGTERM, 5000), 0);
    ck_assert_int_eq(ms_test_proxy_stop(&px), 0);
}
END_TEST

START_TEST(test_postgres_down_503_fast_then_recovers_by_itself)
{
    struct ms_test_service nocache = {0};
    struct ms_test_response r;
    char *retry;
    json_t *doc;

    start_instance(&nocache, "CACHE_TTL_S=0", NULL, NULL);
    ck_assert_int_eq(ms_test_pg_shutdown(&pg), 0);
    ck_assert_int_eq(ms_test_get(nocache.port, "/products/8", &r), 0);
    ck_assert_int_eq(r.status, 503);
    ck_assert_double_lt(r.seconds, 1.5);
    retry = ms_test_header(&r, "Retry-After");
    ck_assert_ptr_nonnull(retry);
    doc = ms_test_json(&r);
    assert_error_code(doc, "unavailable");
    json_decref(doc);
    free(retry);
    ms_test_response_free(&r);
    ck_assert_int_ge(ms_test_wait_status(nocache.port, "/ready", 503, 3000), 0);
    ck_assert_int_eq(ms_test_pg_restart(&pg), 0);
    ck_assert_int_ge(ms_test_wait_status(nocache.port, "/products/8", 200, 10000), 0);
    ck_assert_int_ge(ms_test_wait_status(nocache.port, "/ready", 200, 5000), 0);
    ck_assert_int_eq(ms_test_service_stop(&nocache, SIGTERM, 5000), 0);
}
END_TEST

START_TEST(test_starts_while_postgres_is_down_and_becomes_ready)
{
    struct ms_test_service early = {0};

    ck_assert_int_eq(ms_test_pg_shutdown(&pg), 0);
    ck_assert_int_eq(
        ms_test_service_start(&early, "product", (const char *const[]){db_env, redis_env, NULL}),
        0);
    ck_assert_int_ge(ms_test_wait_status(early.port, "/ready", 503, 3000), 0);
    ck_assert_int_eq(ms_test_pg_restart(&pg), 0);
    ck_assert_int_ge(ms_test_wait_status(early.port, "/ready", 200, 10000), 0);
    ck_assert_int_eq(ms_test_service_stop(&early, SIGTERM, 5000), 0);
}
END_TEST

/* ---- shutdown and configuration ---- */

struct call {
    int port;
    const char *path;
    long status;
};

static void *call_thread(void *arg)
{
    struct call *c = arg;
    struct ms_test_response r;

    ms_test_get(c->port, c->path, &r);
    c->status = r.status;
    ms_test_response_free(&r);
    return NULL;
}

START_TEST(test_sigterm_finishes_in_flight_requests_and_exits_0)
{
    struct ms_test_service svc = {0};
    struct call call;
    pthread_t t;

    start_instance(&svc, "FAULT_DELAY_MS=3000", "FAULT_DELAY_PERCENT=100", "SHUTDOWN_DELAY_MS=600");
    call = (struct call){.port = svc.port, .path = "/products/9"};
    pthread_create(&t, NULL, call_thread, &call);
    ms_sleep_ms(200);
    kill(svc.pid, SIGTERM);
    ms_sleep_ms(100);
    /* during the shutdown delay: not ready, still alive, still serving */
    ck_assert_int_ge(ms_test_wait_status(svc.port, "/ready", 503, 400), 0);
    ck_assert_int_ge(ms_test_wait_status(svc.port, "/health", 200, 200), 0);
    pthread_join(t, NULL);
    ck_assert_int_eq(call.status, 200);
    ck_assert_int_eq(ms_test_service_stop(&svc, 0, 5000), 0);
}
END_TEST

START_TEST(test_invalid_config_exits_2_naming_the_variable)
{
    char text[512];

    ck_assert_int_eq(ms_test_config_error("product", (const char *const[]){"THREADS=lots", NULL},
                                          text, sizeof(text)),
                     2);
    ck_assert_ptr_nonnull(strstr(text, "THREADS"));
    ck_assert_ptr_nonnull(strstr(text, "lots"));
}
END_TEST

static Suite *product_suite(void)
{
    Suite *s = suite_create("product");
    TCase *api = tcase_create("api");
    TCase *ops = tcase_create("operations");

    tcase_add_unchecked_fixture(api, stack_up, stack_down);
    tcase_set_timeout(api, 60);
    tcase_add_test(api, test_product_list_default_page_is_20_in_id_order);
    tcase_add_test(api, test_product_list_filters_by_category);
    tcase_add_test(api, test_product_list_caps_limit_at_100_and_pages_with_offset);
    tcase_add_test(api, test_product_list_bad_query_values_get_400);
    tcase_add_test(api, test_product_unknown_category_is_an_empty_page);
    tcase_add_test(api, test_product_list_by_ids_returns_those_in_id_order);
    tcase_add_test(api, test_product_list_bad_ids_get_400);
    tcase_add_test(api, test_product_get_returns_every_field);
    tcase_add_test(api, test_product_get_unknown_id_is_404_envelope);
    tcase_add_test(api, test_product_get_malformed_id_is_400);
    tcase_add_test(api, test_wrong_method_is_405_with_allow);
    tcase_add_test(api, test_unknown_path_is_404);
    tcase_add_test(api, test_body_over_limit_is_413_and_changes_nothing);
    tcase_add_test(api, test_request_id_is_echoed_in_header_and_envelope);
    tcase_add_test(api, test_request_id_is_generated_when_absent_or_unsafe);
    tcase_add_test(api, test_head_answers_without_body);
    tcase_add_test(api, test_metrics_count_requests_by_route_pattern);
    tcase_add_test(api, test_access_log_carries_request_and_trace_ids);
    tcase_add_test(api, test_v2_marks_products_sale_and_says_its_version);
    tcase_add_test(api, test_runtime_delay_fault_slows_data_but_not_probes);
    tcase_add_test(api, test_admin_faults_rejects_bad_settings_and_keeps_old_ones);
    tcase_add_test(api, test_abort_fault_from_env_answers_status_but_probes_stay_up);
    tcase_add_test(api, test_admin_endpoint_is_off_unless_enabled);
    tcase_add_test(api, test_redis_down_products_still_served_from_postgres);
    tcase_add_test(api, test_redis_back_cache_used_again);
    tcase_add_test(api, test_slow_cache_is_skipped_then_used_again);
    tcase_add_test(api, test_postgres_down_503_fast_then_recovers_by_itself);
    tcase_add_test(api, test_starts_while_postgres_is_down_and_becomes_ready);
    tcase_add_test(api, test_sigterm_finishes_in_flight_requests_and_exits_0);
    tcase_set_timeout(ops, 30);
    tcase_add_test(ops, test_invalid_config_exits_2_naming_the_variable);
    suite_add_tcase(s, api);
    suite_add_tcase(s, ops);
    return s;
}

int main(void)
{
    return ms_test_main(product_suite(), true);
}
