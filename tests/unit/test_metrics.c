/* Unit tests for the Prometheus registry: updates, text format, concurrency, process metrics. */
#include "ms/clock.h"
#include "ms/metrics.h"
#include "runner.h"

#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define INCS_PER_THREAD 100000
#define SERIES_PER_THREAD 500

static void setup(void)
{
    ms_metrics_reset();
}

static void teardown(void)
{
    ms_metrics_reset(); /* frees everything, so leak checkers see a clean exit */
}

/* The whole registry rendered; the caller frees it. Checks len against the text. */
static char *render(void)
{
    size_t len = 0;
    char *text = ms_metrics_render(&len);

    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, strlen(text));
    return text;
}

/* Whether text holds line as a whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

/* The value of the sample line that starts with name_and_labels, or NaN if there is none. */
static double sample_value(const char *text, const char *name_and_labels)
{
    size_t n = strlen(name_and_labels);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, name_and_labels, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return NAN;
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The series of a one-label family for value. */
static struct ms_series *series1(struct ms_family *f, const char *value)
{
    return ms_series_get(f, (const char *[]){value});
}

START_TEST(test_metrics_counter_renders_with_labels)
{
    struct ms_family *f = ms_counter_family("requests_total", "Requests.", "method,code");
    char *text;

    ms_counter_add(ms_series_get(f, (const char *[]){"GET", "200"}), 2);
    ms_counter_inc(ms_series_get(f, (const char *[]){"GET", "200"}));
    ms_counter_inc(ms_series_get(f, (const char *[]){"POST", "500"}));
    text = render();
    ck_assert(has_line(text, "requests_total{method=\"GET\",code=\"200\"} 3"));
    ck_assert(has_line(text, "requests_total{method=\"POST\",code=\"500\"} 1"));
    free(text);
}
END_TEST

START_TEST(test_metrics_counter_ignores_negative_and_nan_adds)
{
    struct ms_series *s = ms_series_only(ms_counter_family("c_total", "C.", NULL));

    ms_counter_add(s, 5);
    ms_counter_add(s, -2);
    ms_counter_add(s, NAN);
    ck_assert(ms_series_value(s) == 5);
}
END_TEST

START_TEST(test_metrics_gauge_set_then_add)
{
    struct ms_family *f = ms_gauge_family("queue_depth", "Depth.", "queue");
    struct ms_series *s = series1(f, "orders");
    char *text;

    ms_gauge_set(s, 10);
    ms_gauge_add(s, -2.5);
    ck_assert(ms_series_value(s) == 7.5);
    text = render();
    ck_assert(has_line(text, "queue_depth{queue=\"orders\"} 7.5"));
    free(text);
}
END_TEST

START_TEST(test_metrics_label_less_family_renders_zero_before_update)
{
    char *text;

    ms_counter_family("never_touched_total", "Never touched.", NULL);
    ms_histogram_family("never_observed_seconds", "Never observed.", NULL, (double[]){1}, 1);
    text = render();
    ck_assert(has_line(text, "never_touched_total 0"));
    ck_assert(has_line(text, "never_observed_seconds_bucket{le=\"1\"} 0"));
    ck_assert(has_line(text, "never_observed_seconds_bucket{le=\"+Inf\"} 0"));
    ck_assert(has_line(text, "never_observed_seconds_count 0"));
    free(text);
}
END_TEST

START_TEST(test_metrics_labelled_family_without_series_renders_only_help_and_type)
{
    char *text;

    ms_counter_family("empty_total", "Nothing yet.", "route");
    text = render();
    ck_assert_str_eq(text, "# HELP empty_total Nothing yet.\n# TYPE empty_total counter\n");
    free(text);
}
END_TEST

START_TEST(test_metrics_help_and_type_lines_precede_samples)
{
    char *text;

    ms_gauge_set(ms_series_only(ms_gauge_family("temp_celsius", "Temperature.", NULL)), 21);
    ms_histogram_family("size_bytes", "Sizes.", NULL, (double[]){10}, 1);
    text = render();
    ck_assert_ptr_eq(strstr(text, "# HELP temp_celsius Temperature.\n# TYPE temp_celsius gauge\n"
                                  "temp_celsius 21\n"),
                     text);
    ck_assert(has_line(text, "# HELP size_bytes Sizes."));
    ck_assert(has_line(text, "# TYPE size_bytes histogram"));
    ck_assert(strstr(text, "# TYPE size_bytes") < strstr(text, "size_bytes_bucket"));
    free(text);
}
END_TEST

START_TEST(test_metrics_help_escapes_backslash_and_newline)
{
    char *text;

    ms_counter_family("odd_total", "A \\ \"quoted\"\nsecond line.", NULL);
    text = render();
    /* Quotes stay as they are in help text; only label values escape them. */
    ck_assert(has_line(text, "# HELP odd_total A \\\\ \"quoted\"\\nsecond line."));
    free(text);
}
END_TEST

START_TEST(test_metrics_escape_label_escapes_backslash_quote_newline)
{
    char out[64];
    size_t need = ms_metrics_escape_label("a\\b\"c\nd", out, sizeof(out));

    ck_assert_str_eq(out, "a\\\\b\\\"c\\nd");
    ck_assert_uint_eq(need, strlen("a\\\\b\\\"c\\nd"));
    ck_assert_uint_eq(ms_metrics_escape_label("plain", out, sizeof(out)), 5);
    ck_assert_str_eq(out, "plain");
}
END_TEST

START_TEST(test_metrics_escape_label_truncates_like_snprintf)
{
    char out[4];

    /* "ab\"c" escapes to 5 characters; 3 fit, but not half of the escape. */
    ck_assert_uint_eq(ms_metrics_escape_label("ab\"c", out, sizeof(out)), 5);
    ck_assert_str_eq(out, "ab");
    ck_assert_uint_eq(ms_metrics_escape_label("abcdef", out, sizeof(out)), 6);
    ck_assert_str_eq(out, "abc");
    ck_assert_uint_eq(ms_metrics_escape_label("x\n", NULL, 0), 3);
    ck_assert_uint_eq(ms_metrics_escape_label(NULL, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_metrics_rendered_label_values_are_escaped)
{
    struct ms_family *f = ms_counter_family("paths_total", "Paths.", "path");
    char *text;

    ms_counter_inc(series1(f, "C:\\dir \"x\"\nnext"));
    text = render();
    ck_assert(has_line(text, "paths_total{path=\"C:\\\\dir \\\"x\\\"\\nnext\"} 1"));
    free(text);
}
END_TEST

START_TEST(test_metrics_null_label_value_counts_as_empty)
{
    struct ms_family *f = ms_counter_family("pairs_total", "Pairs.", "a,b");
    struct ms_series *s = ms_series_get(f, (const char *[]){NULL, "y"});
    char *text;

    ck_assert_ptr_eq(s, ms_series_get(f, (const char *[]){"", "y"}));
    ms_counter_inc(s);
    text = render();
    ck_assert(has_line(text, "pairs_total{a=\"\",b=\"y\"} 1"));
    free(text);
}
END_TEST

START_TEST(test_metrics_label_names_are_trimmed)
{
    struct ms_family *f = ms_counter_family("spaced_total", "Spaced.", " a , b ");
    char *text;

    ck_assert_ptr_eq(f, ms_counter_family("spaced_total", "Spaced.", "a,b"));
    ms_counter_inc(ms_series_get(f, (const char *[]){"1", "2"}));
    text = render();
    ck_assert(has_line(text, "spaced_total{a=\"1\",b=\"2\"} 1"));
    free(text);
}
END_TEST

START_TEST(test_metrics_histogram_value_on_bound_goes_in_that_bucket)
{
    struct ms_family *f = ms_histogram_family("h_seconds", "H.", NULL, (double[]){1, 2, 4}, 3);
    struct ms_series *s = ms_series_only(f);
    char *text;

    ms_histogram_observe(s, 2); /* exactly on the bound: counts in le="2", not only le="4" */
    text = render();
    ck_assert(has_line(text, "h_seconds_bucket{le=\"1\"} 0"));
    ck_assert(has_line(text, "h_seconds_bucket{le=\"2\"} 1"));
    ck_assert(has_line(text, "h_seconds_bucket{le=\"4\"} 1"));
    free(text);
}
END_TEST

START_TEST(test_metrics_histogram_buckets_are_cumulative)
{
    struct ms_family *f = ms_histogram_family("lat_seconds", "L.", "route", (double[]){1, 2, 4}, 3);
    struct ms_series *s = series1(f, "/x");
    const double values[] = {0.5, 1.5, 1.7, 3, 100, 1000};
    char *text;

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        ms_histogram_observe(s, values[i]);
    text = render();
    ck_assert(has_line(text, "lat_seconds_bucket{route=\"/x\",le=\"1\"} 1"));
    ck_assert(has_line(text, "lat_seconds_bucket{route=\"/x\",le=\"2\"} 3"));
    ck_assert(has_line(text, "lat_seconds_bucket{route=\"/x\",le=\"4\"} 4"));
    ck_assert(has_line(text, "lat_seconds_bucket{route=\"/x\",le=\"+Inf\"} 6"));
    free(text);
}
END_TEST

START_TEST(test_metrics_histogram_sum_and_count)
{
    struct ms_family *f = ms_histogram_family("work_seconds", "W.", NULL, (double[]){1}, 1);
    struct ms_series *s = ms_series_only(f);
    char *text;

    ms_histogram_observe(s, 0.25);
    ms_histogram_observe(s, 0.5);
    ms_histogram_observe(s, 8);
    ck_assert(ms_series_value(s) == 3);
    text = render();
    ck_assert(has_line(text, "work_seconds_sum 8.75"));
    ck_assert(has_line(text, "work_seconds_count 3"));
    free(text);
}
END_TEST

START_TEST(test_metrics_histogram_default_buckets)
{
    static const char *const bounds[] = {"0.001", "0.0025", "0.005", "0.01", "0.025",
                                         "0.05",  "0.1",    "0.25",  "0.5",  "1",
                                         "2.5",   "5",      "10",    "+Inf"};
    char *text;
    char line[64];
    const char *p;

    ms_histogram_family("d_seconds", "D.", NULL, NULL, 0);
    text = render();
    p = text;
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        snprintf(line, sizeof(line), "d_seconds_bucket{le=\"%s\"} 0\n", bounds[i]);
        p = strstr(p, line); /* in this order */
        ck_assert_msg(p != NULL, "missing or out of order: %s", line);
    }
    ck_assert_ptr_null(strstr(text, "le=\"20\""));
    free(text);
}
END_TEST

START_TEST(test_metrics_numbers_format_as_prometheus_expects)
{
    struct ms_family *f = ms_gauge_family("num", "Numbers.", "case");
    char *text;

    ms_gauge_set(series1(f, "int"), 3);
    ms_gauge_set(series1(f, "big_int"), 123456789012345);
    ms_gauge_set(series1(f, "two_53"), 9007199254740992.0);
    ms_gauge_set(series1(f, "negative"), -42);
    ms_gauge_set(series1(f, "fraction"), 0.1);
    ms_gauge_set(series1(f, "third"), 1.0 / 3.0);
    ms_gauge_set(series1(f, "tiny"), 1e-9);
    ms_gauge_set(series1(f, "huge"), 1e300);
    ms_gauge_set(series1(f, "pinf"), INFINITY);
    ms_gauge_set(series1(f, "ninf"), -INFINITY);
    ms_gauge_set(series1(f, "nan"), NAN);
    ms_gauge_set(series1(f, "negzero"), -0.0);
    text = render();
    ck_assert(has_line(text, "num{case=\"int\"} 3"));
    ck_assert(has_line(text, "num{case=\"big_int\"} 123456789012345"));
    ck_assert(has_line(text, "num{case=\"two_53\"} 9007199254740992"));
    ck_assert(has_line(text, "num{case=\"negative\"} -42"));
    ck_assert(has_line(text, "num{case=\"fraction\"} 0.1"));
    ck_assert(has_line(text, "num{case=\"third\"} 0.3333333333333333"));
    ck_assert(has_line(text, "num{case=\"tiny\"} 1e-09"));
    ck_assert(has_line(text, "num{case=\"huge\"} 1e+300"));
    ck_assert(has_line(text, "num{case=\"pinf\"} +Inf"));
    ck_assert(has_line(text, "num{case=\"ninf\"} -Inf"));
    ck_assert(has_line(text, "num{case=\"nan\"} NaN"));
    ck_assert(has_line(text, "num{case=\"negzero\"} 0"));
    free(text);
}
END_TEST

START_TEST(test_metrics_same_family_registered_twice_returns_same_pointer)
{
    struct ms_family *c = ms_counter_family("twice_total", "Twice.", "a");
    struct ms_family *h = ms_histogram_family("twice_seconds", "Twice.", NULL, NULL, 0);
    char *text;

    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_eq(c, ms_counter_family("twice_total", "Other help is ignored.", "a"));
    ck_assert_ptr_eq(h, ms_histogram_family("twice_seconds", "Twice.", NULL, NULL, 0));
    text = render();
    ck_assert_int_eq(count_of(text, "# TYPE twice_total counter\n"), 1);
    ck_assert_int_eq(count_of(text, "# TYPE twice_seconds histogram\n"), 1);
    ck_assert(has_line(text, "# HELP twice_total Twice."));
    free(text);
}
END_TEST

START_TEST(test_metrics_same_label_values_return_same_series)
{
    struct ms_family *f = ms_counter_family("same_total", "Same.", "a,b");
    struct ms_series *s = ms_series_get(f, (const char *[]){"x", "y"});
    char a[] = "x";

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_eq(s, ms_series_get(f, (const char *[]){a, "y"}));
    /* Values are copied: changing the caller's buffer changes nothing. */
    a[0] = 'z';
    ck_assert_ptr_eq(s, ms_series_get(f, (const char *[]){"x", "y"}));
    ck_assert_ptr_ne(s, ms_series_get(f, (const char *[]){"xy", ""}));
    ck_assert_ptr_ne(s, ms_series_get(f, (const char *[]){"", "xy"}));
    ck_assert_ptr_eq(ms_series_only(ms_counter_family("solo_total", "Solo.", NULL)),
                     ms_series_only(ms_counter_family("solo_total", "Solo.", NULL)));
}
END_TEST

START_TEST(test_metrics_series_pointers_survive_table_growth)
{
    struct ms_family *f = ms_counter_family("many_total", "Many.", "id");
    struct ms_series *kept[1000];
    char id[16];

    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "%d", i);
        kept[i] = series1(f, id);
        ms_counter_add(kept[i], i);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "%d", i);
        ck_assert_ptr_eq(kept[i], series1(f, id));
        ck_assert(ms_series_value(kept[i]) == i);
    }
}
END_TEST

