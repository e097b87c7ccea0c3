/* Strict JSON parsing, the typed field readers and their messages, and ms_parse_ll. */
#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ms/err.h"
#include "ms/json.h"
#include "runner.h"

static struct ms_verr e;
static json_t *doc;

static void setup(void)
{
    memset(&e, 0, sizeof(e));
    doc = NULL;
}

static void teardown(void)
{
    json_decref(doc);
    doc = NULL;
}

/* Parses a NUL-terminated text through ms_json_parse into doc. */
static json_t *parse(const char *text)
{
    doc = ms_json_parse(text, strlen(text), &e);
    return doc;
}

/* Parses text that must be a valid document; doc holds it. */
static void given(const char *text)
{
    ck_assert_msg(parse(text) != NULL, "fixture document refused: %s", e.msg);
}

/* A document refused, with a reason given. */
static void assert_refused(const char *text)
{
    ck_assert_msg(parse(text) == NULL, "accepted: %s", text);
    ck_assert_str_ne(e.msg, "");
}

/* ms_json_parse */

START_TEST(test_json_parse_accepts_object)
{
    given("{\"quantity\": 3, \"name\": \"mug\"}");
    ck_assert(json_is_object(doc));
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "quantity")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "name")), "mug");
}
END_TEST

START_TEST(test_json_parse_reads_only_len_bytes)
{
    const char buf[] = "{\"a\":1}{\"b\":2";

    doc = ms_json_parse(buf, strlen("{\"a\":1}"), &e);
    ck_assert_ptr_nonnull(doc);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "a")), 1);
}
END_TEST

START_TEST(test_json_parse_rejects_empty_body)
{
    doc = ms_json_parse("", 0, &e);
    ck_assert_ptr_null(doc);
    ck_assert_str_eq(e.msg, "request body must be a JSON document");
}
END_TEST

START_TEST(test_json_parse_rejects_whitespace_body)
{
    assert_refused("  \n ");
}
END_TEST

START_TEST(test_json_parse_rejects_duplicate_keys)
{
    assert_refused("{\"id\": 1, \"id\": 2}");
}
END_TEST

START_TEST(test_json_parse_rejects_duplicate_keys_in_nested_object)
{
    assert_refused("{\"items\": [{\"sku\": \"a\", \"sku\": \"b\"}]}");
}
END_TEST

START_TEST(test_json_parse_rejects_invalid_utf8)
{
    assert_refused("{\"name\": \"\xff\"}");
}
END_TEST

START_TEST(test_json_parse_rejects_overlong_utf8)
{
    assert_refused("{\"name\": \"\xc0\xaf\"}"); /* '/' in two bytes */
}
END_TEST

START_TEST(test_json_parse_rejects_truncated_utf8)
{
    assert_refused("{\"name\": \"\xe2\x82\"}"); /* the first two bytes of U+20AC */
}
END_TEST

START_TEST(test_json_parse_rejects_lone_surrogate_escape)
{
    assert_refused("{\"name\": \"\\ud800\"}");
}
END_TEST

START_TEST(test_json_parse_accepts_escaped_non_ascii)
{
    given("{\"name\": \"\\u00e9\\ud83d\\ude00\"}");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "name")), "\xc3\xa9\xf0\x9f\x98\x80");
}
END_TEST

START_TEST(test_json_parse_rejects_escaped_nul)
{
    assert_refused("{\"name\": \"a\\u0000b\"}");
}
END_TEST

START_TEST(test_json_parse_rejects_raw_nul_byte)
{
    const char buf[] = "{\"name\": \"a\0b\"}";

    doc = ms_json_parse(buf, sizeof(buf) - 1, &e);
    ck_assert_ptr_null(doc);
    ck_assert_str_ne(e.msg, "");
}
END_TEST

START_TEST(test_json_parse_rejects_huge_integer)
{
    assert_refused("{\"n\": 99999999999999999999}");
}
END_TEST

START_TEST(test_json_parse_rejects_integer_just_past_int64)
{
    assert_refused("{\"n\": 9223372036854775808}");
}
END_TEST

