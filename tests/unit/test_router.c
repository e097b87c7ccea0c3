/* The router: matching, parameters, 404 and 405 with its Allow list, literal preference, HEAD,
 * and the patterns and tables it refuses. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms/err.h"
#include "ms/router.h"
#include "runner.h"

static struct ms_router *r;
static char path[1024]; /* the private, writable copy ms_router_match splits */
static struct ms_match m;

static void handler_a(struct ms_req *req, struct ms_res *res)
{
    (void)req;
    (void)res;
}

static void handler_b(struct ms_req *req, struct ms_res *res)
{
    (void)req;
    (void)res;
}

static void setup(void)
{
    r = ms_router_new();
    ck_assert_ptr_nonnull(r);
}

static void teardown(void)
{
    ms_router_free(r);
    r = NULL;
}

/* Adds method + pattern with handler_a; the router's return code. */
static int add(const char *method, const char *pattern)
{
    struct ms_route route = {.method = method, .pattern = pattern, .handler = handler_a};

    return ms_router_add(r, &route);
}

/* Adds a route that must be accepted. */
static void add_ok(const char *method, const char *pattern)
{
    ck_assert_int_eq(add(method, pattern), 0);
}

/* Matches method and a copy of p into the file's m. */
static enum ms_match_result match(const char *method, const char *p)
{
    ck_assert_uint_lt(strlen(p), sizeof(path));
    strcpy(path, p);
    return ms_router_match(r, method, path, &m);
}

/* A pattern or path of n segments, each text (e.g. "/s/s/s"), in buf. */
static const char *segments(char *buf, size_t cap, int n, const char *text)
{
    size_t len = 0;

    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        int w = snprintf(buf + len, cap - len, "/%s", text);
        ck_assert(w > 0 && (size_t)w < cap - len);
        len += (size_t)w;
    }
    return buf;
}

START_TEST(test_router_matches_literal_path)
{
    add_ok("GET", "/health");
    ck_assert_int_eq(match("GET", "/health"), MS_MATCH_OK);
    ck_assert_str_eq(m.route->pattern, "/health");
    ck_assert_uint_eq(m.nparams, 0);
}
END_TEST

START_TEST(test_router_root_pattern_matches_slash)
{
    add_ok("GET", "/");
    ck_assert_int_eq(match("GET", "/"), MS_MATCH_OK);
    ck_assert_str_eq(m.route->pattern, "/");
}
END_TEST

START_TEST(test_router_literal_segment_must_match_exactly)
{
    add_ok("GET", "/products");
    ck_assert_int_eq(match("GET", "/product"), MS_MATCH_NOT_FOUND);
    ck_assert_int_eq(match("GET", "/productsX"), MS_MATCH_NOT_FOUND);
    ck_assert_int_eq(match("GET", "/Products"), MS_MATCH_NOT_FOUND);
}
END_TEST

START_TEST(test_router_binds_parameter_value)
{
    add_ok("GET", "/products/{id}");
    ck_assert_int_eq(match("GET", "/products/42"), MS_MATCH_OK);
    ck_assert_uint_eq(m.nparams, 1);
    ck_assert_str_eq(ms_match_param(&m, "id"), "42");
}
END_TEST

START_TEST(test_router_binds_several_parameters)
{
    add_ok("DELETE", "/cart/{userId}/items/{itemId}");
    ck_assert_int_eq(match("DELETE", "/cart/u7/items/i9"), MS_MATCH_OK);
    ck_assert_uint_eq(m.nparams, 2);
    ck_assert_str_eq(ms_match_param(&m, "userId"), "u7");
    ck_assert_str_eq(ms_match_param(&m, "itemId"), "i9");
}
END_TEST

START_TEST(test_router_parameter_values_point_into_path)
{
    const char *value;

    add_ok("GET", "/products/{id}");
    ck_assert_int_eq(match("GET", "/products/42"), MS_MATCH_OK);
    value = ms_match_param(&m, "id");
    ck_assert_ptr_eq(value, path + strlen("/products/"));
}
END_TEST

START_TEST(test_router_unknown_parameter_name_is_null)
{
    add_ok("GET", "/products/{id}");
    ck_assert_int_eq(match("GET", "/products/42"), MS_MATCH_OK);
    ck_assert_ptr_null(ms_match_param(&m, "ID"));
    ck_assert_ptr_null(ms_match_param(&m, "productId"));
}
END_TEST