START_TEST(test_metrics_update_functions_accept_null)
{
    ms_counter_add(NULL, 1);
    ms_counter_inc(NULL);
    ms_gauge_set(NULL, 1);
    ms_gauge_add(NULL, 1);
    ms_histogram_observe(NULL, 1);
    ck_assert(ms_series_value(NULL) == 0);
    ck_assert_ptr_null(ms_series_get(NULL, NULL));
    ck_assert_ptr_null(ms_series_only(NULL));
}
END_TEST

static int collect_calls;

static void count_collect(void *ctx)
{
    collect_calls++;
    ms_gauge_set(ctx, collect_calls);
}

START_TEST(test_metrics_collector_runs_before_each_render_once)
{
    struct ms_series *s = ms_series_only(ms_gauge_family("collected", "Collected.", NULL));
    char *text;

    collect_calls = 0;
    ms_metrics_on_collect(count_collect, s);
    ms_metrics_on_collect(count_collect, s); /* the same pair again is ignored */
    free(render());
    text = render();
    ck_assert_int_eq(collect_calls, 2);
    ck_assert(has_line(text, "collected 2"));
    free(text);
}
END_TEST

START_TEST(test_metrics_reset_drops_families_and_collectors)
{
    struct ms_series *s = ms_series_only(ms_gauge_family("gone", "Gone.", NULL));
    char *text;

    collect_calls = 0;
    ms_metrics_on_collect(count_collect, s);
    ms_metrics_reset();
    text = render();
    ck_assert_str_eq(text, "");
    ck_assert_int_eq(collect_calls, 0);
    free(text);
}
END_TEST