START_TEST(test_json_parse_accepts_int64_limits)
{
    given("{\"max\": 9223372036854775807, \"min\": -9223372036854775808}");
    ck_assert(json_integer_value(json_object_get(doc, "max")) == LLONG_MAX);
    ck_assert(json_integer_value(json_object_get(doc, "min")) == LLONG_MIN);
}
END_TEST

START_TEST(test_json_parse_rejects_real_overflow)
{
    assert_refused("{\"n\": 1e400}");
}
END_TEST

START_TEST(test_json_parse_rejects_negative_real_overflow)
{
    assert_refused("{\"n\": -1e400}");
}
END_TEST

START_TEST(test_json_parse_rejects_trailing_garbage)
{
    assert_refused("{\"a\": 1} x");
}
END_TEST

START_TEST(test_json_parse_rejects_second_document)
{
    assert_refused("{\"a\": 1}{\"b\": 2}");
}
END_TEST

START_TEST(test_json_parse_error_names_line_and_column)
{
    assert_refused("{\n\"a\": }");
    ck_assert_msg(strstr(e.msg, "line 2") != NULL, "message: %s", e.msg);
    ck_assert_msg(strstr(e.msg, "column") != NULL, "message: %s", e.msg);
}
END_TEST

/* A document nested depth levels deep in arrays: "[[[...]]]", malloc'd. */
static char *nested(size_t depth, size_t *len)
{
    char *text = malloc(2 * depth + 1);

    ck_assert_ptr_nonnull(text);
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    text[2 * depth] = '\0';
    *len = 2 * depth;
    return text;
}

START_TEST(test_json_parse_refuses_deep_nesting_without_crash)
{
    size_t len;
    char *text = nested(200000, &len);

    doc = ms_json_parse(text, len, &e);
    free(text);
    ck_assert_ptr_null(doc);
    ck_assert_str_ne(e.msg, "");
}
END_TEST

START_TEST(test_json_parse_refuses_unclosed_deep_nesting_without_crash)
{
    size_t len;
    char *text = nested(200000, &len);

    doc = ms_json_parse(text, len / 2, &e); /* only the opening brackets */
    free(text);
    ck_assert_ptr_null(doc);
    ck_assert_str_ne(e.msg, "");
}
END_TEST

START_TEST(test_json_parse_accepts_moderate_nesting)
{
    size_t len;
    char *text = nested(100, &len);

    doc = ms_json_parse(text, len, &e);
    free(text);
    ck_assert_ptr_nonnull(doc);
}
END_TEST

/* ms_json_object_with_keys */

START_TEST(test_json_object_accepts_allowed_keys)
{
    given("{\"email\": \"a@b\", \"name\": \"A\"}");
    ck_assert_int_eq(ms_json_object_with_keys(doc, "email,name", &e), 0);
}
END_TEST

START_TEST(test_json_object_accepts_subset_of_keys)
{
    given("{\"name\": \"A\"}");
    ck_assert_int_eq(ms_json_object_with_keys(doc, "email,name,phone", &e), 0);
}
END_TEST

START_TEST(test_json_object_accepts_empty_object)
{
    given("{}");
    ck_assert_int_eq(ms_json_object_with_keys(doc, "email,name", &e), 0);
}
END_TEST

