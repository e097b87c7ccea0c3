/* Environment readers: defaults, strict values, the one-line error on stderr naming the
 * variable, and *out left alone on failure; the Redis pool's default size (depconfig). */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "ms/config.h"
#include "ms/depconfig.h"
#include "ms/err.h"
#include "ms/server.h"
#include "runner.h"

#define VAR "MS_TEST_CONFIG_VAR"

static struct ms_test_capture capture; /* stderr goes here while a test runs */

/* Sends fd 2 to a temporary file, so the error lines the readers print can be checked. */
static void setup(void)
{
    unsetenv(VAR);
    ms_test_capture_start(&capture, STDERR_FILENO);
}

static void teardown(void)
{
    ms_test_capture_stop(&capture);
    unsetenv(VAR);
}

/* Everything written to stderr since setup. */
static const char *stderr_text(void)
{
    return ms_test_capture_text(&capture);
}

static void set(const char *value)
{
    ck_assert_int_eq(setenv(VAR, value, 1), 0);
}

/* ms_config_int */

START_TEST(test_config_int_unset_gives_default)
{
    long n = -1;

    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &n), 0);
    ck_assert_int_eq(n, 42);
}
END_TEST

START_TEST(test_config_int_empty_gives_default)
{
    long n = -1;

    set("");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &n), 0);
    ck_assert_int_eq(n, 42);
}
END_TEST

START_TEST(test_config_int_reads_value)
{
    long n = -1;

    set("17");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &n), 0);
    ck_assert_int_eq(n, 17);
}
END_TEST

START_TEST(test_config_int_reads_negative_value)
{
    long n = 0;

    set("-5");
    ck_assert_int_eq(ms_config_int(VAR, 0, -10, 10, &n), 0);
    ck_assert_int_eq(n, -5);
}
END_TEST

START_TEST(test_config_int_accepts_range_bounds)
{
    long lo = -1, hi = -1;

    set("0");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &lo), 0);
    set("100");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &hi), 0);
    ck_assert_int_eq(lo, 0);
    ck_assert_int_eq(hi, 100);
}
END_TEST

START_TEST(test_config_int_success_prints_nothing)
{
    long n = -1;

    set("17");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &n), 0);
    ck_assert_str_eq(stderr_text(), "");
}
END_TEST

START_TEST(test_config_int_rejects_below_min)
{
    long n = -1;

    set("-1");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &n), MS_EINVAL);
    ck_assert_int_eq(n, -1);
}
END_TEST

START_TEST(test_config_int_rejects_above_max)
{
    long n = -1;

    set("101");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &n), MS_EINVAL);
    ck_assert_int_eq(n, -1);
}
END_TEST

START_TEST(test_config_int_rejects_trailing_garbage)
{
    long n = -1;

    set("12abc");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &n), MS_EINVAL);
    ck_assert_int_eq(n, -1);
}
END_TEST

START_TEST(test_config_int_rejects_trailing_space)
{
    long n = -1;

    set("12 ");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &n), MS_EINVAL);
    ck_assert_int_eq(n, -1);
}
END_TEST

START_TEST(test_config_int_rejects_leading_space_plus_and_hex)
{
    static const char *const bad[] = {" 12", "+12", "0x10", "1e3"};
    long n = -1;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        set(bad[i]);
        ck_assert_msg(ms_config_int(VAR, 42, 0, 100, &n) == MS_EINVAL, "\"%s\" accepted", bad[i]);
        ck_assert_int_eq(n, -1);
    }
}
END_TEST

START_TEST(test_config_int_rejects_unit_suffix)
{
    long n = -1;

    set("30s");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &n), MS_EINVAL);
    ck_assert_int_eq(n, -1);
}
END_TEST

START_TEST(test_config_int_rejects_non_number)
{
    long n = -1;

    set("ten");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &n), MS_EINVAL);
    ck_assert_int_eq(n, -1);
}
END_TEST

START_TEST(test_config_int_rejects_decimal_fraction)
{
    long n = -1;

    set("1.5");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &n), MS_EINVAL);
    ck_assert_int_eq(n, -1);
}
END_TEST

START_TEST(test_config_int_rejects_overflow)
{
    long n = -1;

    set("99999999999999999999999");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &n), MS_EINVAL);
    ck_assert_int_eq(n, -1);
}
END_TEST