START_TEST(test_router_404_for_unknown_path)
{
    add_ok("GET", "/products/{id}");
    ck_assert_int_eq(match("GET", "/orders/1"), MS_MATCH_NOT_FOUND);
    ck_assert_ptr_null(m.route);
    ck_assert_str_eq(m.allow, "");
}
END_TEST

START_TEST(test_router_404_when_segment_count_differs)
{
    add_ok("GET", "/products/{id}");
    ck_assert_int_eq(match("GET", "/products"), MS_MATCH_NOT_FOUND);
    ck_assert_int_eq(match("GET", "/products/1/reviews"), MS_MATCH_NOT_FOUND);
}
END_TEST

START_TEST(test_router_405_lists_allowed_methods)
{
    add_ok("GET", "/products/{id}");
    add_ok("DELETE", "/products/{id}");
    ck_assert_int_eq(match("PUT", "/products/1"), MS_MATCH_BAD_METHOD);
    ck_assert_ptr_null(m.route);
    ck_assert_str_eq(m.allow, "GET, HEAD, DELETE");
}
END_TEST

START_TEST(test_router_405_allow_merges_all_matching_patterns)
{
    add_ok("GET", "/products/{id}");
    add_ok("POST", "/products/search");
    ck_assert_int_eq(match("PUT", "/products/search"), MS_MATCH_BAD_METHOD);
    ck_assert_str_eq(m.allow, "GET, HEAD, POST");
}
END_TEST

START_TEST(test_router_405_allow_lists_each_method_once)
{
    add_ok("GET", "/a/{x}");
    add_ok("GET", "/a/b");
    add_ok("HEAD", "/{y}/b");
    ck_assert_int_eq(match("POST", "/a/b"), MS_MATCH_BAD_METHOD);
    ck_assert_str_eq(m.allow, "GET, HEAD");
}
END_TEST

START_TEST(test_router_method_is_case_sensitive)
{
    add_ok("GET", "/health");
    ck_assert_int_eq(match("get", "/health"), MS_MATCH_BAD_METHOD);
}
END_TEST

START_TEST(test_router_literal_wins_over_parameter_registered_first)
{
    struct ms_route literal = {
        .method = "GET", .pattern = "/products/search", .handler = handler_b};

    add_ok("GET", "/products/{id}");
    ck_assert_int_eq(ms_router_add(r, &literal), 0);
    ck_assert_int_eq(match("GET", "/products/search"), MS_MATCH_OK);
    ck_assert_ptr_eq(m.route->handler, handler_b);
    ck_assert_uint_eq(m.nparams, 0);
}
END_TEST

START_TEST(test_router_literal_wins_over_parameter_registered_last)
{
    struct ms_route literal = {
        .method = "GET", .pattern = "/products/search", .handler = handler_b};

    ck_assert_int_eq(ms_router_add(r, &literal), 0);
    add_ok("GET", "/products/{id}");
    ck_assert_int_eq(match("GET", "/products/search"), MS_MATCH_OK);
    ck_assert_ptr_eq(m.route->handler, handler_b);
}
END_TEST

START_TEST(test_router_more_literals_win_deeper_in_path)
{
    add_ok("GET", "/{kind}/{id}/reviews");
    add_ok("GET", "/products/{id}/reviews");
    ck_assert_int_eq(match("GET", "/products/3/reviews"), MS_MATCH_OK);
    ck_assert_str_eq(m.route->pattern, "/products/{id}/reviews");
    ck_assert_str_eq(ms_match_param(&m, "id"), "3");
}
END_TEST

START_TEST(test_router_parameter_route_serves_other_values)
{
    add_ok("GET", "/products/search");
    add_ok("GET", "/products/{id}");
    ck_assert_int_eq(match("GET", "/products/7"), MS_MATCH_OK);
    ck_assert_str_eq(m.route->pattern, "/products/{id}");
    ck_assert_str_eq(ms_match_param(&m, "id"), "7");
}
END_TEST

START_TEST(test_router_literal_of_other_method_does_not_shadow_parameter)
{
    add_ok("GET", "/products/{id}");
    add_ok("POST", "/products/search");
    ck_assert_int_eq(match("GET", "/products/search"), MS_MATCH_OK);
    ck_assert_str_eq(m.route->pattern, "/products/{id}");
    ck_assert_str_eq(ms_match_param(&m, "id"), "search");
}
END_TEST

