/* Readiness: critical and non-critical checks, draining, the JSON body and the cache (one
 * second when ready, 0.1 s when unready), driven with injected time. */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ms/err.h"
#include "ms/health.h"
#include "runner.h"

/* A fake dependency: what its check answers, and how often it was asked. */
struct dep {
    int result;
    atomic_int calls;
    int sleep_ms; /* how long the check takes */
};

static struct ms_health *h;
static struct dep pg, cache;
static char *body;
static size_t body_len;
static json_t *doc;

static int check_dep(void *ctx)
{
    struct dep *d = ctx;

    atomic_fetch_add(&d->calls, 1);
    if (d->sleep_ms > 0) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)d->sleep_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    return d->result;
}

static void setup(void)
{
    memset(&pg, 0, sizeof(pg));
    memset(&cache, 0, sizeof(cache));
    body = NULL;
    doc = NULL;
    h = ms_health_new();
    ck_assert_ptr_nonnull(h);
}

static void teardown(void)
{
    free(body);
    body = NULL;
    json_decref(doc);
    doc = NULL;
    ms_health_free(h);
    h = NULL;
}

/* The usual service: PostgreSQL is critical, the Redis cache is not. */
static void setup_pg_and_cache(void)
{
    setup();
    ck_assert_int_eq(ms_health_add(h, "postgres", check_dep, &pg, true), 0);
    ck_assert_int_eq(ms_health_add(h, "redis", check_dep, &cache, false), 0);
}