START_TEST(test_config_int_error_line_names_variable)
{
    long n = -1;

    set("12abc");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &n), MS_EINVAL);
    ck_assert_str_eq(stderr_text(),
                     VAR ": invalid value \"12abc\": expected an integer from 0 to 100\n");
}
END_TEST

START_TEST(test_config_int_range_error_line_names_variable)
{
    long n = -1;

    set("101");
    ck_assert_int_eq(ms_config_int(VAR, 42, 0, 100, &n), MS_EINVAL);
    ck_assert_str_eq(stderr_text(),
                     VAR ": invalid value \"101\": expected an integer from 0 to 100\n");
}
END_TEST

/* ms_config_i */

START_TEST(test_config_i_reads_value)
{
    int n = -1;

    set("8080");
    ck_assert_int_eq(ms_config_i(VAR, 80, 1, 65535, &n), 0);
    ck_assert_int_eq(n, 8080);
}
END_TEST

START_TEST(test_config_i_unset_gives_default)
{
    int n = -1;

    ck_assert_int_eq(ms_config_i(VAR, 80, 1, 65535, &n), 0);
    ck_assert_int_eq(n, 80);
}
END_TEST

START_TEST(test_config_i_rejects_out_of_range)
{
    int n = -1;

    set("65536");
    ck_assert_int_eq(ms_config_i(VAR, 80, 1, 65535, &n), MS_EINVAL);
    ck_assert_int_eq(n, -1);
    ck_assert_str_eq(stderr_text(),
                     VAR ": invalid value \"65536\": expected an integer from 1 to 65535\n");
}
END_TEST

START_TEST(test_config_i_rejects_value_past_int)
{
    int n = -1;

    set("4294967297"); /* 2^32 + 1: would wrap to 1 if narrowed before the range check */
    ck_assert_int_eq(ms_config_i(VAR, 80, 1, 65535, &n), MS_EINVAL);
    ck_assert_int_eq(n, -1);
}
END_TEST

/* ms_config_bool */

static const char *const true_spellings[] = {"1", "true", "yes", "on", "TRUE", "Yes", "On"};
static const char *const false_spellings[] = {"0", "false", "no", "off", "FALSE", "No", "OFF"};
static const char *const bad_bools[] = {"2", "y", "n", "tru", "truee", "enabled", "-1", " true"};

START_TEST(test_config_bool_reads_true_spellings)
{
    bool b = false;

    set(true_spellings[_i]);
    ck_assert_int_eq(ms_config_bool(VAR, false, &b), 0);
    ck_assert_msg(b, "\"%s\" read as false", true_spellings[_i]);
}
END_TEST

START_TEST(test_config_bool_reads_false_spellings)
{
    bool b = true;

    set(false_spellings[_i]);
    ck_assert_int_eq(ms_config_bool(VAR, true, &b), 0);
    ck_assert_msg(!b, "\"%s\" read as true", false_spellings[_i]);
}
END_TEST

START_TEST(test_config_bool_rejects_other_words)
{
    bool b = true;

    set(bad_bools[_i]);
    ck_assert_msg(ms_config_bool(VAR, false, &b) == MS_EINVAL, "accepted \"%s\"", bad_bools[_i]);
    ck_assert(b);
}
END_TEST

START_TEST(test_config_bool_unset_gives_default)
{
    bool t = false, f = true;

    ck_assert_int_eq(ms_config_bool(VAR, true, &t), 0);
    ck_assert_int_eq(ms_config_bool(VAR, false, &f), 0);
    ck_assert(t);
    ck_assert(!f);
}
END_TEST

START_TEST(test_config_bool_empty_gives_default)
{
    bool b = false;

    set("");
    ck_assert_int_eq(ms_config_bool(VAR, true, &b), 0);
    ck_assert(b);
}
END_TEST

START_TEST(test_config_bool_error_line_names_variable)
{
    bool b = false;

    set("maybe");
    ck_assert_int_eq(ms_config_bool(VAR, false, &b), MS_EINVAL);
    ck_assert_str_eq(stderr_text(), VAR ": invalid value \"maybe\": expected true or false\n");
}
END_TEST

/* ms_config_str */

START_TEST(test_config_str_unset_gives_default)
{
    static const char def[] = "info";
    const char *s = NULL;

    ck_assert_int_eq(ms_config_str(VAR, def, 16, &s), 0);
    ck_assert_ptr_eq(s, def);
}
END_TEST