START_TEST(test_router_head_served_by_get_route)
{
    add_ok("GET", "/products/{id}");
    ck_assert_int_eq(match("HEAD", "/products/1"), MS_MATCH_OK);
    ck_assert_str_eq(m.route->method, "GET");
    ck_assert_str_eq(ms_match_param(&m, "id"), "1");
}
END_TEST

START_TEST(test_router_head_refused_without_get_route)
{
    add_ok("POST", "/orders");
    ck_assert_int_eq(match("HEAD", "/orders"), MS_MATCH_BAD_METHOD);
    ck_assert_str_eq(m.allow, "POST");
}
END_TEST

START_TEST(test_router_get_is_not_served_by_head_route)
{
    add_ok("HEAD", "/ping");
    ck_assert_int_eq(match("GET", "/ping"), MS_MATCH_BAD_METHOD);
}
END_TEST

START_TEST(test_router_trailing_slash_ignored)
{
    add_ok("GET", "/products");
    ck_assert_int_eq(match("GET", "/products/"), MS_MATCH_OK);
}
END_TEST

START_TEST(test_router_repeated_slashes_ignored)
{
    add_ok("GET", "/products/{id}");
    ck_assert_int_eq(match("GET", "//products//42//"), MS_MATCH_OK);
    ck_assert_str_eq(ms_match_param(&m, "id"), "42");
}
END_TEST

START_TEST(test_router_empty_segment_never_fills_parameter)
{
    add_ok("GET", "/products/{id}");
    ck_assert_int_eq(match("GET", "/products//"), MS_MATCH_NOT_FOUND);
}
END_TEST

START_TEST(test_router_copies_route_row)
{
    struct ms_route route = {.method = "POST",
                             .pattern = "/orders",
                             .handler = handler_b,
                             .body_max = 4096,
                             .flags = MS_ROUTE_JSON};

    ck_assert_int_eq(ms_router_add(r, &route), 0);
    route = (struct ms_route){.method = "GET", .pattern = "/other", .handler = handler_a};
    ck_assert_int_eq(match("POST", "/orders"), MS_MATCH_OK);
    ck_assert_ptr_eq(m.route->handler, handler_b);
    ck_assert_uint_eq(m.route->body_max, 4096);
    ck_assert_uint_eq(m.route->flags, MS_ROUTE_JSON);
}
END_TEST

START_TEST(test_router_rejects_pattern_without_leading_slash)
{
    ck_assert_int_eq(add("GET", "products"), MS_EINVAL);
    ck_assert_int_eq(add("GET", ""), MS_EINVAL);
}
END_TEST

START_TEST(test_router_rejects_unclosed_parameter)
{
    ck_assert_int_eq(add("GET", "/products/{id"), MS_EINVAL);
}
END_TEST

START_TEST(test_router_rejects_empty_parameter)
{
    ck_assert_int_eq(add("GET", "/products/{}"), MS_EINVAL);
}
END_TEST

START_TEST(test_router_rejects_braces_inside_segment)
{
    ck_assert_int_eq(add("GET", "/products/x{id}"), MS_EINVAL);
    ck_assert_int_eq(add("GET", "/products/{id}x"), MS_EINVAL);
    ck_assert_int_eq(add("GET", "/products/{a}{b}"), MS_EINVAL);
    ck_assert_int_eq(add("GET", "/products/id}"), MS_EINVAL);
}
END_TEST

START_TEST(test_router_rejects_missing_method_or_handler)
{
    struct ms_route no_method = {.pattern = "/a", .handler = handler_a};
    struct ms_route no_handler = {.method = "GET", .pattern = "/a"};
    struct ms_route no_pattern = {.method = "GET", .handler = handler_a};

    ck_assert_int_eq(ms_router_add(r, &no_method), MS_EINVAL);
    ck_assert_int_eq(ms_router_add(r, &no_handler), MS_EINVAL);
    ck_assert_int_eq(ms_router_add(r, &no_pattern), MS_EINVAL);
}
END_TEST

START_TEST(test_router_accepts_max_parameters)
{
    add_ok("GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}");
    ck_assert_int_eq(match("GET", "/1/2/3/4/5/6/7/8"), MS_MATCH_OK);
    ck_assert_uint_eq(m.nparams, MS_ROUTE_MAX_PARAMS);
    ck_assert_str_eq(ms_match_param(&m, "a"), "1");
    ck_assert_str_eq(ms_match_param(&m, "h"), "8");
}
END_TEST

