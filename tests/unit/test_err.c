/* The one mapping from error codes to HTTP statuses, envelope codes and messages. */
#include <check.h>
#include <string.h>

#include "ms/err.h"
#include "runner.h"

struct mapping {
    int err;
    int status;
    const char *code;
};

/* The statuses err.h documents for each code, and the envelope codes clients depend on. */
static const struct mapping documented[] = {
    {MS_EINVAL, 400, "invalid_argument"}, {MS_ENOTFOUND, 404, "not_found"},
    {MS_ECONFLICT, 409, "conflict"},      {MS_EUNAVAIL, 503, "unavailable"},
    {MS_ETIMEDOUT, 503, "unavailable"},   {MS_ETOOBIG, 413, "payload_too_large"},
    {MS_ENOMEM, 500, "internal"},         {MS_EINTERNAL, 500, "internal"},
};

/* Codes no enum ms_err names: each is a bug, answered as one. */
static const int unknown_codes[] = {-9, -99, 1, 404, -2147483647 - 1};

enum {
    NDOCUMENTED = sizeof(documented) / sizeof(documented[0]),
    NUNKNOWN = sizeof(unknown_codes) / sizeof(unknown_codes[0]),
};

START_TEST(test_err_maps_code_to_documented_status)
{
    const struct mapping *m = &documented[_i];

    ck_assert_msg(ms_err_http_status(m->err) == m->status, "err %d: status %d, want %d", m->err,
                  ms_err_http_status(m->err), m->status);
}
END_TEST

START_TEST(test_err_maps_code_to_envelope_code)
{
    const struct mapping *m = &documented[_i];

    ck_assert_str_eq(ms_err_code(m->err), m->code);
}
END_TEST

START_TEST(test_err_strerror_is_nonempty)
{
    const char *text = ms_strerror(documented[_i].err);

    ck_assert_ptr_nonnull(text);
    ck_assert_str_ne(text, "");
}
END_TEST

START_TEST(test_err_unknown_code_is_500)
{
    ck_assert_int_eq(ms_err_http_status(unknown_codes[_i]), 500);
}
END_TEST

START_TEST(test_err_unknown_code_is_internal)
{
    ck_assert_str_eq(ms_err_code(unknown_codes[_i]), "internal");
}
END_TEST

START_TEST(test_err_unknown_code_has_message)
{
    const char *text = ms_strerror(unknown_codes[_i]);

    ck_assert_ptr_nonnull(text);
    ck_assert_str_ne(text, "");
}
END_TEST

/* Several codes share a status and envelope code (timeout and unavailable are both 503
 * "unavailable"); the logged message is what tells them apart. */
START_TEST(test_err_strerror_tells_codes_apart)
{
    for (int j = 0; j < NDOCUMENTED; j++)
        if (j != _i)
            ck_assert_str_ne(ms_strerror(documented[_i].err), ms_strerror(documented[j].err));
}
END_TEST

static Suite *err_suite(void)
{
    Suite *s = suite_create("err");
    TCase *known = tcase_create("known");
    TCase *unknown = tcase_create("unknown");

    tcase_add_loop_test(known, test_err_maps_code_to_documented_status, 0, NDOCUMENTED);
    tcase_add_loop_test(known, test_err_maps_code_to_envelope_code, 0, NDOCUMENTED);
    tcase_add_loop_test(known, test_err_strerror_is_nonempty, 0, NDOCUMENTED);
    tcase_add_loop_test(known, test_err_strerror_tells_codes_apart, 0, NDOCUMENTED);
    suite_add_tcase(s, known);

    tcase_add_loop_test(unknown, test_err_unknown_code_is_500, 0, NUNKNOWN);
    tcase_add_loop_test(unknown, test_err_unknown_code_is_internal, 0, NUNKNOWN);
    tcase_add_loop_test(unknown, test_err_unknown_code_has_message, 0, NUNKNOWN);
    suite_add_tcase(s, unknown);
    return s;
}

int main(void)
{
    return ms_test_main(err_suite(), true);
}
