/* Unit: the bounded slot pool behind the PostgreSQL and Redis pools, with fake connections. */
#include "ms/clock.h"
#include "ms/err.h"
#include "ms/metrics.h"
#include "ms/pool.h"
#include "runner.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SLOTS_MAX 8

/* Fake connections: counts what the pool asks for and fails when told to. */
struct fake {
    atomic_int opens;
    atomic_int closes;
    atomic_bool fail_open;
    atomic_int fail_opens;          /* the next this many opens fail */
    atomic_int open_ms;             /* how long an open takes */
    atomic_bool dead[SLOTS_MAX];    /* alive() answers false for these */
    atomic_bool holding[SLOTS_MAX]; /* set by the test threads while they hold a slot */
};

static int fake_open(void *ctx, size_t slot)
{
    struct fake *f = ctx;

    (void)slot;
    atomic_fetch_add(&f->opens, 1);
    ms_sleep_ms(atomic_load(&f->open_ms));
    if (atomic_load(&f->fail_open) || atomic_fetch_sub(&f->fail_opens, 1) > 0)
        return MS_EUNAVAIL;
    return 0;
}

static bool fake_alive(void *ctx, size_t slot)
{
    return !atomic_load(&((struct fake *)ctx)->dead[slot]);
}

static void fake_close(void *ctx, size_t slot)
{
    struct fake *f = ctx;

    atomic_store(&f->dead[slot], false);
    atomic_fetch_add(&f->closes, 1);
}

static const struct ms_pool_ops fake_ops = {
    .open = fake_open,
    .alive = fake_alive,
    .close = fake_close,
};

static struct ms_pool *fake_pool(struct fake *f, size_t size, int acquire_ms, int backoff_ms)
{
    struct ms_pool_config cfg = {
        .size = size,
        .acquire_timeout_ms = acquire_ms,
        .backoff_max_ms = backoff_ms,
        .ops = &fake_ops,
        .ctx = f,
    };
    struct ms_pool *pool = ms_pool_new(&cfg);

    ck_assert_ptr_nonnull(pool);
    return pool;
}

START_TEST(test_pool_opens_one_connection_at_start_and_reuses_it)
{
    struct fake f = {0};
    struct ms_pool *pool = fake_pool(&f, 3, 100, 250);
    int a, b;
    int64_t until = ms_now_ms() + 1000;

    while (atomic_load(&f.opens) == 0 && ms_now_ms() < until)
        ms_sleep_ms(5);
    ck_assert_int_eq(atomic_load(&f.opens), 1); /* before any request, and only one */
    a = ms_pool_acquire(pool);
    ck_assert_int_ge(a, 0);
    ms_pool_release(pool, (size_t)a, false);
    b = ms_pool_acquire(pool);
    ck_assert_int_eq(b, a);
    ck_assert_int_eq(atomic_load(&f.opens), 1);
    ms_pool_release(pool, (size_t)b, false);
    ms_pool_free(pool);
    ck_assert_int_eq(atomic_load(&f.closes), 1);
}
END_TEST

START_TEST(test_pool_acquire_gives_up_at_the_deadline)
{
    struct fake f = {0};
    struct ms_pool *pool = fake_pool(&f, 1, 100, 250);
    int a = ms_pool_acquire(pool);
    int64_t start = ms_now_ms(), took;

    ck_assert_int_ge(a, 0);
    ck_assert_int_eq(ms_pool_acquire(pool), MS_EUNAVAIL);
    took = ms_now_ms() - start;
    ck_assert_int_ge(took, 95);
    ck_assert_int_lt(took, 600);
    ms_pool_release(pool, (size_t)a, false);
    ms_pool_free(pool);
}
END_TEST

struct holder {
    struct ms_pool *pool;
    int slot;
};

static void *release_later(void *arg)
{
    struct holder *h = arg;

    ms_sleep_ms(50);
    ms_pool_release(h->pool, (size_t)h->slot, false);
    return NULL;
}

START_TEST(test_pool_waiter_gets_the_slot_released_meanwhile)
{
    struct fake f = {0};
    struct holder h = {.pool = fake_pool(&f, 1, 2000, 250)};
    pthread_t thread;
    int64_t start;
    int b;

    h.slot = ms_pool_acquire(h.pool);
    ck_assert_int_ge(h.slot, 0);
    start = ms_now_ms();
    ck_assert_int_eq(pthread_create(&thread, NULL, release_later, &h), 0);
    b = ms_pool_acquire(h.pool);
    ck_assert_int_eq(b, h.slot);
    ck_assert_int_lt(ms_now_ms() - start, 1000);
    pthread_join(thread, NULL);
    ms_pool_release(h.pool, (size_t)b, false);
    ms_pool_free(h.pool);
}
END_TEST

/* Polls the series until it reads value or ms pass; whether it did. */
static bool reaches(struct ms_series *series, double value, int ms)
{
    int64_t until = ms_now_ms() + ms;

    while (ms_series_value(series) != value && ms_now_ms() < until)
        ms_sleep_ms(5);
    return ms_series_value(series) == value;
}