START_TEST(test_router_rejects_too_many_parameters)
{
    ck_assert_int_eq(add("GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}"), MS_EINVAL);
}
END_TEST

START_TEST(test_router_accepts_pattern_at_max_segments)
{
    char pattern[256], p[256];

    add_ok("GET", segments(pattern, sizeof(pattern), MS_ROUTE_MAX_SEGMENTS, "s"));
    ck_assert_int_eq(match("GET", segments(p, sizeof(p), MS_ROUTE_MAX_SEGMENTS, "s")), MS_MATCH_OK);
}
END_TEST

START_TEST(test_router_rejects_pattern_over_max_segments)
{
    char pattern[256];

    ck_assert_int_eq(add("GET", segments(pattern, sizeof(pattern), MS_ROUTE_MAX_SEGMENTS + 1, "s")),
                     MS_EINVAL);
}
END_TEST

START_TEST(test_router_path_over_max_segments_matches_nothing)
{
    char pattern[256], p[1024];

    add_ok("GET", segments(pattern, sizeof(pattern), MS_ROUTE_MAX_SEGMENTS, "s"));
    ck_assert_int_eq(match("GET", segments(p, sizeof(p), MS_ROUTE_MAX_SEGMENTS + 1, "s")),
                     MS_MATCH_NOT_FOUND);
    ck_assert_int_eq(match("GET", segments(p, sizeof(p), 200, "s")), MS_MATCH_NOT_FOUND);
    ck_assert_ptr_null(m.route);
}
END_TEST

START_TEST(test_router_rejects_duplicate_method_and_pattern)
{
    add_ok("GET", "/products/{id}");
    ck_assert_int_eq(add("GET", "/products/{id}"), MS_EINVAL);
}
END_TEST

START_TEST(test_router_rejects_duplicate_with_renamed_parameter)
{
    add_ok("GET", "/products/{id}");
    ck_assert_int_eq(add("GET", "/products/{productId}"), MS_EINVAL);
}
END_TEST

START_TEST(test_router_rejects_duplicate_spelled_with_extra_slashes)
{
    add_ok("GET", "/products");
    ck_assert_int_eq(add("GET", "/products/"), MS_EINVAL);
}
END_TEST

START_TEST(test_router_accepts_same_pattern_for_another_method)
{
    add_ok("GET", "/products/{id}");
    add_ok("PUT", "/products/{id}");
    ck_assert_int_eq(match("PUT", "/products/1"), MS_MATCH_OK);
    ck_assert_str_eq(m.route->method, "PUT");
}
END_TEST

START_TEST(test_router_rejected_duplicate_keeps_first_route)
{
    struct ms_route second = {.method = "GET", .pattern = "/x", .handler = handler_b};

    add_ok("GET", "/x");
    ck_assert_int_eq(ms_router_add(r, &second), MS_EINVAL);
    ck_assert_int_eq(match("GET", "/x"), MS_MATCH_OK);
    ck_assert_ptr_eq(m.route->handler, handler_a);
}
END_TEST

START_TEST(test_router_rejected_pattern_is_not_matchable)
{
    ck_assert_int_eq(add("GET", "/a/{id"), MS_EINVAL);
    ck_assert_int_eq(match("GET", "/a/{id"), MS_MATCH_NOT_FOUND);
}
END_TEST

/* The patterns "/r0" ... "/r63": distinct static strings, since the router borrows them. */
static char table_patterns[MS_ROUTE_MAX + 1][8];

static void fill_table(void)
{
    for (int i = 0; i < MS_ROUTE_MAX; i++) {
        snprintf(table_patterns[i], sizeof(table_patterns[i]), "/r%d", i);
        add_ok("GET", table_patterns[i]);
    }
}

START_TEST(test_router_accepts_max_routes)
{
    fill_table();
    ck_assert_int_eq(match("GET", "/r0"), MS_MATCH_OK);
    ck_assert_int_eq(match("GET", "/r63"), MS_MATCH_OK);
    ck_assert_str_eq(m.route->pattern, "/r63");
}
END_TEST

