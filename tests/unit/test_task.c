/* Background tasks: naps that end on wake or stop, and a stop that joins promptly. */
#include <check.h>
#include <stdatomic.h>

#include "ms/clock.h"
#include "ms/task.h"
#include "runner.h"

struct probe {
    atomic_int rounds;
    atomic_int naps_ended_running; /* naps that returned true */
    int64_t nap_ms;
};

/* Counts rounds and naps nap_ms between them until stopped. */
static void body(struct ms_task *task, void *ctx)
{
    struct probe *p = ctx;

    for (;;) {
        atomic_fetch_add(&p->rounds, 1);
        if (!ms_task_nap(task, p->nap_ms))
            return;
        atomic_fetch_add(&p->naps_ended_running, 1);
    }
}

static void wait_rounds(struct probe *p, int n)
{
    int64_t deadline = ms_now_ms() + 2000;

    while (atomic_load(&p->rounds) < n && ms_now_ms() < deadline)
        ms_sleep_ms(1);
}

START_TEST(test_task_stop_ends_a_long_nap_at_once)
{
    struct ms_task task = {0};
    struct probe p = {.nap_ms = 60000};
    int64_t took;

    ck_assert_int_eq(ms_task_start(&task, body, &p), 0);
    wait_rounds(&p, 1);
    took = ms_now_ms();
    ms_task_stop(&task);
    took = ms_now_ms() - took;
    ck_assert_int_lt(took, 500);
    ck_assert_int_eq(atomic_load(&p.rounds), 1);
    ck_assert_int_eq(atomic_load(&p.naps_ended_running), 0);
}
END_TEST

START_TEST(test_task_wake_ends_a_nap_early)
{
    struct ms_task task = {0};
    struct probe p = {.nap_ms = 60000};

    ck_assert_int_eq(ms_task_start(&task, body, &p), 0);
    wait_rounds(&p, 1);
    ms_task_wake(&task);
    wait_rounds(&p, 2);
    ck_assert_int_eq(atomic_load(&p.rounds), 2);
    ms_task_stop(&task);
}
END_TEST

START_TEST(test_task_naps_run_their_length_when_nothing_happens)
{
    struct ms_task task = {0};
    struct probe p = {.nap_ms = 50};

    ck_assert_int_eq(ms_task_start(&task, body, &p), 0);
    ms_sleep_ms(275);
    ms_task_stop(&task);
    /* about 6 rounds in 275 ms of 50 ms naps; never hundreds (a nap that does not sleep) */
    ck_assert_int_ge(atomic_load(&p.rounds), 3);
    ck_assert_int_le(atomic_load(&p.rounds), 8);
}
END_TEST

START_TEST(test_task_stopping_is_seen_by_the_body)
{
    struct ms_task task = {0};
    struct probe p = {.nap_ms = 10};

    ck_assert_int_eq(ms_task_start(&task, body, &p), 0);
    ck_assert(!ms_task_stopping(&task));
    ms_task_stop(&task);
    ck_assert(!task.started);
    ms_task_stop(&task); /* a second stop is harmless */
}
END_TEST

START_TEST(test_task_stop_without_start_is_harmless)
{
    struct ms_task task = {0};

    ms_task_stop(&task);
    ck_assert(!task.started);
}
END_TEST

static Suite *task_suite(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("task");

    tcase_add_test(tc, test_task_stop_ends_a_long_nap_at_once);
    tcase_add_test(tc, test_task_wake_ends_a_nap_early);
    tcase_add_test(tc, test_task_naps_run_their_length_when_nothing_happens);
    tcase_add_test(tc, test_task_stopping_is_seen_by_the_body);
    tcase_add_test(tc, test_task_stop_without_start_is_harmless);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ms_test_main(task_suite(), true);
}