START_TEST(test_pool_down_dependency_is_refused_at_once_and_tried_with_backoff)
{
    struct fake f = {.fail_open = true};
    struct ms_pool *pool = fake_pool(&f, 2, 2000, 100);
    int64_t start = ms_now_ms();
    int opens, slot;

    /* opens failing for 60 ms with nothing open: down, refused long before the deadline */
    ck_assert_int_eq(ms_pool_acquire(pool), MS_EUNAVAIL);
    ck_assert_int_lt(ms_now_ms() - start, 500);
    start = ms_now_ms();
    ck_assert_int_eq(ms_pool_acquire(pool), MS_EUNAVAIL);
    ck_assert_int_lt(ms_now_ms() - start, 50);
    /* meanwhile the reconnector keeps trying, at most every 100 ms once backed off */
    opens = atomic_load(&f.opens);
    ms_sleep_ms(500);
    ck_assert_int_ge(atomic_load(&f.opens) - opens, 3);
    ck_assert_int_le(atomic_load(&f.opens) - opens, 7);
    /* the server is back: the next try opens, and requests are served again */
    atomic_store(&f.fail_open, false);
    slot = -1;
    for (int i = 0; i < 40 && slot < 0; i++, ms_sleep_ms(10))
        slot = ms_pool_acquire(pool);
    ck_assert_int_ge(slot, 0);
    ms_pool_release(pool, (size_t)slot, false);
    ms_pool_free(pool);
}
END_TEST

START_TEST(test_pool_one_failed_reopen_fails_no_request)
{
    struct fake f = {0};
    struct ms_pool *pool = fake_pool(&f, 1, 1000, 100);
    int slot = ms_pool_acquire(pool);

    ck_assert_int_ge(slot, 0);
    /* the one connection dies with its request; its first reconnect loses its handshake, and
     * every open is slow (a loaded server): one failure is no outage, the request waits */
    atomic_store(&f.fail_opens, 1);
    atomic_store(&f.open_ms, 150);
    ms_pool_release(pool, (size_t)slot, true);
    slot = ms_pool_acquire(pool);
    ck_assert_int_ge(slot, 0);
    ck_assert_int_eq(atomic_load(&f.opens), 3);
    ms_pool_release(pool, (size_t)slot, false);
    ms_pool_free(pool);
}
END_TEST

START_TEST(test_pool_dead_connection_is_replaced_in_the_background)
{
    struct fake f = {0};
    struct ms_pool_config cfg = {
        .size = 2, .acquire_timeout_ms = 500, .backoff_max_ms = 100, .ops = &fake_ops, .ctx = &f};
    struct ms_pool *pool;
    int a, b;

    ms_pool_series_init(&cfg.series, "background", "test_bg_pool_connections",
                        "Test pool connections.", NULL, NULL);
    pool = ms_pool_new(&cfg);
    a = ms_pool_acquire(pool);
    b = ms_pool_acquire(pool);
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(b, 0);
    ms_pool_release(pool, (size_t)a, false);
    ms_pool_release(pool, (size_t)b, true);
    /* nobody asks for a connection, yet the dead one is replaced: two open again */
    ck_assert(reaches(cfg.series.open, 2, 1000));
    ck_assert_int_eq(atomic_load(&f.opens), 3);
    ms_pool_free(pool);
}
END_TEST

START_TEST(test_pool_open_slot_still_served_while_opens_fail)
{
    struct fake f = {0};
    struct ms_pool *pool = fake_pool(&f, 2, 100, 1000);
    int open_slot = ms_pool_acquire(pool), other;
    int64_t start;

    ck_assert_int_ge(open_slot, 0);
    ms_pool_release(pool, (size_t)open_slot, false);
    atomic_store(&f.fail_open, true);
    /* Hold the open slot so the next checkout needs a new connection, which cannot be had: one
     * connection is open, so this is no outage, and the request waits out its deadline. */
    ck_assert_int_eq(ms_pool_acquire(pool), open_slot);
    start = ms_now_ms();
    ck_assert_int_eq(ms_pool_acquire(pool), MS_EUNAVAIL);
    ck_assert_int_ge(ms_now_ms() - start, 95);
    ms_pool_release(pool, (size_t)open_slot, false);
    other = ms_pool_acquire(pool);
    ck_assert_int_eq(other, open_slot);
    ms_pool_release(pool, (size_t)other, false);
    ms_pool_free(pool);
}
END_TEST

START_TEST(test_pool_dead_connection_is_reopened_at_checkout)
{
    struct fake f = {0};
    struct ms_pool *pool = fake_pool(&f, 1, 100, 250);
    int slot = ms_pool_acquire(pool);

    ms_pool_release(pool, (size_t)slot, false);
    atomic_store(&f.dead[slot], true);
    ck_assert_int_eq(ms_pool_acquire(pool), slot);
    ck_assert_int_eq(atomic_load(&f.closes), 1);
    ck_assert_int_eq(atomic_load(&f.opens), 2);
    ms_pool_release(pool, (size_t)slot, false);
    ms_pool_free(pool);
}
END_TEST

