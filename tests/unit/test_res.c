/* Responses: bodies, copied headers, the error envelope and its statuses, the cause logged (not
 * sent) on 5xx, and release. Run under ASan, the teardown proves nothing the response owned
 * leaks: it releases and then wipes the struct, so an unfreed block has no reference left. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "ms/err.h"
#include "ms/res.h"
#include "runner.h"

#define REQUEST_ID "3f1c2a9e-0000-4000-8000-000000000001"

static struct ms_res res;
static json_t *doc;
static struct ms_test_capture capture; /* stdout, where log lines go, while a test runs */

static void setup(void)
{
    memset(&res, 0, sizeof(res));
    res.request_id = REQUEST_ID;
    res.route = "/products/{id}";
    doc = NULL;
    ms_test_capture_start(&capture, STDOUT_FILENO);
}

static void teardown(void)
{
    ms_test_capture_stop(&capture);
    json_decref(doc);
    doc = NULL;
    ms_res_release(&res);
    memset(&res, 0, sizeof(res));
}

/* The log lines written since setup. */
static const char *logged(void)
{
    return ms_test_capture_text(&capture);
}

static int count_lines(const char *text)
{
    int n = 0;

    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* The response body parsed into doc; fails the test unless it is JSON with the JSON type. */
static json_t *body_json(void)
{
    json_error_t jerr;

    ck_assert_ptr_nonnull(res.body);
    ck_assert_uint_eq(res.body_len, strlen(res.body));
    ck_assert_str_eq(res.content_type, MS_CONTENT_TYPE_JSON);
    json_decref(doc);
    doc = json_loadb(res.body, res.body_len, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(doc != NULL, "body is not JSON (%s): %s", jerr.text, res.body);
    return doc;
}

static const char *envelope_field(const char *name)
{
    json_t *error = json_object_get(body_json(), "error");
    const char *value = json_string_value(json_object_get(error, name));

    ck_assert_msg(value != NULL, "no error.%s in %.200s", name, res.body);
    return value;
}

/* The value of response header name, or NULL. */
static const char *header(const char *name)
{
    for (size_t i = 0; i < res.nheaders; i++)
        if (strcmp(res.headers[i].name, name) == 0)
            return res.headers[i].value;
    return NULL;
}

/* ms_res_error */

START_TEST(test_res_error_builds_envelope)
{
    json_t *error;

    ms_res_error(&res, MS_ENOTFOUND, "product %d not found", 7);
    ck_assert_int_eq(res.status, 404);
    ck_assert_uint_eq(json_object_size(body_json()), 1);
    error = json_object_get(doc, "error");
    ck_assert(json_is_object(error));
    ck_assert_uint_eq(json_object_size(error), 3);
    ck_assert_str_eq(json_string_value(json_object_get(error, "code")), "not_found");
    ck_assert_str_eq(json_string_value(json_object_get(error, "message")), "product 7 not found");
    ck_assert_str_eq(json_string_value(json_object_get(error, "request_id")), REQUEST_ID);
}
END_TEST

START_TEST(test_res_error_without_fmt_uses_default_text)
{
    ms_res_error(&res, MS_EINVAL, NULL);
    ck_assert_int_eq(res.status, 400);
    ck_assert_str_eq(envelope_field("code"), "invalid_argument");
    ck_assert_str_eq(envelope_field("message"), ms_strerror(MS_EINVAL));
}
END_TEST

START_TEST(test_res_error_conflict_is_409)
{
    ms_res_error(&res, MS_ECONFLICT, "only %d left", 2);
    ck_assert_int_eq(res.status, 409);
    ck_assert_str_eq(envelope_field("code"), "conflict");
    ck_assert_str_eq(envelope_field("message"), "only 2 left");
}
END_TEST

START_TEST(test_res_error_too_big_is_413)
{
    ms_res_error(&res, MS_ETOOBIG, "over %d bytes", 1024);
    ck_assert_int_eq(res.status, 413);
    ck_assert_str_eq(envelope_field("code"), "payload_too_large");
}
END_TEST

START_TEST(test_res_error_records_err)
{
    ms_res_error(&res, MS_ENOTFOUND, NULL);
    ck_assert_int_eq(res.err, MS_ENOTFOUND);
}
END_TEST

START_TEST(test_res_error_without_request_id_sends_empty_id)
{
    res.request_id = NULL;
    ms_res_error(&res, MS_EINVAL, "bad");
    ck_assert_str_eq(envelope_field("request_id"), "");
}
END_TEST

START_TEST(test_res_error_unavailable_adds_retry_after)
{
    ms_res_error(&res, MS_EUNAVAIL, "pool exhausted");
    ck_assert_int_eq(res.status, 503);
    ck_assert_str_eq(envelope_field("code"), "unavailable");
    ck_assert_uint_eq(res.nheaders, 1);
    ck_assert_str_eq(header("Retry-After"), "1");
}
END_TEST

START_TEST(test_res_error_timeout_adds_retry_after)
{
    ms_res_error(&res, MS_ETIMEDOUT, "statement timeout");
    ck_assert_int_eq(res.status, 503);
    ck_assert_str_eq(header("Retry-After"), "1");
}
END_TEST

START_TEST(test_res_error_4xx_has_no_retry_after)
{
    ms_res_error(&res, MS_ECONFLICT, NULL);
    ck_assert_uint_eq(res.nheaders, 0);
}
END_TEST

START_TEST(test_res_error_500_has_no_retry_after)
{
    ms_res_error(&res, MS_EINTERNAL, NULL);
    ck_assert_uint_eq(res.nheaders, 0);
}
END_TEST

START_TEST(test_res_error_5xx_sends_generic_message)
{
    ms_res_error(&res, MS_EINTERNAL, "query failed: %s", "SELECT secret FROM users");
    ck_assert_int_eq(res.status, 500);
    ck_assert_str_eq(envelope_field("code"), "internal");
    ck_assert_str_eq(envelope_field("message"), ms_strerror(MS_EINTERNAL));
    ck_assert_ptr_null(strstr(res.body, "secret"));
}
END_TEST

START_TEST(test_res_error_503_tells_the_client_what_is_unavailable)
{
    ms_res_error(&res, MS_EUNAVAIL, "the %s service is unavailable", "inventory");
    ck_assert_int_eq(res.status, 503);
    ck_assert_str_eq(envelope_field("message"), "the inventory service is unavailable");
    ck_assert_ptr_nonnull(strstr(logged(), "the inventory service is unavailable"));
}
END_TEST

START_TEST(test_res_error_5xx_logs_cause_once)
{
    const char *text;

    ms_res_error(&res, MS_EINTERNAL, "query failed: %s", "SELECT secret FROM users");
    text = logged();
    ck_assert_int_eq(count_lines(text), 1);
    ck_assert_ptr_nonnull(strstr(text, "query failed: SELECT secret FROM users"));
    ck_assert_ptr_nonnull(strstr(text, REQUEST_ID));
    ck_assert_ptr_nonnull(strstr(text, "/products/{id}"));
}
END_TEST

START_TEST(test_res_error_4xx_logs_nothing)
{
    ms_res_error(&res, MS_ENOTFOUND, "product %d not found", 7);
    ck_assert_str_eq(logged(), "");
}
END_TEST

START_TEST(test_res_error_unknown_code_is_500)
{
    ms_res_error(&res, -99, "impossible");
    ck_assert_int_eq(res.status, 500);
    ck_assert_str_eq(envelope_field("code"), "internal");
    ck_assert_str_ne(envelope_field("message"), "impossible");
}
END_TEST

START_TEST(test_res_error_truncates_long_message)
{
    char long_text[1000];

    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    ms_res_error(&res, MS_EINVAL, "%s", long_text);
    ck_assert_int_eq(res.status, 400);
    ck_assert_uint_gt(strlen(envelope_field("message")), 100);
    ck_assert_uint_lt(strlen(envelope_field("message")), sizeof(long_text) - 1);
}
END_TEST

START_TEST(test_res_error_keeps_status_when_message_has_invalid_utf8)
{
    /* A decoded URL may hold any bytes: GET /%FF must still be a 404 with an envelope. */
    ms_res_error(&res, MS_ENOTFOUND, "no route for %s", "/\xff\xfe");
    ck_assert_int_eq(res.status, 404);
    ck_assert_str_eq(envelope_field("code"), "not_found");
    ck_assert_int_eq(strncmp(envelope_field("message"), "no route for /", 14), 0);
}
END_TEST

START_TEST(test_res_error_logs_cause_with_invalid_utf8)
{
    const char *text;

    ms_res_error(&res, MS_EINTERNAL, "upstream sent %s", "\xc0\xaf");
    text = logged();
    ck_assert_int_eq(count_lines(text), 1);
    ck_assert_ptr_nonnull(strstr(text, "upstream sent "));
}
END_TEST

/* Answers MS_EINVAL with a message of prefix and then only two-byte characters, too long to
 * keep whole. */
static void error_with_long_non_ascii_message(const char *prefix)
{
    char long_text[600];
    size_t n = strlen(prefix);

    memcpy(long_text, prefix, n);
    while (n + 2 < sizeof(long_text)) {
        long_text[n++] = '\xc3';
        long_text[n++] = '\xa9';
    }
    long_text[n] = '\0';
    ms_res_release(&res);
    memset(&res, 0, sizeof(res));
    ms_res_error(&res, MS_EINVAL, "%s", long_text);
}

START_TEST(test_res_error_keeps_status_when_truncation_splits_a_character)
{
    /* With and without a one-byte prefix: whatever the limit, one of the cuts splits a
     * character. */
    error_with_long_non_ascii_message("");
    ck_assert_int_eq(res.status, 400);
    ck_assert_str_eq(envelope_field("code"), "invalid_argument");
    error_with_long_non_ascii_message("a");
    ck_assert_int_eq(res.status, 400);
    ck_assert_str_eq(envelope_field("code"), "invalid_argument");
}
END_TEST

/* ms_res_error_status */

START_TEST(test_res_error_status_uses_given_status_and_code)
{
    ms_res_error_status(&res, 405, "method_not_allowed", "%s is not allowed here", "PUT");
    ck_assert_int_eq(res.status, 405);
    ck_assert_str_eq(envelope_field("code"), "method_not_allowed");
    ck_assert_str_eq(envelope_field("message"), "PUT is not allowed here");
    ck_assert_str_eq(envelope_field("request_id"), REQUEST_ID);
}
END_TEST

START_TEST(test_res_error_status_without_fmt_uses_code_as_message)
{
    ms_res_error_status(&res, 429, "rate_limited", NULL);
    ck_assert_str_eq(envelope_field("message"), "rate_limited");
}
END_TEST

START_TEST(test_res_error_status_503_adds_retry_after)
{
    ms_res_error_status(&res, 503, "fault_injected", "fault injected by configuration");
    ck_assert_str_eq(header("Retry-After"), "1");
}
END_TEST

START_TEST(test_res_error_status_5xx_hides_cause)
{
    ms_res_error_status(&res, 502, "bad_gateway", "upstream said %s", "stack trace");
    ck_assert_int_eq(res.status, 502);
    ck_assert_str_eq(envelope_field("message"), "bad_gateway");
    ck_assert_ptr_nonnull(strstr(logged(), "upstream said stack trace"));
}
END_TEST

/* Bodies */

START_TEST(test_res_json_new_serialises_compactly)
{
    ms_res_json_new(&res, 201, json_pack("{s:i,s:s}", "id", 7, "name", "mug"));
    ck_assert_int_eq(res.status, 201);
    ck_assert_str_eq(res.content_type, MS_CONTENT_TYPE_JSON);
    ck_assert_str_eq(res.body, "{\"id\":7,\"name\":\"mug\"}");
    ck_assert_uint_eq(res.body_len, strlen(res.body));
}
END_TEST

START_TEST(test_res_json_new_steals_reference)
{
    json_t *obj = json_pack("{s:i}", "id", 7);

    json_incref(obj); /* the test's own reference, to watch the count */
    ck_assert_int_eq(obj->refcount, 2);
    ms_res_json_new(&res, 200, obj);
    ck_assert_int_eq(obj->refcount, 1);
    json_decref(obj);
}
END_TEST

START_TEST(test_res_json_new_null_answers_500)
{
    ms_res_json_new(&res, 200, NULL);
    ck_assert_int_eq(res.status, 500);
    ck_assert_ptr_null(res.body);
    ck_assert_uint_eq(res.body_len, 0);
}
END_TEST

START_TEST(test_res_json_new_replaces_previous_body)
{
    ms_res_json_new(&res, 200, json_pack("{s:i}", "first", 1));
    ms_res_json_new(&res, 201, json_pack("{s:i}", "second", 2));
    ck_assert_int_eq(res.status, 201);
    ck_assert_str_eq(res.body, "{\"second\":2}");
}
END_TEST

START_TEST(test_res_body_copy_copies_and_terminates)
{
    char text[] = "hello";

    ms_res_body_copy(&res, 200, "text/plain", text, 4);
    text[0] = 'J';
    ck_assert_int_eq(res.status, 200);
    ck_assert_str_eq(res.content_type, "text/plain");
    ck_assert_uint_eq(res.body_len, 4);
    ck_assert_str_eq(res.body, "hell");
    ck_assert_ptr_ne(res.body, text);
}
END_TEST

START_TEST(test_res_body_new_takes_ownership)
{
    char *text = strdup("metrics 1\n");

    ck_assert_ptr_nonnull(text);
    ms_res_body_new(&res, 200, "text/plain", text, strlen(text));
    ck_assert_ptr_eq(res.body, text); /* not copied; teardown's release frees it */
    ck_assert_uint_eq(res.body_len, strlen("metrics 1\n"));
}
END_TEST

START_TEST(test_res_empty_has_no_body)
{
    ms_res_json_new(&res, 200, json_pack("{s:i}", "id", 1));
    ms_res_empty(&res, 204);
    ck_assert_int_eq(res.status, 204);
    ck_assert_ptr_null(res.body);
    ck_assert_uint_eq(res.body_len, 0);
    ck_assert_ptr_null(res.content_type);
}
END_TEST

/* Headers and release */

START_TEST(test_res_header_copies_name_and_value)
{
    char name[] = "Location";
    char value[] = "/orders/7";

    ms_res_header(&res, name, value);
    strcpy(name, "XXXXXXXX");
    strcpy(value, "XXXXXXXXX");
    ck_assert_uint_eq(res.nheaders, 1);
    ck_assert_str_eq(res.headers[0].name, "Location");
    ck_assert_str_eq(res.headers[0].value, "/orders/7");
}
END_TEST

START_TEST(test_res_header_keeps_order)
{
    ms_res_header(&res, "A", "1");
    ms_res_header(&res, "B", "2");
    ck_assert_uint_eq(res.nheaders, 2);
    ck_assert_str_eq(res.headers[0].name, "A");
    ck_assert_str_eq(res.headers[1].name, "B");
}
END_TEST

START_TEST(test_res_header_accepts_max_headers)
{
    char name[16];

    for (int i = 0; i < MS_RES_MAX_HEADERS; i++) {
        snprintf(name, sizeof(name), "X-H%d", i);
        ms_res_header(&res, name, "v");
    }
    ck_assert_uint_eq(res.nheaders, MS_RES_MAX_HEADERS);
    ck_assert_str_eq(header("X-H7"), "v");
}
END_TEST

#ifdef NDEBUG
START_TEST(test_res_header_past_max_is_dropped)
{
    char name[16];

    for (int i = 0; i <= MS_RES_MAX_HEADERS; i++) {
        snprintf(name, sizeof(name), "X-H%d", i);
        ms_res_header(&res, name, "v");
    }
    ck_assert_uint_eq(res.nheaders, MS_RES_MAX_HEADERS);
    ck_assert_ptr_null(header("X-H8"));
}
END_TEST
#else
START_TEST(test_res_header_past_max_asserts)
{
    for (int i = 0; i <= MS_RES_MAX_HEADERS; i++)
        ms_res_header(&res, "X-H", "v");
}
END_TEST
#endif

START_TEST(test_res_release_frees_and_resets)
{
    struct ms_res local = {0};

    ms_res_json_new(&local, 200, json_pack("{s:s}", "k", "v"));
    ms_res_header(&local, "Location", "/x");
    ms_res_header(&local, "Retry-After", "1");
    ms_res_release(&local);
    ck_assert_ptr_null(local.body);
    ck_assert_uint_eq(local.nheaders, 0);
    /* Wipe the stale pointers: under ASan, anything release did not free now leaks. */
    memset(&local, 0, sizeof(local));
}
END_TEST

START_TEST(test_res_release_twice_is_harmless)
{
    ms_res_error(&res, MS_EUNAVAIL, NULL);
    ms_res_release(&res);
    ms_res_release(&res);
    ck_assert_ptr_null(res.body);
    ck_assert_uint_eq(res.nheaders, 0);
}
END_TEST

START_TEST(test_res_release_of_untouched_response_is_harmless)
{
    struct ms_res local = {0};

    ms_res_release(&local);
    ck_assert_ptr_null(local.body);
}
END_TEST

static Suite *res_suite(void)
{
    Suite *s = suite_create("res");
    TCase *errors = tcase_create("error");
    TCase *bodies = tcase_create("body");
    TCase *headers = tcase_create("header");

    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_res_error_builds_envelope);
    tcase_add_test(errors, test_res_error_without_fmt_uses_default_text);
    tcase_add_test(errors, test_res_error_conflict_is_409);
    tcase_add_test(errors, test_res_error_too_big_is_413);
    tcase_add_test(errors, test_res_error_records_err);
    tcase_add_test(errors, test_res_error_without_request_id_sends_empty_id);
    tcase_add_test(errors, test_res_error_unavailable_adds_retry_after);
    tcase_add_test(errors, test_res_error_timeout_adds_retry_after);
    tcase_add_test(errors, test_res_error_4xx_has_no_retry_after);
    tcase_add_test(errors, test_res_error_500_has_no_retry_after);
    tcase_add_test(errors, test_res_error_5xx_sends_generic_message);
    tcase_add_test(errors, test_res_error_503_tells_the_client_what_is_unavailable);
    tcase_add_test(errors, test_res_error_5xx_logs_cause_once);
    tcase_add_test(errors, test_res_error_4xx_logs_nothing);
    tcase_add_test(errors, test_res_error_unknown_code_is_500);
    tcase_add_test(errors, test_res_error_truncates_long_message);
    tcase_add_test(errors, test_res_error_keeps_status_when_message_has_invalid_utf8);
    tcase_add_test(errors, test_res_error_keeps_status_when_truncation_splits_a_character);
    tcase_add_test(errors, test_res_error_logs_cause_with_invalid_utf8);
    tcase_add_test(errors, test_res_error_status_uses_given_status_and_code);
    tcase_add_test(errors, test_res_error_status_without_fmt_uses_code_as_message);
    tcase_add_test(errors, test_res_error_status_503_adds_retry_after);
    tcase_add_test(errors, test_res_error_status_5xx_hides_cause);
    suite_add_tcase(s, errors);

    tcase_add_checked_fixture(bodies, setup, teardown);
    tcase_add_test(bodies, test_res_json_new_serialises_compactly);
    tcase_add_test(bodies, test_res_json_new_steals_reference);
    tcase_add_test(bodies, test_res_json_new_null_answers_500);
    tcase_add_test(bodies, test_res_json_new_replaces_previous_body);
    tcase_add_test(bodies, test_res_body_copy_copies_and_terminates);
    tcase_add_test(bodies, test_res_body_new_takes_ownership);
    tcase_add_test(bodies, test_res_empty_has_no_body);
    suite_add_tcase(s, bodies);

    tcase_add_checked_fixture(headers, setup, teardown);
    tcase_add_test(headers, test_res_header_copies_name_and_value);
    tcase_add_test(headers, test_res_header_keeps_order);
    tcase_add_test(headers, test_res_header_accepts_max_headers);
#ifdef NDEBUG
    tcase_add_test(headers, test_res_header_past_max_is_dropped);
#else
    tcase_add_test_raise_signal(headers, test_res_header_past_max_asserts, SIGABRT);
#endif
    tcase_add_test(headers, test_res_release_frees_and_resets);
    tcase_add_test(headers, test_res_release_twice_is_harmless);
    tcase_add_test(headers, test_res_release_of_untouched_response_is_harmless);
    suite_add_tcase(s, headers);
    return s;
}

int main(void)
{
    return ms_test_main(res_suite(), true);
}
