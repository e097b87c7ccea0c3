/* The circuit breaker state machine, driven with injected time so nothing sleeps. */
#include <check.h>
#include <stdbool.h>
#include <string.h>

#include "ms/breaker.h"
#include "runner.h"

enum { THRESHOLD = 3, OPEN_MS = 1000, HALF_OPEN_MAX = 2 };

static struct ms_breaker b;

static void setup(void)
{
    struct ms_breaker_config cfg = {
        .failure_threshold = THRESHOLD, .open_ms = OPEN_MS, .half_open_max = HALF_OPEN_MAX};

    ms_breaker_init(&b, &cfg);
}

static void teardown(void)
{
    ms_breaker_destroy(&b);
}

/* One allowed call with its outcome; fails the test if the breaker refused it. */
static enum ms_breaker_state call(bool success, int64_t now, bool *changed)
{
    ck_assert(ms_breaker_allow(&b, now));
    return ms_breaker_record(&b, success, now, changed);
}

/* Opens the breaker at time now with THRESHOLD consecutive failures. */
static void trip(int64_t now)
{
    for (int i = 0; i < THRESHOLD; i++)
        call(false, now, NULL);
    ck_assert_int_eq(ms_breaker_state_get(&b), MS_BREAKER_OPEN);
}

/* Every state change, and only a change, moves the snapshot's count on, so the newer of two
 * snapshots can always be told from the older. */
START_TEST(test_breaker_snapshot_counts_every_change_and_only_changes)
{
    uint64_t before, after;

    ck_assert_int_eq(ms_breaker_snapshot(&b, &before), MS_BREAKER_CLOSED);
    call(true, 0, NULL);
    ck_assert_int_eq(ms_breaker_snapshot(&b, &after), MS_BREAKER_CLOSED);
    ck_assert_uint_eq(after, before);
    trip(0);
    ck_assert_int_eq(ms_breaker_snapshot(&b, &after), MS_BREAKER_OPEN);
    ck_assert_uint_eq(after, before + 1);
    ck_assert(!ms_breaker_allow(&b, 1));
    ck_assert_int_eq(ms_breaker_snapshot(&b, &after), MS_BREAKER_OPEN);
    ck_assert_uint_eq(after, before + 1);
    call(false, 1000000, NULL); /* half-open, then open again */
    ck_assert_int_eq(ms_breaker_snapshot(&b, &after), MS_BREAKER_OPEN);
    ck_assert_uint_eq(after, before + 3);
    call(true, 3000000, NULL); /* half-open, then closed */
    ck_assert_int_eq(ms_breaker_snapshot(&b, &after), MS_BREAKER_CLOSED);
    ck_assert_uint_eq(after, before + 5);
}
END_TEST

START_TEST(test_breaker_zero_config_takes_defaults)
{
    struct ms_breaker d;
    struct ms_breaker_config zero = {0};

    ms_breaker_init(&d, &zero);
    ck_assert_int_eq(d.cfg.failure_threshold, 5);
    ck_assert_int_eq(d.cfg.open_ms, 5000);
    ck_assert_int_eq(d.cfg.half_open_max, 1);
    ck_assert_int_eq(ms_breaker_state_get(&d), MS_BREAKER_CLOSED);
    ms_breaker_destroy(&d);
}
END_TEST

START_TEST(test_breaker_opens_exactly_at_threshold)
{
    bool changed = true;

    for (int i = 0; i < THRESHOLD - 1; i++) {
        ck_assert_int_eq(call(false, 0, &changed), MS_BREAKER_CLOSED);
        ck_assert(!changed);
    }
    ck_assert_int_eq(call(false, 0, &changed), MS_BREAKER_OPEN);
    ck_assert(changed);
}
END_TEST

START_TEST(test_breaker_success_in_closed_resets_count)
{
    for (int i = 0; i < THRESHOLD - 1; i++)
        call(false, 0, NULL);
    ck_assert_int_eq(call(true, 0, NULL), MS_BREAKER_CLOSED);
    /* The count starts again: THRESHOLD - 1 more failures still leave it closed. */
    for (int i = 0; i < THRESHOLD - 1; i++)
        ck_assert_int_eq(call(false, 0, NULL), MS_BREAKER_CLOSED);
    ck_assert_int_eq(call(false, 0, NULL), MS_BREAKER_OPEN);
}
END_TEST

START_TEST(test_breaker_success_in_closed_reports_no_change)
{
    bool changed = true;

    ck_assert_int_eq(call(true, 0, &changed), MS_BREAKER_CLOSED);
    ck_assert(!changed);
}
END_TEST

START_TEST(test_breaker_refuses_while_open)
{
    trip(100);
    ck_assert(!ms_breaker_allow(&b, 100));
    ck_assert(!ms_breaker_allow(&b, 100 + OPEN_MS / 2));
    ck_assert(!ms_breaker_allow(&b, 100 + OPEN_MS - 1));
    ck_assert_int_eq(ms_breaker_state_get(&b), MS_BREAKER_OPEN);
}
END_TEST