static void *inc_shared(void *arg)
{
    struct ms_series *s = ms_series_get(arg, (const char *[]){"shared"});

    for (int i = 0; i < INCS_PER_THREAD; i++)
        ms_counter_inc(s);
    return s;
}

/* Renders while workers update, so ThreadSanitizer sees scrapes race with updates. */
static void render_until_joined(pthread_t *threads, void **results)
{
    for (int i = 0; i < 5; i++)
        free(render());
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(threads[i], &results[i]), 0);
}

START_TEST(test_metrics_concurrent_increments_lose_no_update)
{
    struct ms_family *f = ms_counter_family("hits_total", "Hits.", "key");
    pthread_t threads[THREADS];
    void *results[THREADS];
    char *text;

    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, inc_shared, f), 0);
    render_until_joined(threads, results);
    /* Every thread raced to create the series; all must have got the same one. */
    for (int i = 1; i < THREADS; i++)
        ck_assert_ptr_eq(results[i], results[0]);
    ck_assert(ms_series_value(results[0]) == THREADS * INCS_PER_THREAD);
    text = render();
    ck_assert(has_line(text, "hits_total{key=\"shared\"} 400000"));
    free(text);
}
END_TEST

static void *observe_half(void *arg)
{
    for (int i = 0; i < INCS_PER_THREAD; i++)
        ms_histogram_observe(arg, 0.5);
    return NULL;
}

