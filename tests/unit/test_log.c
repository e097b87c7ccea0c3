/* Log lines: ms_log_fields (the access log's allocation-free path) writes the same JSON line
 * ms_log_json_new would, escapes strings, leaves NULL strings out, and falls back to jansson
 * for lines it cannot write itself (non-ASCII, too long). Each line is read back from stdout. */
#include <check.h>
#include <jansson.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "ms/log.h"
#include "runner.h"

static struct ms_test_capture capture;
static json_t *doc;

static void setup(void)
{
    ms_log_init("product", MS_LOG_INFO);
    doc = NULL;
    ms_test_capture_start(&capture, STDOUT_FILENO);
}

static void teardown(void)
{
    ms_test_capture_stop(&capture);
    json_decref(doc);
    doc = NULL;
}

/* The only line written since setup, parsed (kept in doc); fails unless exactly one. */
static json_t *only_line(void)
{
    const char *text = ms_test_capture_text(&capture);
    const char *nl = strchr(text, '\n');
    json_error_t jerr;

    ck_assert_msg(nl && nl[1] == '\0', "expected one line, got: %s", text);
    doc = json_loadb(text, (size_t)(nl - text), JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(doc, "not JSON (%s): %s", jerr.text, text);
    return doc;
}

static const char *str_of(const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

START_TEST(test_log_fields_writes_prefix_then_fields_in_order)
{
    const struct ms_log_field f[] = {
        {.key = "event", .type = MS_LOG_STR, .str = "access"},
        {.key = "status", .type = MS_LOG_INT, .num = 404},
        {.key = "duration_ms", .type = MS_LOG_MS, .ms = 1.23456},
    };
    const char *text;

    ms_log_fields(MS_LOG_INFO, f, 3);
    text = ms_test_capture_text(&capture);
    ck_assert_msg(strstr(text, "\",\"level\":\"info\",\"service\":\"product\",\"event\":\"access\","
                               "\"status\":404,\"duration_ms\":1.235}\n"),
                  "unexpected line: %s", text);
    ck_assert_int_eq(strncmp(text, "{\"time\":\"", 9), 0);
}
END_TEST

START_TEST(test_log_fields_time_is_rfc3339_utc_with_milliseconds)
{
    const struct ms_log_field f[] = {{.key = "event", .type = MS_LOG_STR, .str = "x"}};
    regex_t re;

    ms_log_fields(MS_LOG_WARN, f, 1);
    only_line();
    ck_assert_int_eq(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    ck_assert_msg(regexec(&re, str_of("time"), 0, NULL, 0) == 0, "time %s", str_of("time"));
    regfree(&re);
    ck_assert_str_eq(str_of("level"), "warn");
}
END_TEST

START_TEST(test_log_fields_formats_numbers)
{
    const struct ms_log_field f[] = {
        {.key = "a", .type = MS_LOG_INT, .num = 0},
        {.key = "b", .type = MS_LOG_INT, .num = -42},
        {.key = "c", .type = MS_LOG_INT, .num = INT64_MIN},
        {.key = "d", .type = MS_LOG_MS, .ms = 0.0004},
        {.key = "e", .type = MS_LOG_MS, .ms = 0.0305},
        {.key = "f", .type = MS_LOG_MS, .ms = 1999.9996},
        {.key = "g", .type = MS_LOG_MS, .ms = -2.5},
    };
    const char *text;

    ms_log_fields(MS_LOG_INFO, f, sizeof(f) / sizeof(f[0]));
    text = ms_test_capture_text(&capture);
    ck_assert_msg(strstr(text, ",\"a\":0,\"b\":-42,\"c\":-9223372036854775808,\"d\":0.000,"
                               "\"e\":0.031,\"f\":2000.000,\"g\":-2.500}\n"),
                  "unexpected line: %s", text);
}
END_TEST

START_TEST(test_log_fields_odd_duration_goes_through_jansson)
{
    const struct ms_log_field f[] = {{.key = "duration_ms", .type = MS_LOG_MS, .ms = 1e300}};

    ms_log_fields(MS_LOG_INFO, f, 1);
    only_line();
    ck_assert(json_real_value(json_object_get(doc, "duration_ms")) == 1e300);
}
END_TEST

START_TEST(test_log_fields_escapes_strings)
{
    const struct ms_log_field f[] = {
        {.key = "route", .type = MS_LOG_STR, .str = "a\"b\\c\nd\te\x01"},
    };

    ms_log_fields(MS_LOG_INFO, f, 1);
    only_line();
    ck_assert_str_eq(str_of("route"), "a\"b\\c\nd\te\x01");
}
END_TEST

START_TEST(test_log_fields_leaves_null_strings_out)
{
    const struct ms_log_field f[] = {
        {.key = "request_id", .type = MS_LOG_STR, .str = "r1"},
        {.key = "trace_id", .type = MS_LOG_STR, .str = NULL},
    };

    ms_log_fields(MS_LOG_INFO, f, 2);
    only_line();
    ck_assert_str_eq(str_of("request_id"), "r1");
    ck_assert_ptr_null(json_object_get(doc, "trace_id"));
}
END_TEST

START_TEST(test_log_fields_non_ascii_goes_through_jansson)
{
    const struct ms_log_field f[] = {
        {.key = "route", .type = MS_LOG_STR, .str = "caf\xc3\xa9"},
        {.key = "status", .type = MS_LOG_INT, .num = 200},
    };

    ms_log_fields(MS_LOG_INFO, f, 2);
    only_line();
    ck_assert_str_eq(str_of("route"), "caf\xc3\xa9");
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "status")), 200);
    ck_assert_str_eq(str_of("service"), "product");
}
END_TEST