START_TEST(test_json_object_rejects_unknown_field)
{
    given("{\"email\": \"a@b\", \"admin\": true}");
    ck_assert_int_eq(ms_json_object_with_keys(doc, "email,name", &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "unknown field \"admin\" (expected: email,name)");
}
END_TEST

START_TEST(test_json_object_rejects_prefix_of_allowed_key)
{
    given("{\"emai\": \"a@b\"}");
    ck_assert_int_eq(ms_json_object_with_keys(doc, "email,name", &e), MS_EINVAL);
}
END_TEST

START_TEST(test_json_object_rejects_extension_of_allowed_key)
{
    given("{\"names\": \"A\"}");
    ck_assert_int_eq(ms_json_object_with_keys(doc, "email,name", &e), MS_EINVAL);
}
END_TEST

START_TEST(test_json_object_rejects_key_spanning_two_allowed)
{
    given("{\"email,name\": \"x\"}");
    ck_assert_int_eq(ms_json_object_with_keys(doc, "email,name", &e), MS_EINVAL);
}
END_TEST

START_TEST(test_json_object_rejects_empty_key)
{
    given("{\"\": 1}");
    ck_assert_int_eq(ms_json_object_with_keys(doc, "email,name", &e), MS_EINVAL);
}
END_TEST

START_TEST(test_json_object_rejects_array)
{
    given("[1, 2]");
    ck_assert_int_eq(ms_json_object_with_keys(doc, "email", &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "request body must be a JSON object");
}
END_TEST

START_TEST(test_json_object_rejects_null_document)
{
    ck_assert_int_eq(ms_json_object_with_keys(NULL, "email", &e), MS_EINVAL);
}
END_TEST

START_TEST(test_json_object_truncated_unknown_key_stays_valid_utf8)
{
    char key[64], text[200], quoted[80];
    json_t *msg;

    /* 63 ASCII bytes, then U+00E9: a cut at 64 bytes would split the character, and the message
     * could then not be put in the JSON error envelope. */
    memset(key, 'a', 63);
    key[63] = '\0';
    snprintf(text, sizeof(text), "{\"%s\\u00e9\": 1}", key);
    snprintf(quoted, sizeof(quoted), "\"%s\"", key);
    given(text);
    ck_assert_int_eq(ms_json_object_with_keys(doc, "email", &e), MS_EINVAL);
    msg = json_string(e.msg); /* NULL when not valid UTF-8 */
    ck_assert_msg(msg != NULL, "message is not valid UTF-8: %s", e.msg);
    json_decref(msg);
    ck_assert_msg(strstr(e.msg, quoted) != NULL, "message: %s", e.msg);
}
END_TEST

/* ms_json_int and ms_json_int_opt */

START_TEST(test_json_int_reads_value_in_range)
{
    long long n = 0;

    given("{\"quantity\": 5}");
    ck_assert_int_eq(ms_json_int(doc, "quantity", 1, 99, &n, &e), 0);
    ck_assert_int_eq(n, 5);
}
END_TEST

START_TEST(test_json_int_accepts_range_bounds)
{
    long long lo = 0, hi = 0;

    given("{\"lo\": 1, \"hi\": 99}");
    ck_assert_int_eq(ms_json_int(doc, "lo", 1, 99, &lo, &e), 0);
    ck_assert_int_eq(ms_json_int(doc, "hi", 1, 99, &hi, &e), 0);
    ck_assert_int_eq(lo, 1);
    ck_assert_int_eq(hi, 99);
}
END_TEST

START_TEST(test_json_int_accepts_full_int64_range)
{
    long long n = 0;

    given("{\"n\": -9223372036854775808}");
    ck_assert_int_eq(ms_json_int(doc, "n", LLONG_MIN, LLONG_MAX, &n, &e), 0);
    ck_assert(n == LLONG_MIN);
}
END_TEST

START_TEST(test_json_int_rejects_below_min)
{
    long long n = -5;

    given("{\"quantity\": 0}");
    ck_assert_int_eq(ms_json_int(doc, "quantity", 1, 99, &n, &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "quantity must be an integer from 1 to 99");
    ck_assert_int_eq(n, -5);
}
END_TEST

START_TEST(test_json_int_rejects_above_max)
{
    long long n = -5;

    given("{\"quantity\": 100}");
    ck_assert_int_eq(ms_json_int(doc, "quantity", 1, 99, &n, &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "quantity must be an integer from 1 to 99");
    ck_assert_int_eq(n, -5);
}
END_TEST

START_TEST(test_json_int_rejects_real)
{
    long long n = -5;

    given("{\"quantity\": 5.0}");
    ck_assert_int_eq(ms_json_int(doc, "quantity", 1, 99, &n, &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "quantity must be an integer from 1 to 99");
    ck_assert_int_eq(n, -5);
}
END_TEST

START_TEST(test_json_int_rejects_exponent_form)
{
    long long n = -5;

    given("{\"quantity\": 5e0}");
    ck_assert_int_eq(ms_json_int(doc, "quantity", 1, 99, &n, &e), MS_EINVAL);
    ck_assert_int_eq(n, -5);
}
END_TEST

START_TEST(test_json_int_rejects_string)
{
    long long n = -5;

    given("{\"quantity\": \"5\"}");
    ck_assert_int_eq(ms_json_int(doc, "quantity", 1, 99, &n, &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "quantity must be an integer from 1 to 99");
    ck_assert_int_eq(n, -5);
}
END_TEST

START_TEST(test_json_int_rejects_boolean)
{
    long long n = -5;

    given("{\"quantity\": true}");
    ck_assert_int_eq(ms_json_int(doc, "quantity", 0, 99, &n, &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "quantity must be an integer from 0 to 99");
    ck_assert_int_eq(n, -5);
}
END_TEST

START_TEST(test_json_int_rejects_null_as_missing)
{
    long long n = -5;

    given("{\"quantity\": null}");
    ck_assert_int_eq(ms_json_int(doc, "quantity", 1, 99, &n, &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "quantity is required");
    ck_assert_int_eq(n, -5);
}
END_TEST

START_TEST(test_json_int_rejects_missing_field)
{
    long long n = -5;

    given("{\"other\": 1}");
    ck_assert_int_eq(ms_json_int(doc, "quantity", 1, 99, &n, &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "quantity is required");
    ck_assert_int_eq(n, -5);
}
END_TEST

START_TEST(test_json_int_opt_absent_gives_default)
{
    long long n = 0;

    given("{}");
    ck_assert_int_eq(ms_json_int_opt(doc, "limit", 1, 100, 20, &n, &e), 0);
    ck_assert_int_eq(n, 20);
}
END_TEST

START_TEST(test_json_int_opt_null_gives_default)
{
    long long n = 0;

    given("{\"limit\": null}");
    ck_assert_int_eq(ms_json_int_opt(doc, "limit", 1, 100, 20, &n, &e), 0);
    ck_assert_int_eq(n, 20);
}
END_TEST

START_TEST(test_json_int_opt_present_value_wins)
{
    long long n = 0;

    given("{\"limit\": 50}");
    ck_assert_int_eq(ms_json_int_opt(doc, "limit", 1, 100, 20, &n, &e), 0);
    ck_assert_int_eq(n, 50);
}
END_TEST

START_TEST(test_json_int_opt_checks_range_of_present_value)
{
    long long n = -5;

    given("{\"limit\": 101}");
    ck_assert_int_eq(ms_json_int_opt(doc, "limit", 1, 100, 20, &n, &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "limit must be an integer from 1 to 100");
    ck_assert_int_eq(n, -5);
}
END_TEST

START_TEST(test_json_int_opt_rejects_real)
{
    long long n = -5;

    given("{\"limit\": 2.5}");
    ck_assert_int_eq(ms_json_int_opt(doc, "limit", 1, 100, 20, &n, &e), MS_EINVAL);
    ck_assert_int_eq(n, -5);
}
END_TEST

START_TEST(test_json_int_opt_rejects_string)
{
    long long n = -5;

    given("{\"limit\": \"50\"}");
    ck_assert_int_eq(ms_json_int_opt(doc, "limit", 1, 100, 20, &n, &e), MS_EINVAL);
    ck_assert_int_eq(n, -5);
}
END_TEST

START_TEST(test_json_int_opt_rejects_boolean)
{
    long long n = -5;

    given("{\"limit\": false}");
    ck_assert_int_eq(ms_json_int_opt(doc, "limit", 0, 100, 20, &n, &e), MS_EINVAL);
    ck_assert_int_eq(n, -5);
}
END_TEST

/* ms_json_str */

START_TEST(test_json_str_reads_borrowed_value)
{
    const char *s = NULL;

    given("{\"name\": \"mug\"}");
    ck_assert_int_eq(ms_json_str(doc, "name", 1, 10, &s, &e), 0);
    ck_assert_str_eq(s, "mug");
    ck_assert_ptr_eq(s, json_string_value(json_object_get(doc, "name")));
}
END_TEST

START_TEST(test_json_str_accepts_length_bounds)
{
    const char *lo = NULL, *hi = NULL;

    given("{\"lo\": \"ab\", \"hi\": \"abcd\"}");
    ck_assert_int_eq(ms_json_str(doc, "lo", 2, 4, &lo, &e), 0);
    ck_assert_int_eq(ms_json_str(doc, "hi", 2, 4, &hi, &e), 0);
    ck_assert_str_eq(lo, "ab");
    ck_assert_str_eq(hi, "abcd");
}
END_TEST

START_TEST(test_json_str_rejects_too_short)
{
    const char *s = "untouched";

    given("{\"name\": \"a\"}");
    ck_assert_int_eq(ms_json_str(doc, "name", 2, 4, &s, &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "name must be 2 to 4 characters long");
    ck_assert_str_eq(s, "untouched");
}
END_TEST

START_TEST(test_json_str_rejects_too_long)
{
    const char *s = "untouched";

    given("{\"name\": \"abcde\"}");
    ck_assert_int_eq(ms_json_str(doc, "name", 2, 4, &s, &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "name must be 2 to 4 characters long");
    ck_assert_str_eq(s, "untouched");
}
END_TEST

START_TEST(test_json_str_rejects_empty_when_min_is_one)
{
    const char *s = "untouched";

    given("{\"name\": \"\"}");
    ck_assert_int_eq(ms_json_str(doc, "name", 1, 4, &s, &e), MS_EINVAL);
    ck_assert_str_eq(s, "untouched");
}
END_TEST

START_TEST(test_json_str_counts_bytes_not_characters)
{
    const char *s = "untouched";

    given("{\"name\": \"\\u00e9\\u00e9\"}"); /* two characters, four bytes */
    ck_assert_int_eq(ms_json_str(doc, "name", 1, 3, &s, &e), MS_EINVAL);
    ck_assert_str_eq(s, "untouched");
}
END_TEST

START_TEST(test_json_str_rejects_number)
{
    const char *s = "untouched";

    given("{\"name\": 5}");
    ck_assert_int_eq(ms_json_str(doc, "name", 0, 4, &s, &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "name must be a string");
    ck_assert_str_eq(s, "untouched");
}
END_TEST

START_TEST(test_json_str_rejects_missing_and_null)
{
    const char *s = "untouched";

    given("{\"name\": null}");
    ck_assert_int_eq(ms_json_str(doc, "name", 0, 4, &s, &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "name is required");
    ck_assert_int_eq(ms_json_str(doc, "email", 0, 4, &s, &e), MS_EINVAL);
    ck_assert_str_eq(e.msg, "email is required");
    ck_assert_str_eq(s, "untouched");
}
END_TEST

/* ms_parse_ll */

START_TEST(test_parse_ll_reads_plain_digits)
{
    long long n = 0;

    ck_assert_int_eq(ms_parse_ll("42", 0, 100, &n), 0);
    ck_assert_int_eq(n, 42);
}
END_TEST

START_TEST(test_parse_ll_reads_negative)
{
    long long n = 0;

    ck_assert_int_eq(ms_parse_ll("-7", -10, 10, &n), 0);
    ck_assert_int_eq(n, -7);
}
END_TEST

START_TEST(test_parse_ll_reads_zero)
{
    long long n = 5;

    ck_assert_int_eq(ms_parse_ll("0", 0, 10, &n), 0);
    ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_parse_ll_accepts_bounds)
{
    long long lo = 0, hi = 0;

    ck_assert_int_eq(ms_parse_ll("1", 1, 99, &lo), 0);
    ck_assert_int_eq(ms_parse_ll("99", 1, 99, &hi), 0);
    ck_assert_int_eq(lo, 1);
    ck_assert_int_eq(hi, 99);
}
END_TEST

START_TEST(test_parse_ll_accepts_int64_extremes)
{
    long long lo = 0, hi = 0;

    ck_assert_int_eq(ms_parse_ll("-9223372036854775808", LLONG_MIN, LLONG_MAX, &lo), 0);
    ck_assert_int_eq(ms_parse_ll("9223372036854775807", LLONG_MIN, LLONG_MAX, &hi), 0);
    ck_assert(lo == LLONG_MIN);
    ck_assert(hi == LLONG_MAX);
}
END_TEST

/* Texts ms_parse_ll must refuse with the widest bounds, leaving *out alone. */
static const char *const refused_texts[] = {
    "+1",
    " 1",
    "1 ",
    "0x10",
    "",
    "-",
    "--1",
    "1a",
    "a1",
    "1.0",
    "1e3",
    "\t1",
    "-+1",
    "- 1",
    "9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999",
};

START_TEST(test_parse_ll_rejects_malformed_text)
{
    long long n = 12345;

    ck_assert_msg(ms_parse_ll(refused_texts[_i], LLONG_MIN, LLONG_MAX, &n) == MS_EINVAL,
                  "accepted \"%s\"", refused_texts[_i]);
    ck_assert_int_eq(n, 12345);
}
END_TEST

START_TEST(test_parse_ll_rejects_null)
{
    long long n = 12345;

    ck_assert_int_eq(ms_parse_ll(NULL, 0, 10, &n), MS_EINVAL);
    ck_assert_int_eq(n, 12345);
}
END_TEST

START_TEST(test_parse_ll_rejects_below_min)
{
    long long n = 12345;

    ck_assert_int_eq(ms_parse_ll("0", 1, 99, &n), MS_EINVAL);
    ck_assert_int_eq(n, 12345);
}
END_TEST

START_TEST(test_parse_ll_rejects_above_max)
{
    long long n = 12345;

    ck_assert_int_eq(ms_parse_ll("100", 1, 99, &n), MS_EINVAL);
    ck_assert_int_eq(n, 12345);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *parsing = tcase_create("parse");
    TCase *object = tcase_create("object");
    TCase *ints = tcase_create("int");
    TCase *strs = tcase_create("str");
    TCase *ll = tcase_create("parse_ll");

    tcase_add_checked_fixture(parsing, setup, teardown);
    tcase_add_test(parsing, test_json_parse_accepts_object);
    tcase_add_test(parsing, test_json_parse_reads_only_len_bytes);
    tcase_add_test(parsing, test_json_parse_rejects_empty_body);
    tcase_add_test(parsing, test_json_parse_rejects_whitespace_body);
    tcase_add_test(parsing, test_json_parse_rejects_duplicate_keys);
    tcase_add_test(parsing, test_json_parse_rejects_duplicate_keys_in_nested_object);
    tcase_add_test(parsing, test_json_parse_rejects_invalid_utf8);
    tcase_add_test(parsing, test_json_parse_rejects_overlong_utf8);
    tcase_add_test(parsing, test_json_parse_rejects_truncated_utf8);
    tcase_add_test(parsing, test_json_parse_rejects_lone_surrogate_escape);
    tcase_add_test(parsing, test_json_parse_accepts_escaped_non_ascii);
    tcase_add_test(parsing, test_json_parse_rejects_escaped_nul);
    tcase_add_test(parsing, test_json_parse_rejects_raw_nul_byte);
    tcase_add_test(parsing, test_json_parse_rejects_huge_integer);
    tcase_add_test(parsing, test_json_parse_rejects_integer_just_past_int64);
    tcase_add_test(parsing, test_json_parse_accepts_int64_limits);
    tcase_add_test(parsing, test_json_parse_rejects_real_overflow);
    tcase_add_test(parsing, test_json_parse_rejects_negative_real_overflow);
    tcase_add_test(parsing, test_json_parse_rejects_trailing_garbage);
    tcase_add_test(parsing, test_json_parse_rejects_second_document);
    tcase_add_test(parsing, test_json_parse_error_names_line_and_column);
    tcase_add_test(parsing, test_json_parse_refuses_deep_nesting_without_crash);
    tcase_add_test(parsing, test_json_parse_refuses_unclosed_deep_nesting_without_crash);
    tcase_add_test(parsing, test_json_parse_accepts_moderate_nesting);
    suite_add_tcase(s, parsing);

    tcase_add_checked_fixture(object, setup, teardown);
    tcase_add_test(object, test_json_object_accepts_allowed_keys);
    tcase_add_test(object, test_json_object_accepts_subset_of_keys);
    tcase_add_test(object, test_json_object_accepts_empty_object);
    tcase_add_test(object, test_json_object_rejects_unknown_field);
    tcase_add_test(object, test_json_object_rejects_prefix_of_allowed_key);
    tcase_add_test(object, test_json_object_rejects_extension_of_allowed_key);
    tcase_add_test(object, test_json_object_rejects_key_spanning_two_allowed);
    tcase_add_test(object, test_json_object_rejects_empty_key);
    tcase_add_test(object, test_json_object_rejects_array);
    tcase_add_test(object, test_json_object_rejects_null_document);
    tcase_add_test(object, test_json_object_truncated_unknown_key_stays_valid_utf8);
    suite_add_tcase(s, object);

    tcase_add_checked_fixture(ints, setup, teardown);
    tcase_add_test(ints, test_json_int_reads_value_in_range);
    tcase_add_test(ints, test_json_int_accepts_range_bounds);
    tcase_add_test(ints, test_json_int_accepts_full_int64_range);
    tcase_add_test(ints, test_json_int_rejects_below_min);
    tcase_add_test(ints, test_json_int_rejects_above_max);
    tcase_add_test(ints, test_json_int_rejects_real);
    tcase_add_test(ints, test_json_int_rejects_exponent_form);
    tcase_add_test(ints, test_json_int_rejects_string);
    tcase_add_test(ints, test_json_int_rejects_boolean);
    tcase_add_test(ints, test_json_int_rejects_null_as_missing);
    tcase_add_test(ints, test_json_int_rejects_missing_field);
    tcase_add_test(ints, test_json_int_opt_absent_gives_default);
    tcase_add_test(ints, test_json_int_opt_null_gives_default);
    tcase_add_test(ints, test_json_int_opt_present_value_wins);
    tcase_add_test(ints, test_json_int_opt_checks_range_of_present_value);
    tcase_add_test(ints, test_json_int_opt_rejects_real);
    tcase_add_test(ints, test_json_int_opt_rejects_string);
    tcase_add_test(ints, test_json_int_opt_rejects_boolean);
    suite_add_tcase(s, ints);

    tcase_add_checked_fixture(strs, setup, teardown);
    tcase_add_test(strs, test_json_str_reads_borrowed_value);
    tcase_add_test(strs, test_json_str_accepts_length_bounds);
    tcase_add_test(strs, test_json_str_rejects_too_short);
    tcase_add_test(strs, test_json_str_rejects_too_long);
    tcase_add_test(strs, test_json_str_rejects_empty_when_min_is_one);
    tcase_add_test(strs, test_json_str_counts_bytes_not_characters);
    tcase_add_test(strs, test_json_str_rejects_number);
    tcase_add_test(strs, test_json_str_rejects_missing_and_null);
    suite_add_tcase(s, strs);

    tcase_add_test(ll, test_parse_ll_reads_plain_digits);
    tcase_add_test(ll, test_parse_ll_reads_negative);
    tcase_add_test(ll, test_parse_ll_reads_zero);
    tcase_add_test(ll, test_parse_ll_accepts_bounds);
    tcase_add_test(ll, test_parse_ll_accepts_int64_extremes);
    tcase_add_loop_test(ll, test_parse_ll_rejects_malformed_text, 0,
                        (int)(sizeof(refused_texts) / sizeof(refused_texts[0])));
    tcase_add_test(ll, test_parse_ll_rejects_null);
    tcase_add_test(ll, test_parse_ll_rejects_below_min);
    tcase_add_test(ll, test_parse_ll_rejects_above_max);
    suite_add_tcase(s, ll);
    return s;
}

int main(void)
{
    return ms_test_main(json_suite(), true);
}