START_TEST(test_metrics_concurrent_observations_lose_no_update)
{
    struct ms_series *s =
        ms_series_only(ms_histogram_family("obs_seconds", "Obs.", NULL, (double[]){1}, 1));
    pthread_t threads[THREADS];
    void *results[THREADS];
    char *text;

    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, observe_half, s), 0);
    render_until_joined(threads, results);
    text = render();
    ck_assert(has_line(text, "obs_seconds_bucket{le=\"1\"} 400000"));
    ck_assert(has_line(text, "obs_seconds_sum 200000")); /* halves add exactly */
    ck_assert(has_line(text, "obs_seconds_count 400000"));
    free(text);
}
END_TEST

struct creator {
    struct ms_family *family;
    int id;
};

static void *create_many(void *arg)
{
    const struct creator *c = arg;
    char id[32];

    for (int i = 0; i < SERIES_PER_THREAD; i++) {
        snprintf(id, sizeof(id), "%d-%d", c->id, i);
        ms_counter_inc(series1(c->family, id));
        ms_counter_inc(series1(c->family, "common"));
    }
    return NULL;
}

START_TEST(test_metrics_concurrent_series_creation_keeps_every_series)
{
    struct ms_family *f = ms_counter_family("made_total", "Made.", "id");
    struct creator creators[THREADS];
    pthread_t threads[THREADS];
    void *results[THREADS];
    char *text;
    char line[64];

    for (int i = 0; i < THREADS; i++) {
        creators[i] = (struct creator){.family = f, .id = i};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, create_many, &creators[i]), 0);
    }
    render_until_joined(threads, results);
    text = render();
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < SERIES_PER_THREAD; i++) {
            snprintf(line, sizeof(line), "made_total{id=\"%d-%d\"} 1", t, i);
            ck_assert_msg(has_line(text, line), "missing %s", line);
        }
    }
    ck_assert(has_line(text, "made_total{id=\"common\"} 2000"));
    free(text);
}
END_TEST