START_TEST(test_breaker_half_open_after_open_ms)
{
    trip(100);
    ck_assert(ms_breaker_allow(&b, 100 + OPEN_MS));
    ck_assert_int_eq(ms_breaker_state_get(&b), MS_BREAKER_HALF_OPEN);
}
END_TEST

START_TEST(test_breaker_half_open_max_limits_trials)
{
    trip(0);
    for (int i = 0; i < HALF_OPEN_MAX; i++)
        ck_assert(ms_breaker_allow(&b, OPEN_MS));
    ck_assert(!ms_breaker_allow(&b, OPEN_MS));
    ck_assert(!ms_breaker_allow(&b, OPEN_MS + 10 * OPEN_MS)); /* time alone frees no slot */
    ck_assert_int_eq(ms_breaker_state_get(&b), MS_BREAKER_HALF_OPEN);
}
END_TEST

START_TEST(test_breaker_trial_success_closes)
{
    bool changed = false;

    trip(0);
    ck_assert_int_eq(call(true, OPEN_MS, &changed), MS_BREAKER_CLOSED);
    ck_assert(changed);
    /* Closed again with a fresh count: THRESHOLD - 1 failures keep it closed. */
    for (int i = 0; i < THRESHOLD - 1; i++)
        ck_assert_int_eq(call(false, OPEN_MS, NULL), MS_BREAKER_CLOSED);
}
END_TEST

START_TEST(test_breaker_trial_failure_reopens_with_new_time)
{
    bool changed = false;
    int64_t reopened = 100 + 5 * OPEN_MS;

    trip(100);
    ck_assert_int_eq(call(false, reopened, &changed), MS_BREAKER_OPEN);
    ck_assert(changed);
    /* open_ms now counts from the trial failure, not from the first opening. */
    ck_assert(!ms_breaker_allow(&b, reopened + OPEN_MS - 1));
    ck_assert(ms_breaker_allow(&b, reopened + OPEN_MS));
}
END_TEST

START_TEST(test_breaker_failed_trial_refuses_the_others)
{
    trip(0);
    ck_assert(ms_breaker_allow(&b, OPEN_MS));
    ck_assert(ms_breaker_allow(&b, OPEN_MS));
    ck_assert(!ms_breaker_allow(&b, OPEN_MS));
    /* One trial fails: open again, and every other trial is refused until open_ms passes. */
    ck_assert_int_eq(ms_breaker_record(&b, false, OPEN_MS, NULL), MS_BREAKER_OPEN);
    ck_assert(!ms_breaker_allow(&b, OPEN_MS + 1));
}
END_TEST

START_TEST(test_breaker_late_outcome_while_open_changes_nothing)
{
    bool changed = true;

    /* A call allowed while closed finishes after others have opened the breaker. */
    ck_assert(ms_breaker_allow(&b, 0));
    trip(0);
    ck_assert_int_eq(ms_breaker_record(&b, true, 10, &changed), MS_BREAKER_OPEN);
    ck_assert(!changed);
    ck_assert(ms_breaker_allow(&b, OPEN_MS)); /* opened_at did not move */
}
END_TEST

START_TEST(test_breaker_state_names)
{
    ck_assert_str_eq(ms_breaker_state_name(MS_BREAKER_CLOSED), "closed");
    ck_assert_str_eq(ms_breaker_state_name(MS_BREAKER_OPEN), "open");
    ck_assert_str_eq(ms_breaker_state_name(MS_BREAKER_HALF_OPEN), "half_open");
}
END_TEST

static Suite *breaker_suite(void)
{
    Suite *s = suite_create("breaker");
    TCase *tc = tcase_create("state");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_breaker_zero_config_takes_defaults);
    tcase_add_test(tc, test_breaker_snapshot_counts_every_change_and_only_changes);
    tcase_add_test(tc, test_breaker_opens_exactly_at_threshold);
    tcase_add_test(tc, test_breaker_success_in_closed_resets_count);
    tcase_add_test(tc, test_breaker_success_in_closed_reports_no_change);
    tcase_add_test(tc, test_breaker_refuses_while_open);
    tcase_add_test(tc, test_breaker_half_open_after_open_ms);
    tcase_add_test(tc, test_breaker_half_open_max_limits_trials);
    tcase_add_test(tc, test_breaker_trial_success_closes);
    tcase_add_test(tc, test_breaker_trial_failure_reopens_with_new_time);
    tcase_add_test(tc, test_breaker_failed_trial_refuses_the_others);
    tcase_add_test(tc, test_breaker_late_outcome_while_open_changes_nothing);
    tcase_add_test(tc, test_breaker_state_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ms_test_main(breaker_suite(), true);
}