/* One report at now_ms; its status, with the body parsed into doc. */
static int report(bool draining, int64_t now_ms)
{
    json_error_t jerr;
    int status;

    free(body);
    body = NULL;
    json_decref(doc);
    status = ms_health_report(h, draining, now_ms, &body, &body_len);
    ck_assert_ptr_nonnull(body);
    ck_assert_uint_eq(body_len, strlen(body));
    doc = json_loads(body, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(doc != NULL, "body is not JSON (%s): %s", jerr.text, body);
    return status;
}

static const char *doc_status(void)
{
    const char *s = json_string_value(json_object_get(doc, "status"));

    ck_assert_msg(s != NULL, "no status in %s", body);
    return s;
}

/* The entry for one check in doc; fails the test if it is missing. */
static json_t *check_entry(const char *name)
{
    json_t *one = json_object_get(json_object_get(doc, "checks"), name);

    ck_assert_msg(json_is_object(one), "no check %s in %s", name, body);
    return one;
}

static const char *check_status(const char *name)
{
    return json_string_value(json_object_get(check_entry(name), "status"));
}

START_TEST(test_health_ready_when_all_checks_pass)
{
    ck_assert_int_eq(report(false, 0), 200);
    ck_assert_str_eq(doc_status(), "ready");
    ck_assert_str_eq(check_status("postgres"), "up");
    ck_assert_str_eq(check_status("redis"), "up");
}
END_TEST

START_TEST(test_health_body_has_documented_shape)
{
    json_t *checks, *one;

    ck_assert_int_eq(report(false, 0), 200);
    ck_assert_uint_eq(json_object_size(doc), 2);
    checks = json_object_get(doc, "checks");
    ck_assert(json_is_object(checks));
    ck_assert_uint_eq(json_object_size(checks), 2);
    one = check_entry("postgres");
    ck_assert(json_is_true(json_object_get(one, "critical")));
    ck_assert(json_is_false(json_object_get(check_entry("redis"), "critical")));
    ck_assert_ptr_null(json_object_get(one, "error")); /* an error only on a failing check */
}
END_TEST

START_TEST(test_health_ready_without_checks)
{
    ck_assert_int_eq(report(false, 0), 200);
    ck_assert_str_eq(doc_status(), "ready");
    ck_assert_uint_eq(json_object_size(json_object_get(doc, "checks")), 0);
}
END_TEST

START_TEST(test_health_failing_non_critical_check_keeps_200)
{
    cache.result = MS_EUNAVAIL;
    ck_assert_int_eq(report(false, 0), 200);
    ck_assert_str_eq(doc_status(), "ready");
    ck_assert_str_eq(check_status("redis"), "down");
    ck_assert_str_eq(check_status("postgres"), "up");
}
END_TEST

START_TEST(test_health_failing_check_reports_its_error)
{
    cache.result = MS_ETIMEDOUT;
    report(false, 0);
    ck_assert_str_eq(json_string_value(json_object_get(check_entry("redis"), "error")),
                     ms_strerror(MS_ETIMEDOUT));
}
END_TEST

START_TEST(test_health_failing_critical_check_gives_503_unready)
{
    pg.result = MS_EUNAVAIL;
    ck_assert_int_eq(report(false, 0), 503);
    ck_assert_str_eq(doc_status(), "unready");
    ck_assert_str_eq(check_status("postgres"), "down");
    ck_assert_str_eq(json_string_value(json_object_get(check_entry("postgres"), "error")),
                     ms_strerror(MS_EUNAVAIL));
}
END_TEST

START_TEST(test_health_draining_gives_503_when_checks_pass)
{
    ck_assert_int_eq(report(true, 0), 503);
    ck_assert_str_eq(doc_status(), "draining");
    ck_assert_str_eq(check_status("postgres"), "up");
}
END_TEST

START_TEST(test_health_draining_wins_over_unready)
{
    pg.result = MS_EUNAVAIL;
    ck_assert_int_eq(report(true, 0), 503);
    ck_assert_str_eq(doc_status(), "draining");
}
END_TEST

START_TEST(test_health_first_report_runs_every_check_once)
{
    report(false, 0);
    ck_assert_int_eq(atomic_load(&pg.calls), 1);
    ck_assert_int_eq(atomic_load(&cache.calls), 1);
}
END_TEST

START_TEST(test_health_cache_skips_checks_within_window)
{
    report(false, 0);
    report(false, MS_HEALTH_CACHE_MS - 1);
    report(true, MS_HEALTH_CACHE_MS - 1);
    ck_assert_int_eq(atomic_load(&pg.calls), 1);
    ck_assert_int_eq(atomic_load(&cache.calls), 1);
}
END_TEST

START_TEST(test_health_cache_serves_old_result_within_window)
{
    ck_assert_int_eq(report(false, 0), 200);
    pg.result = MS_EUNAVAIL;
    ck_assert_int_eq(report(false, MS_HEALTH_CACHE_MS - 1), 200);
    ck_assert_str_eq(check_status("postgres"), "up");
}
END_TEST

START_TEST(test_health_cache_reruns_checks_after_window)
{
    report(false, 0);
    report(false, MS_HEALTH_CACHE_MS);
    ck_assert_int_eq(atomic_load(&pg.calls), 2);
    ck_assert_int_eq(atomic_load(&cache.calls), 2);
}
END_TEST

START_TEST(test_health_cache_expiry_picks_up_new_result)
{
    ck_assert_int_eq(report(false, 0), 200);
    pg.result = MS_EUNAVAIL;
    ck_assert_int_eq(report(false, MS_HEALTH_CACHE_MS), 503);
    ck_assert_str_eq(doc_status(), "unready");
}
END_TEST

START_TEST(test_health_unready_result_is_rechecked_after_a_tenth)
{
    pg.result = MS_EUNAVAIL;
    ck_assert_int_eq(report(false, 0), 503);
    pg.result = 0;
    ck_assert_int_eq(report(false, MS_HEALTH_UNREADY_CACHE_MS - 1), 503); /* cached */
    ck_assert_int_eq(report(false, MS_HEALTH_UNREADY_CACHE_MS), 200);
    ck_assert_int_eq(atomic_load(&pg.calls), 2);
    ck_assert_int_eq(report(false, MS_HEALTH_UNREADY_CACHE_MS + MS_HEALTH_CACHE_MS - 1), 200);
    ck_assert_int_eq(atomic_load(&pg.calls), 2); /* a ready result is kept a whole second */
}
END_TEST

START_TEST(test_health_cache_window_restarts_at_each_evaluation)
{
    report(false, 0);
    report(false, 1500);                          /* re-evaluated */
    report(false, 1500 + MS_HEALTH_CACHE_MS - 1); /* cached from 1500 */
    ck_assert_int_eq(atomic_load(&pg.calls), 2);
}
END_TEST

START_TEST(test_health_rejects_check_past_max)
{
    struct dep deps[MS_HEALTH_MAX_CHECKS + 1];
    char name[16];

    memset(deps, 0, sizeof(deps));
    for (int i = 0; i < MS_HEALTH_MAX_CHECKS; i++) {
        snprintf(name, sizeof(name), "dep%d", i);
        ck_assert_int_eq(ms_health_add(h, name, check_dep, &deps[i], true), 0);
    }
    ck_assert_int_eq(ms_health_add(h, "one_too_many", check_dep, &deps[MS_HEALTH_MAX_CHECKS], true),
                     MS_ETOOBIG);
    report(false, 0);
    ck_assert_int_eq(atomic_load(&deps[MS_HEALTH_MAX_CHECKS].calls), 0);
    ck_assert_uint_eq(json_object_size(json_object_get(doc, "checks")), MS_HEALTH_MAX_CHECKS);
}
END_TEST

START_TEST(test_health_copies_check_name)
{
    char name[16] = "postgres";

    ck_assert_int_eq(ms_health_add(h, name, check_dep, &pg, true), 0);
    strcpy(name, "changed");
    report(false, 0);
    ck_assert_str_eq(check_status("postgres"), "up");
}
END_TEST

enum { PROBES = 6 };

struct probe {
    int status;
    char *body;
    size_t len;
};

static void *probe_thread(void *arg)
{
    struct probe *p = arg;

    p->status = ms_health_report(h, false, 0, &p->body, &p->len);
    return NULL;
}

START_TEST(test_health_concurrent_probes_share_one_evaluation)
{
    pthread_t threads[PROBES];
    struct probe probes[PROBES];

    pg.sleep_ms = 100; /* long enough that every probe arrives while the first evaluates */
    memset(probes, 0, sizeof(probes));
    for (int i = 0; i < PROBES; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, probe_thread, &probes[i]), 0);
    for (int i = 0; i < PROBES; i++)
        pthread_join(threads[i], NULL);
    ck_assert_int_eq(atomic_load(&pg.calls), 1);
    for (int i = 0; i < PROBES; i++) {
        ck_assert_int_eq(probes[i].status, 200);
        ck_assert_ptr_nonnull(probes[i].body);
        free(probes[i].body);
    }
}
END_TEST