/* A "Key:   N kB" field of /proc/self/status, or -1. */
static double status_kb(const char *key)
{
    FILE *fp = fopen("/proc/self/status", "re");
    char line[256];
    double kb = -1;

    ck_assert_ptr_nonnull(fp);
    while (kb < 0 && fgets(line, sizeof(line), fp))
        if (strncmp(line, key, strlen(key)) == 0)
            kb = strtod(line + strlen(key), NULL);
    fclose(fp);
    return kb;
}

START_TEST(test_metrics_process_metrics_present_and_plausible)
{
    double now = ms_wall_seconds();
    double status_rss;
    double rss;
    char *text;

    ms_process_metrics_register();
    text = render();
    ck_assert(has_line(text, "# TYPE process_cpu_seconds_total counter"));
    ck_assert(has_line(text, "# TYPE process_resident_memory_bytes gauge"));
    rss = sample_value(text, "process_resident_memory_bytes");
    /* Near what /proc/self/status says (in kB, read a moment later); virtual size is not. */
    status_rss = status_kb("VmRSS:") * 1024.0;
    ck_assert_msg(rss >= 64 * 1024 && rss > status_rss / 2 && rss < status_rss * 2,
                  "rss %.0f, VmRSS %.0f", rss, status_rss);
    ck_assert(sample_value(text, "process_open_fds") >= 1);
    ck_assert(sample_value(text, "process_cpu_seconds_total") >= 0);
    /* Started before this test, and not long before: the suite is young. */
    ck_assert(sample_value(text, "process_start_time_seconds") <= now + 2);
    ck_assert(sample_value(text, "process_start_time_seconds") > now - 3600);
    free(text);
}
END_TEST

