/* Full-jitter backoff: its bounds, its behaviour at huge attempt numbers, and its spread. */
#include <check.h>
#include <stdint.h>

#include "ms/breaker.h"
#include "runner.h"

enum { DRAWS = 1000 };

/* min(cap, base * 2^attempt), computed the slow, obviously correct way. */
static int64_t ceiling_for(int attempt, int64_t base, int64_t cap)
{
    int64_t c = base;

    for (int i = 0; i < attempt && c < cap; i++)
        c *= 2;
    return c < cap ? c : cap;
}

START_TEST(test_backoff_stays_within_bounds)
{
    const int64_t base = 25, cap = 250;

    for (int attempt = 0; attempt < 12; attempt++) {
        int64_t ceiling = ceiling_for(attempt, base, cap);

        for (int i = 0; i < DRAWS; i++) {
            int64_t d = ms_backoff_ms(attempt, base, cap);
            ck_assert_int_ge(d, 0);
            ck_assert_int_le(d, ceiling);
        }
    }
}
END_TEST

START_TEST(test_backoff_first_retry_bounded_by_base)
{
    for (int i = 0; i < DRAWS; i++)
        ck_assert_int_le(ms_backoff_ms(0, 40, 10000), 40);
}
END_TEST

START_TEST(test_backoff_large_attempt_does_not_overflow)
{
    const int attempts[] = {62, 63, 64, 100, 1000, INT32_MAX};

    for (size_t a = 0; a < sizeof(attempts) / sizeof(attempts[0]); a++) {
        for (int i = 0; i < DRAWS; i++) {
            int64_t d = ms_backoff_ms(attempts[a], 25, 250);
            ck_assert_int_ge(d, 0);
            ck_assert_int_le(d, 250);
        }
    }
}
END_TEST

START_TEST(test_backoff_huge_cap_does_not_overflow)
{
    for (int i = 0; i < DRAWS; i++) {
        ck_assert_int_ge(ms_backoff_ms(70, INT64_MAX / 2, INT64_MAX), 0);
        ck_assert_int_ge(ms_backoff_ms(1, INT64_MAX / 2 + 1, INT64_MAX), 0);
    }
}
END_TEST

START_TEST(test_backoff_degenerate_inputs_give_zero)
{
    ck_assert_int_eq(ms_backoff_ms(3, 0, 250), 0);
    ck_assert_int_eq(ms_backoff_ms(3, 25, 0), 0);
    ck_assert_int_eq(ms_backoff_ms(3, -5, 250), 0);
    for (int i = 0; i < DRAWS; i++)
        ck_assert_int_le(ms_backoff_ms(-1, 25, 250), 25); /* a negative attempt acts as 0 */
}
END_TEST

START_TEST(test_backoff_is_spread_over_the_range)
{
    int small = 0, large = 0;
    int64_t lo = INT64_MAX, hi = -1;

    /* Ceiling 1000: a constant or a narrow band would miss one of the tenths below. */
    for (int i = 0; i < DRAWS; i++) {
        int64_t d = ms_backoff_ms(3, 125, 1000);
        small += d < 100;
        large += d > 900;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    ck_assert_int_gt(small, 0);
    ck_assert_int_gt(large, 0);
    ck_assert_int_gt(hi - lo, 500);
}
END_TEST

static Suite *backoff_suite(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("jitter");

    tcase_add_test(tc, test_backoff_stays_within_bounds);
    tcase_add_test(tc, test_backoff_first_retry_bounded_by_base);
    tcase_add_test(tc, test_backoff_large_attempt_does_not_overflow);
    tcase_add_test(tc, test_backoff_huge_cap_does_not_overflow);
    tcase_add_test(tc, test_backoff_degenerate_inputs_give_zero);
    tcase_add_test(tc, test_backoff_is_spread_over_the_range);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ms_test_main(backoff_suite(), true);
}