START_TEST(test_log_fields_long_line_is_written_whole)
{
    static char big[3000];
    const struct ms_log_field f[] = {{.key = "msg", .type = MS_LOG_STR, .str = big}};

    memset(big, 'x', sizeof(big) - 1);
    ms_log_fields(MS_LOG_ERROR, f, 1);
    only_line();
    ck_assert_uint_eq(strlen(str_of("msg")), sizeof(big) - 1);
    ck_assert_str_eq(str_of("level"), "error");
}
END_TEST

START_TEST(test_log_fields_below_level_writes_nothing)
{
    const struct ms_log_field f[] = {{.key = "event", .type = MS_LOG_STR, .str = "access"}};

    ms_log_fields(MS_LOG_DEBUG, f, 1);
    ck_assert_str_eq(ms_test_capture_text(&capture), "");
}
END_TEST

START_TEST(test_log_fields_matches_log_json_new)
{
    const struct ms_log_field f[] = {
        {.key = "event", .type = MS_LOG_STR, .str = "access"},
        {.key = "status", .type = MS_LOG_INT, .num = 201},
    };
    char fast[512], slow[512];
    const char *text;

    ms_log_fields(MS_LOG_INFO, f, 2);
    ms_log_json_new(MS_LOG_INFO, json_pack("{s:s,s:i}", "event", "access", "status", 201));
    text = ms_test_capture_text(&capture);
    /* after the time (which may differ by a millisecond), the two lines are byte for byte equal */
    ck_assert_int_eq(sscanf(text, "%*[^,],%511[^\n]\n%*[^,],%511[^\n]", fast, slow), 2);
    ck_assert_str_eq(fast, slow);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("fields");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_log_fields_writes_prefix_then_fields_in_order);
    tcase_add_test(tc, test_log_fields_time_is_rfc3339_utc_with_milliseconds);
    tcase_add_test(tc, test_log_fields_formats_numbers);
    tcase_add_test(tc, test_log_fields_odd_duration_goes_through_jansson);
    tcase_add_test(tc, test_log_fields_escapes_strings);
    tcase_add_test(tc, test_log_fields_leaves_null_strings_out);
    tcase_add_test(tc, test_log_fields_non_ascii_goes_through_jansson);
    tcase_add_test(tc, test_log_fields_long_line_is_written_whole);
    tcase_add_test(tc, test_log_fields_below_level_writes_nothing);
    tcase_add_test(tc, test_log_fields_matches_log_json_new);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ms_test_main(log_suite(), true);
}