/* Open descriptors counted without opening one, as fcntl on each number up to a bound this
 * test process never reaches. */
static int probe_open_fds(void)
{
    int n = 0;

    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

START_TEST(test_metrics_process_open_fds_matches_descriptors)
{
    char *text;

    ms_process_metrics_register();
    text = render();
    /* The registry must not count the descriptor it reads /proc/self/fd through. */
    ck_assert(sample_value(text, "process_open_fds") == probe_open_fds());
    free(text);
}
END_TEST

START_TEST(test_metrics_process_open_fds_follows_open_and_close)
{
    char *text;
    double before;
    int fd;

    ms_process_metrics_register();
    text = render();
    before = sample_value(text, "process_open_fds");
    free(text);
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    text = render();
    ck_assert(sample_value(text, "process_open_fds") == before + 1);
    free(text);
    close(fd);
}
END_TEST

static double process_cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_metrics_process_cpu_seconds_follow_work)
{
    volatile double sink = 0;
    double start = process_cpu_seconds();
    char *text;

    ms_process_metrics_register();
    while (process_cpu_seconds() - start < 0.3)
        for (int i = 0; i < 100000; i++)
            sink = sink + i;
    text = render();
    /* /proc counts in clock ticks and includes the time before start: at least most of it. */
    ck_assert(sample_value(text, "process_cpu_seconds_total") >= 0.2);
    free(text);
}
END_TEST

START_TEST(test_metrics_process_metrics_register_is_idempotent)
{
    char *first;
    char *second;

    ms_process_metrics_register();
    first = render();
    ms_process_metrics_register();
    second = render();
    ck_assert_int_eq(count_of(second, "# TYPE process_open_fds gauge\n"), 1);
    ck_assert_int_eq(count_of(second, "# TYPE process_cpu_seconds_total counter\n"), 1);
    ck_assert(sample_value(first, "process_start_time_seconds") ==
              sample_value(second, "process_start_time_seconds"));
    free(first);
    free(second);
}
END_TEST