START_TEST(test_router_rejects_route_past_max)
{
    fill_table();
    snprintf(table_patterns[MS_ROUTE_MAX], sizeof(table_patterns[0]), "/r%d", MS_ROUTE_MAX);
    ck_assert_int_eq(add("GET", table_patterns[MS_ROUTE_MAX]), MS_ETOOBIG);
    ck_assert_int_eq(match("GET", "/r64"), MS_MATCH_NOT_FOUND);
}
END_TEST

START_TEST(test_router_free_accepts_null)
{
    ms_router_free(NULL); /* passes by returning: a NULL router holds nothing to free */
}
END_TEST

static Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *matching = tcase_create("matching");
    TCase *preference = tcase_create("preference");
    TCase *patterns = tcase_create("patterns");

    tcase_add_checked_fixture(matching, setup, teardown);
    tcase_add_test(matching, test_router_matches_literal_path);
    tcase_add_test(matching, test_router_root_pattern_matches_slash);
    tcase_add_test(matching, test_router_literal_segment_must_match_exactly);
    tcase_add_test(matching, test_router_binds_parameter_value);
    tcase_add_test(matching, test_router_binds_several_parameters);
    tcase_add_test(matching, test_router_parameter_values_point_into_path);
    tcase_add_test(matching, test_router_unknown_parameter_name_is_null);
    tcase_add_test(matching, test_router_404_for_unknown_path);
    tcase_add_test(matching, test_router_404_when_segment_count_differs);
    tcase_add_test(matching, test_router_405_lists_allowed_methods);
    tcase_add_test(matching, test_router_405_allow_merges_all_matching_patterns);
    tcase_add_test(matching, test_router_405_allow_lists_each_method_once);
    tcase_add_test(matching, test_router_method_is_case_sensitive);
    tcase_add_test(matching, test_router_head_served_by_get_route);
    tcase_add_test(matching, test_router_head_refused_without_get_route);
    tcase_add_test(matching, test_router_get_is_not_served_by_head_route);
    tcase_add_test(matching, test_router_trailing_slash_ignored);
    tcase_add_test(matching, test_router_repeated_slashes_ignored);
    tcase_add_test(matching, test_router_empty_segment_never_fills_parameter);
    tcase_add_test(matching, test_router_copies_route_row);
    tcase_add_test(matching, test_router_path_over_max_segments_matches_nothing);
    suite_add_tcase(s, matching);

    tcase_add_checked_fixture(preference, setup, teardown);
    tcase_add_test(preference, test_router_literal_wins_over_parameter_registered_first);
    tcase_add_test(preference, test_router_literal_wins_over_parameter_registered_last);
    tcase_add_test(preference, test_router_more_literals_win_deeper_in_path);
    tcase_add_test(preference, test_router_parameter_route_serves_other_values);
    tcase_add_test(preference, test_router_literal_of_other_method_does_not_shadow_parameter);
    suite_add_tcase(s, preference);

    tcase_add_checked_fixture(patterns, setup, teardown);
    tcase_add_test(patterns, test_router_rejects_pattern_without_leading_slash);
    tcase_add_test(patterns, test_router_rejects_unclosed_parameter);
    tcase_add_test(patterns, test_router_rejects_empty_parameter);
    tcase_add_test(patterns, test_router_rejects_braces_inside_segment);
    tcase_add_test(patterns, test_router_rejects_missing_method_or_handler);
    tcase_add_test(patterns, test_router_accepts_max_parameters);
    tcase_add_test(patterns, test_router_rejects_too_many_parameters);
    tcase_add_test(patterns, test_router_accepts_pattern_at_max_segments);
    tcase_add_test(patterns, test_router_rejects_pattern_over_max_segments);
    tcase_add_test(patterns, test_router_rejects_duplicate_method_and_pattern);
    tcase_add_test(patterns, test_router_rejects_duplicate_with_renamed_parameter);
    tcase_add_test(patterns, test_router_rejects_duplicate_spelled_with_extra_slashes);
    tcase_add_test(patterns, test_router_accepts_same_pattern_for_another_method);
    tcase_add_test(patterns, test_router_rejected_duplicate_keeps_first_route);
    tcase_add_test(patterns, test_router_rejected_pattern_is_not_matchable);
    tcase_add_test(patterns, test_router_accepts_max_routes);
    tcase_add_test(patterns, test_router_rejects_route_past_max);
    tcase_add_test(patterns, test_router_free_accepts_null);
    suite_add_tcase(s, patterns);
    return s;
}

int main(void)
{
    return ms_test_main(router_suite(), true);
}