START_TEST(test_config_str_empty_gives_default)
{
    static const char def[] = "info";
    const char *s = NULL;

    set("");
    ck_assert_int_eq(ms_config_str(VAR, def, 16, &s), 0);
    ck_assert_ptr_eq(s, def);
}
END_TEST

START_TEST(test_config_str_reads_value_from_environment)
{
    const char *s = NULL;

    set("debug");
    ck_assert_int_eq(ms_config_str(VAR, "info", 16, &s), 0);
    ck_assert_str_eq(s, "debug");
    ck_assert_ptr_eq(s, getenv(VAR));
}
END_TEST

START_TEST(test_config_str_accepts_max_len)
{
    const char *s = NULL;

    set("abc");
    ck_assert_int_eq(ms_config_str(VAR, "x", 3, &s), 0);
    ck_assert_str_eq(s, "abc");
}
END_TEST

START_TEST(test_config_str_rejects_over_max_len)
{
    const char *s = "untouched";

    set("abcd");
    ck_assert_int_eq(ms_config_str(VAR, "x", 3, &s), MS_EINVAL);
    ck_assert_str_eq(s, "untouched");
}
END_TEST

START_TEST(test_config_str_error_line_names_variable)
{
    const char *s = "untouched";

    set("abcd");
    ck_assert_int_eq(ms_config_str(VAR, "x", 3, &s), MS_EINVAL);
    ck_assert_str_eq(stderr_text(),
                     VAR ": invalid value \"abcd\": expected at most 3 characters\n");
}
END_TEST

/* ---- dependency settings (depconfig) ---- */

static void unset_pool_vars(void)
{
    unsetenv("THREADS");
    unsetenv("REDIS_POOL_SIZE");
    unsetenv("REDIS_URL");
    unsetenv("REDIS_TIMEOUT_MS");
}

START_TEST(test_depconfig_redis_pool_defaults_to_default_threads)
{
    struct ms_redis_config cfg;

    ck_assert_int_eq(ms_redis_config_from_env(&cfg, "product", "redis://127.0.0.1:6379/0"), 0);
    ck_assert_int_eq(cfg.size, ms_server_default_threads());
}
END_TEST

/* A Redis answer 200 ms late (a slow link: chaos experiment n4) is late, not lost: the default
 * command time-out is well past it. */
START_TEST(test_depconfig_redis_command_timeout_outlasts_a_slow_link)
{
    struct ms_redis_config cfg;

    ck_assert_int_eq(ms_redis_config_from_env(&cfg, "product", "redis://127.0.0.1:6379/0"), 0);
    ck_assert_int_eq(cfg.command_timeout_ms, 500);
    ck_assert_int_eq(setenv("REDIS_TIMEOUT_MS", "150", 1), 0);
    ck_assert_int_eq(ms_redis_config_from_env(&cfg, "product", "redis://127.0.0.1:6379/0"), 0);
    ck_assert_int_eq(cfg.command_timeout_ms, 150);
}
END_TEST

START_TEST(test_depconfig_redis_pool_follows_threads)
{
    struct ms_redis_config cfg;

    ck_assert_int_eq(setenv("THREADS", "13", 1), 0);
    ck_assert_int_eq(ms_redis_config_from_env(&cfg, "product", "redis://127.0.0.1:6379/0"), 0);
    ck_assert_int_eq(cfg.size, 13);
}
END_TEST

START_TEST(test_depconfig_redis_pool_size_wins_over_threads)
{
    struct ms_redis_config cfg;

    ck_assert_int_eq(setenv("THREADS", "13", 1), 0);
    ck_assert_int_eq(setenv("REDIS_POOL_SIZE", "3", 1), 0);
    ck_assert_int_eq(ms_redis_config_from_env(&cfg, "product", "redis://127.0.0.1:6379/0"), 0);
    ck_assert_int_eq(cfg.size, 3);
}
END_TEST

START_TEST(test_depconfig_redis_pool_ignores_bad_threads)
{
    struct ms_redis_config cfg;

    ck_assert_int_eq(setenv("THREADS", "lots", 1), 0);
    ck_assert_int_eq(ms_redis_config_from_env(&cfg, "product", "redis://127.0.0.1:6379/0"), 0);
    ck_assert_int_eq(cfg.size, ms_server_default_threads());
}
END_TEST