START_TEST(test_pool_broken_release_closes_the_connection)
{
    struct fake f = {0};
    struct ms_pool *pool = fake_pool(&f, 1, 100, 250);
    int slot = ms_pool_acquire(pool);

    ms_pool_release(pool, (size_t)slot, true);
    ck_assert_int_eq(atomic_load(&f.closes), 1);
    ck_assert_int_eq(ms_pool_acquire(pool), slot);
    ck_assert_int_eq(atomic_load(&f.opens), 2);
    ms_pool_release(pool, (size_t)slot, false);
    ms_pool_free(pool);
    ck_assert_int_eq(atomic_load(&f.closes), 2);
}
END_TEST

START_TEST(test_pool_gauges_and_counters_follow_the_slots)
{
    struct fake f = {0};
    struct ms_pool_config cfg = {
        .size = 2, .acquire_timeout_ms = 50, .backoff_max_ms = 250, .ops = &fake_ops, .ctx = &f};
    struct ms_pool *pool;
    int a, b;

    ms_pool_series_init(&cfg.series, "unit", "test_pool_connections", "Test pool connections.",
                        "test_pool_acquire_total", "Test pool checkouts.");
    pool = ms_pool_new(&cfg);
    a = ms_pool_acquire(pool);
    b = ms_pool_acquire(pool);
    ck_assert_int_eq(ms_pool_acquire(pool), MS_EUNAVAIL);
    ck_assert_double_eq(ms_series_value(cfg.series.in_use), 2);
    ck_assert_double_eq(ms_series_value(cfg.series.open), 2);
    ck_assert_double_eq(ms_series_value(cfg.series.idle), 0);
    atomic_store(&f.fail_open, true); /* so that b, broken, stays closed */
    ms_pool_release(pool, (size_t)a, false);
    ms_pool_release(pool, (size_t)b, true);
    ck_assert_double_eq(ms_series_value(cfg.series.in_use), 0);
    ck_assert_double_eq(ms_series_value(cfg.series.open), 1);
    ck_assert_double_eq(ms_series_value(cfg.series.idle), 1);
    ck_assert_double_eq(ms_series_value(cfg.series.acquire_ok), 2);
    ck_assert_double_eq(ms_series_value(cfg.series.acquire_timeout), 1);
    /* the last open connection dies too, and no new one can be had: down, refused at once */
    a = ms_pool_acquire(pool);
    ck_assert_int_ge(a, 0);
    ms_pool_release(pool, (size_t)a, true);
    ck_assert(reaches(cfg.series.open, 0, 100));
    ms_sleep_ms(250); /* opens failing for over 60 ms */
    ck_assert_int_eq(ms_pool_acquire(pool), MS_EUNAVAIL);
    ck_assert_double_eq(ms_series_value(cfg.series.acquire_unavailable), 1);
    ms_pool_free(pool);
}
END_TEST

struct worker {
    struct ms_pool *pool;
    struct fake *fake;
    int failures;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < 2000; i++) {
        int slot = ms_pool_acquire(w->pool);

        if (slot < 0) {
            w->failures++;
            continue;
        }
        /* Nobody else may hold this slot now. */
        if (atomic_exchange(&w->fake->holding[slot], true))
            w->failures++;
        atomic_store(&w->fake->holding[slot], false);
        ms_pool_release(w->pool, (size_t)slot, i % 97 == 0);
    }
    return NULL;
}

START_TEST(test_pool_threads_never_share_a_slot)
{
    struct fake f = {0};
    struct ms_pool *pool = fake_pool(&f, 3, 5000, 250);
    struct worker workers[8];
    pthread_t threads[8];

    for (int i = 0; i < 8; i++) {
        workers[i] = (struct worker){.pool = pool, .fake = &f};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, hammer, &workers[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_int_eq(workers[i].failures, 0);
    }
    ms_pool_free(pool);
    ck_assert_int_eq(atomic_load(&f.opens), atomic_load(&f.closes));
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("slots");

    tcase_add_test(tc, test_pool_opens_one_connection_at_start_and_reuses_it);
    tcase_add_test(tc, test_pool_acquire_gives_up_at_the_deadline);
    tcase_add_test(tc, test_pool_waiter_gets_the_slot_released_meanwhile);
    tcase_add_test(tc, test_pool_down_dependency_is_refused_at_once_and_tried_with_backoff);
    tcase_add_test(tc, test_pool_one_failed_reopen_fails_no_request);
    tcase_add_test(tc, test_pool_dead_connection_is_replaced_in_the_background);
    tcase_add_test(tc, test_pool_open_slot_still_served_while_opens_fail);
    tcase_add_test(tc, test_pool_dead_connection_is_reopened_at_checkout);
    tcase_add_test(tc, test_pool_broken_release_closes_the_connection);
    tcase_add_test(tc, test_pool_gauges_and_counters_follow_the_slots);
    tcase_add_test(tc, test_pool_threads_never_share_a_slot);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ms_test_main(pool_suite(), true);
}