START_TEST(test_metrics_render_matches_exact_text)
{
    struct ms_family *req =
        ms_counter_family("http_requests_total", "Requests served.", "method,code");
    struct ms_family *up = ms_gauge_family("up", "Whether the service is up.", NULL);
    struct ms_family *lat =
        ms_histogram_family("latency_seconds", "Request latency.", "route", (double[]){0.5, 1}, 2);
    struct ms_series *a = series1(lat, "/a");
    size_t len;
    char *text;

    ms_counter_add(ms_series_get(req, (const char *[]){"GET", "200"}), 3);
    ms_counter_inc(ms_series_get(req, (const char *[]){"POST", "201"}));
    ms_gauge_set(ms_series_only(up), 1);
    ms_histogram_observe(a, 0.25);
    ms_histogram_observe(a, 0.5);
    ms_histogram_observe(a, 2);
    text = ms_metrics_render(&len);
    ck_assert_str_eq(text, "# HELP http_requests_total Requests served.\n"
                           "# TYPE http_requests_total counter\n"
                           "http_requests_total{method=\"GET\",code=\"200\"} 3\n"
                           "http_requests_total{method=\"POST\",code=\"201\"} 1\n"
                           "# HELP up Whether the service is up.\n"
                           "# TYPE up gauge\n"
                           "up 1\n"
                           "# HELP latency_seconds Request latency.\n"
                           "# TYPE latency_seconds histogram\n"
                           "latency_seconds_bucket{route=\"/a\",le=\"0.5\"} 2\n"
                           "latency_seconds_bucket{route=\"/a\",le=\"1\"} 2\n"
                           "latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"
                           "latency_seconds_sum{route=\"/a\"} 2.75\n"
                           "latency_seconds_count{route=\"/a\"} 3\n");
    ck_assert_uint_eq(len, strlen(text));
    free(text);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_metrics_counter_renders_with_labels);
    tcase_add_test(tc, test_metrics_counter_ignores_negative_and_nan_adds);
    tcase_add_test(tc, test_metrics_gauge_set_then_add);
    tcase_add_test(tc, test_metrics_label_less_family_renders_zero_before_update);
    tcase_add_test(tc, test_metrics_labelled_family_without_series_renders_only_help_and_type);
    tcase_add_test(tc, test_metrics_help_and_type_lines_precede_samples);
    tcase_add_test(tc, test_metrics_help_escapes_backslash_and_newline);
    tcase_add_test(tc, test_metrics_escape_label_escapes_backslash_quote_newline);
    tcase_add_test(tc, test_metrics_escape_label_truncates_like_snprintf);
    tcase_add_test(tc, test_metrics_rendered_label_values_are_escaped);
    tcase_add_test(tc, test_metrics_null_label_value_counts_as_empty);
    tcase_add_test(tc, test_metrics_label_names_are_trimmed);
    tcase_add_test(tc, test_metrics_histogram_value_on_bound_goes_in_that_bucket);
    tcase_add_test(tc, test_metrics_histogram_buckets_are_cumulative);
    tcase_add_test(tc, test_metrics_histogram_sum_and_count);
    tcase_add_test(tc, test_metrics_histogram_default_buckets);
    tcase_add_test(tc, test_metrics_numbers_format_as_prometheus_expects);
    tcase_add_test(tc, test_metrics_same_family_registered_twice_returns_same_pointer);
    tcase_add_test(tc, test_metrics_same_label_values_return_same_series);
    tcase_add_test(tc, test_metrics_series_pointers_survive_table_growth);
    tcase_add_test(tc, test_metrics_update_functions_accept_null);
    tcase_add_test(tc, test_metrics_collector_runs_before_each_render_once);
    tcase_add_test(tc, test_metrics_reset_drops_families_and_collectors);
    tcase_add_test(tc, test_metrics_concurrent_increments_lose_no_update);
    tcase_add_test(tc, test_metrics_concurrent_observations_lose_no_update);
    tcase_add_test(tc, test_metrics_concurrent_series_creation_keeps_every_series);
    tcase_add_test(tc, test_metrics_process_metrics_present_and_plausible);
    tcase_add_test(tc, test_metrics_process_open_fds_matches_descriptors);
    tcase_add_test(tc, test_metrics_process_open_fds_follows_open_and_close);
    tcase_add_test(tc, test_metrics_process_cpu_seconds_follow_work);
    tcase_add_test(tc, test_metrics_process_metrics_register_is_idempotent);
    tcase_add_test(tc, test_metrics_render_matches_exact_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ms_test_main(metrics_suite(), true);
}