START_TEST(test_depconfig_default_threads_is_four_per_cpu_at_least_16_at_most_64)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int want = cpus <= 4 ? 16 : cpus < 16 ? (int)cpus * 4 : 64;

    ck_assert_int_eq(ms_server_default_threads(), want);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *ints = tcase_create("int");
    TCase *bools = tcase_create("bool");
    TCase *strs = tcase_create("str");
    TCase *deps = tcase_create("depconfig");

    tcase_add_checked_fixture(ints, setup, teardown);
    tcase_add_test(ints, test_config_int_unset_gives_default);
    tcase_add_test(ints, test_config_int_empty_gives_default);
    tcase_add_test(ints, test_config_int_reads_value);
    tcase_add_test(ints, test_config_int_reads_negative_value);
    tcase_add_test(ints, test_config_int_accepts_range_bounds);
    tcase_add_test(ints, test_config_int_success_prints_nothing);
    tcase_add_test(ints, test_config_int_rejects_below_min);
    tcase_add_test(ints, test_config_int_rejects_above_max);
    tcase_add_test(ints, test_config_int_rejects_trailing_garbage);
    tcase_add_test(ints, test_config_int_rejects_trailing_space);
    tcase_add_test(ints, test_config_int_rejects_leading_space_plus_and_hex);
    tcase_add_test(ints, test_config_int_rejects_unit_suffix);
    tcase_add_test(ints, test_config_int_rejects_non_number);
    tcase_add_test(ints, test_config_int_rejects_decimal_fraction);
    tcase_add_test(ints, test_config_int_rejects_overflow);
    tcase_add_test(ints, test_config_int_error_line_names_variable);
    tcase_add_test(ints, test_config_int_range_error_line_names_variable);
    tcase_add_test(ints, test_config_i_reads_value);
    tcase_add_test(ints, test_config_i_unset_gives_default);
    tcase_add_test(ints, test_config_i_rejects_out_of_range);
    tcase_add_test(ints, test_config_i_rejects_value_past_int);
    suite_add_tcase(s, ints);

    tcase_add_checked_fixture(bools, setup, teardown);
    tcase_add_loop_test(bools, test_config_bool_reads_true_spellings, 0,
                        (int)(sizeof(true_spellings) / sizeof(true_spellings[0])));
    tcase_add_loop_test(bools, test_config_bool_reads_false_spellings, 0,
                        (int)(sizeof(false_spellings) / sizeof(false_spellings[0])));
    tcase_add_loop_test(bools, test_config_bool_rejects_other_words, 0,
                        (int)(sizeof(bad_bools) / sizeof(bad_bools[0])));
    tcase_add_test(bools, test_config_bool_unset_gives_default);
    tcase_add_test(bools, test_config_bool_empty_gives_default);
    tcase_add_test(bools, test_config_bool_error_line_names_variable);
    suite_add_tcase(s, bools);

    tcase_add_checked_fixture(strs, setup, teardown);
    tcase_add_test(strs, test_config_str_unset_gives_default);
    tcase_add_test(strs, test_config_str_empty_gives_default);
    tcase_add_test(strs, test_config_str_reads_value_from_environment);
    tcase_add_test(strs, test_config_str_accepts_max_len);
    tcase_add_test(strs, test_config_str_rejects_over_max_len);
    tcase_add_test(strs, test_config_str_error_line_names_variable);
    suite_add_tcase(s, strs);

    tcase_add_checked_fixture(deps, unset_pool_vars, unset_pool_vars);
    tcase_add_test(deps, test_depconfig_redis_pool_defaults_to_default_threads);
    tcase_add_test(deps, test_depconfig_redis_command_timeout_outlasts_a_slow_link);
    tcase_add_test(deps, test_depconfig_redis_pool_follows_threads);
    tcase_add_test(deps, test_depconfig_redis_pool_size_wins_over_threads);
    tcase_add_test(deps, test_depconfig_redis_pool_ignores_bad_threads);
    tcase_add_test(deps, test_depconfig_default_threads_is_four_per_cpu_at_least_16_at_most_64);
    suite_add_tcase(s, deps);
    return s;
}

int main(void)
{
    return ms_test_main(config_suite(), true);
}