START_TEST(test_health_free_accepts_null)
{
    ms_health_free(NULL); /* passes by returning */
}
END_TEST

static Suite *health_suite(void)
{
    Suite *s = suite_create("health");
    TCase *status = tcase_create("status");
    TCase *caching = tcase_create("cache");
    TCase *table = tcase_create("table");

    tcase_add_checked_fixture(status, setup_pg_and_cache, teardown);
    tcase_add_test(status, test_health_ready_when_all_checks_pass);
    tcase_add_test(status, test_health_body_has_documented_shape);
    tcase_add_test(status, test_health_failing_non_critical_check_keeps_200);
    tcase_add_test(status, test_health_failing_check_reports_its_error);
    tcase_add_test(status, test_health_failing_critical_check_gives_503_unready);
    tcase_add_test(status, test_health_draining_gives_503_when_checks_pass);
    tcase_add_test(status, test_health_draining_wins_over_unready);
    suite_add_tcase(s, status);

    tcase_add_checked_fixture(caching, setup_pg_and_cache, teardown);
    tcase_add_test(caching, test_health_first_report_runs_every_check_once);
    tcase_add_test(caching, test_health_cache_skips_checks_within_window);
    tcase_add_test(caching, test_health_cache_serves_old_result_within_window);
    tcase_add_test(caching, test_health_unready_result_is_rechecked_after_a_tenth);
    tcase_add_test(caching, test_health_cache_reruns_checks_after_window);
    tcase_add_test(caching, test_health_cache_expiry_picks_up_new_result);
    tcase_add_test(caching, test_health_cache_window_restarts_at_each_evaluation);
    tcase_add_test(caching, test_health_concurrent_probes_share_one_evaluation);
    suite_add_tcase(s, caching);

    tcase_add_checked_fixture(table, setup, teardown);
    tcase_add_test(table, test_health_ready_without_checks);
    tcase_add_test(table, test_health_rejects_check_past_max);
    tcase_add_test(table, test_health_copies_check_name);
    tcase_add_test(table, test_health_free_accepts_null);
    suite_add_tcase(s, table);
    return s;
}

int main(void)
{
    return ms_test_main(health_suite(), true);
}
