/* Fault injection settings: environment, the packed atomic word, the JSON admin update and the
 * per-request dice. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "ms/err.h"
#include "ms/faults.h"
#include "runner.h"

enum { ROLLS = 10000 };

static const char *const env_names[] = {"FAULT_DELAY_MS", "FAULT_DELAY_PERCENT",
                                        "FAULT_ABORT_STATUS", "FAULT_ABORT_PERCENT"};

/* A setting no test asks for, to show that a refused change left things alone. */
static const struct ms_faults_spec before = {
    .delay_ms = 1234, .delay_percent = 12, .abort_status = 503, .abort_percent = 34};

static struct ms_faults f;
static struct ms_verr e;
static json_t *doc;
static struct ms_test_capture capture; /* stderr goes here while a test runs */

static void unset_env(void)
{
    for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
}

/* Starts from the `before` settings, a clean environment and stderr sent to a temporary file. */
static void setup(void)
{
    unset_env();
    ms_faults_set(&f, &before);
    memset(&e, 0, sizeof(e));
    doc = NULL;
    ms_test_capture_start(&capture, STDERR_FILENO);
}

static void teardown(void)
{
    ms_test_capture_stop(&capture);
    json_decref(doc);
    doc = NULL;
    unset_env();
}

/* Everything written to stderr since setup. */
static const char *stderr_text(void)
{
    return ms_test_capture_text(&capture);
}

/* stderr holds an error line that starts with prefix (the variable's name, and so on). */
static void assert_stderr_starts_with(const char *prefix)
{
    const char *text = stderr_text();

    ck_assert_msg(strncmp(text, prefix, strlen(prefix)) == 0, "stderr: %s", text);
}

static void assert_spec(struct ms_faults_spec got, struct ms_faults_spec want)
{
    ck_assert_int_eq(got.delay_ms, want.delay_ms);
    ck_assert_int_eq(got.delay_percent, want.delay_percent);
    ck_assert_int_eq(got.abort_status, want.abort_status);
    ck_assert_int_eq(got.abort_percent, want.abort_percent);
}

static void assert_unchanged(void)
{
    assert_spec(ms_faults_get(&f), before);
}

/* Applies a JSON text through ms_faults_set_json; its return code. */
static int set_json(const char *text)
{
    json_error_t jerr;

    json_decref(doc);
    doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(doc != NULL, "bad fixture %s: %s", text, jerr.text);
    return ms_faults_set_json(&f, doc, &e);
}

static void set_spec(int delay_ms, int delay_percent, int abort_status, int abort_percent)
{
    struct ms_faults_spec s = {delay_ms, delay_percent, abort_status, abort_percent};

    ms_faults_set(&f, &s);
}

/* Counts, over ROLLS rolls, how many gave a delay and how many an abort; checks their values. */
static void roll_many(int *delays, int *aborts)
{
    struct ms_faults_spec s = ms_faults_get(&f);

    *delays = *aborts = 0;
    for (int i = 0; i < ROLLS; i++) {
        int delay_ms = -1, abort_status = -1;

        ms_faults_roll(&f, &delay_ms, &abort_status);
        ck_assert(delay_ms == 0 || delay_ms == s.delay_ms);
        ck_assert(abort_status == 0 || abort_status == s.abort_status);
        *delays += delay_ms != 0;
        *aborts += abort_status != 0;
    }
}

/* Environment */

START_TEST(test_faults_env_unset_gives_no_faults)
{
    ck_assert_int_eq(ms_faults_from_env(&f), 0);
    assert_spec(ms_faults_get(&f), (struct ms_faults_spec){0, 0, 0, 0});
}
END_TEST

START_TEST(test_faults_env_reads_all_four)
{
    setenv("FAULT_DELAY_MS", "250", 1);
    setenv("FAULT_DELAY_PERCENT", "10", 1);
    setenv("FAULT_ABORT_STATUS", "503", 1);
    setenv("FAULT_ABORT_PERCENT", "5", 1);
    ck_assert_int_eq(ms_faults_from_env(&f), 0);
    assert_spec(ms_faults_get(&f), (struct ms_faults_spec){250, 10, 503, 5});
}
END_TEST

START_TEST(test_faults_env_refuses_abort_status_200)
{
    setenv("FAULT_ABORT_STATUS", "200", 1);
    ck_assert_int_eq(ms_faults_from_env(&f), MS_EINVAL);
    assert_stderr_starts_with("FAULT_ABORT_STATUS: invalid value \"200\"");
}
END_TEST

START_TEST(test_faults_env_refused_status_leaves_settings_unchanged)
{
    setenv("FAULT_DELAY_MS", "100", 1);
    setenv("FAULT_ABORT_STATUS", "200", 1);
    ck_assert_int_eq(ms_faults_from_env(&f), MS_EINVAL);
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_env_refuses_status_over_599)
{
    setenv("FAULT_ABORT_STATUS", "600", 1);
    ck_assert_int_eq(ms_faults_from_env(&f), MS_EINVAL);
    assert_stderr_starts_with("FAULT_ABORT_STATUS: invalid value \"600\"");
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_env_refuses_delay_over_max)
{
    setenv("FAULT_DELAY_MS", "600001", 1);
    ck_assert_int_eq(ms_faults_from_env(&f), MS_EINVAL);
    assert_stderr_starts_with("FAULT_DELAY_MS: invalid value \"600001\"");
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_env_refuses_percent_over_100)
{
    setenv("FAULT_ABORT_PERCENT", "101", 1);
    ck_assert_int_eq(ms_faults_from_env(&f), MS_EINVAL);
    assert_stderr_starts_with("FAULT_ABORT_PERCENT: invalid value \"101\"");
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_env_refuses_garbage)
{
    setenv("FAULT_DELAY_PERCENT", "10%", 1);
    ck_assert_int_eq(ms_faults_from_env(&f), MS_EINVAL);
    assert_stderr_starts_with("FAULT_DELAY_PERCENT: invalid value \"10%\"");
    assert_unchanged();
}
END_TEST

/* The packed word */

START_TEST(test_faults_round_trip_at_maxima)
{
    struct ms_faults_spec max = {600000, 100, 599, 100};

    ms_faults_set(&f, &max);
    assert_spec(ms_faults_get(&f), max);
}
END_TEST

START_TEST(test_faults_round_trip_at_zero)
{
    struct ms_faults_spec zero = {0, 0, 0, 0};

    ms_faults_set(&f, &zero);
    assert_spec(ms_faults_get(&f), zero);
}
END_TEST

START_TEST(test_faults_round_trip_lowest_abort_status)
{
    struct ms_faults_spec s = {1, 1, 400, 1};

    ms_faults_set(&f, &s);
    assert_spec(ms_faults_get(&f), s);
}
END_TEST

/* Each field alone at its maximum, the others zero: no bits spill into a neighbour. */
static const struct ms_faults_spec single_field_maxima[] = {
    {600000, 0, 0, 0},
    {0, 100, 0, 0},
    {0, 0, 599, 0},
    {0, 0, 0, 100},
};

START_TEST(test_faults_fields_do_not_overlap)
{
    ms_faults_set(&f, &single_field_maxima[_i]);
    assert_spec(ms_faults_get(&f), single_field_maxima[_i]);
}
END_TEST

START_TEST(test_faults_to_json_reports_all_fields)
{
    doc = ms_faults_to_json(&f);
    ck_assert_ptr_nonnull(doc);
    ck_assert_uint_eq(json_object_size(doc), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "delay_ms")), before.delay_ms);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "delay_percent")),
                     before.delay_percent);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "abort_status")), before.abort_status);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "abort_percent")),
                     before.abort_percent);
}
END_TEST

/* ms_faults_set_json */

START_TEST(test_faults_json_sets_all_fields)
{
    ck_assert_int_eq(set_json("{\"delay_ms\": 600000, \"delay_percent\": 100,"
                              " \"abort_status\": 599, \"abort_percent\": 100}"),
                     0);
    assert_spec(ms_faults_get(&f), (struct ms_faults_spec){600000, 100, 599, 100});
}
END_TEST

START_TEST(test_faults_json_partial_update_keeps_other_fields)
{
    ck_assert_int_eq(set_json("{\"delay_ms\": 50}"), 0);
    assert_spec(ms_faults_get(&f),
                (struct ms_faults_spec){50, before.delay_percent, before.abort_status,
                                        before.abort_percent});
}
END_TEST

START_TEST(test_faults_json_abort_only_update_keeps_delay)
{
    ck_assert_int_eq(set_json("{\"abort_status\": 429, \"abort_percent\": 100}"), 0);
    assert_spec(ms_faults_get(&f),
                (struct ms_faults_spec){before.delay_ms, before.delay_percent, 429, 100});
}
END_TEST

START_TEST(test_faults_json_empty_object_changes_nothing)
{
    ck_assert_int_eq(set_json("{}"), 0);
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_json_zero_clears_abort)
{
    ck_assert_int_eq(set_json("{\"abort_status\": 0}"), 0);
    ck_assert_int_eq(ms_faults_get(&f).abort_status, 0);
}
END_TEST

START_TEST(test_faults_json_null_keeps_field)
{
    ck_assert_int_eq(set_json("{\"delay_ms\": null, \"abort_percent\": 1}"), 0);
    assert_spec(ms_faults_get(&f), (struct ms_faults_spec){before.delay_ms, before.delay_percent,
                                                           before.abort_status, 1});
}
END_TEST

START_TEST(test_faults_json_rejects_unknown_key)
{
    ck_assert_int_eq(set_json("{\"delay_ms\": 5, \"delay\": 5}"), MS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "\"delay\""));
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_json_rejects_non_object)
{
    ck_assert_int_eq(set_json("[1, 2]"), MS_EINVAL);
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_json_rejects_delay_over_max)
{
    ck_assert_int_eq(set_json("{\"delay_ms\": 600001}"), MS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "delay_ms"));
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_json_rejects_negative_delay)
{
    ck_assert_int_eq(set_json("{\"delay_ms\": -1}"), MS_EINVAL);
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_json_rejects_percent_over_100)
{
    ck_assert_int_eq(set_json("{\"delay_percent\": 101}"), MS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "delay_percent"));
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_json_rejects_negative_percent)
{
    ck_assert_int_eq(set_json("{\"abort_percent\": -1}"), MS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "abort_percent"));
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_json_rejects_success_status)
{
    ck_assert_int_eq(set_json("{\"abort_status\": 200}"), MS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "abort_status"));
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_json_rejects_status_over_599)
{
    ck_assert_int_eq(set_json("{\"abort_status\": 600}"), MS_EINVAL);
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_json_rejects_status_that_would_wrap)
{
    /* 400 + 2^32 would be 400 if narrowed to int before the range check */
    ck_assert_int_eq(set_json("{\"abort_status\": 4294967696}"), MS_EINVAL);
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_json_rejects_string_value)
{
    ck_assert_int_eq(set_json("{\"delay_ms\": \"100\"}"), MS_EINVAL);
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_json_rejects_real_value)
{
    ck_assert_int_eq(set_json("{\"delay_percent\": 50.5}"), MS_EINVAL);
    assert_unchanged();
}
END_TEST

START_TEST(test_faults_json_applies_nothing_when_one_field_is_bad)
{
    ck_assert_int_eq(set_json("{\"delay_ms\": 10, \"delay_percent\": 20, \"abort_percent\": 101}"),
                     MS_EINVAL);
    assert_unchanged();
}
END_TEST

/* ms_faults_roll */

START_TEST(test_faults_roll_zero_percent_never_fires)
{
    int delays, aborts;

    set_spec(100, 0, 500, 0);
    roll_many(&delays, &aborts);
    ck_assert_int_eq(delays, 0);
    ck_assert_int_eq(aborts, 0);
}
END_TEST

START_TEST(test_faults_roll_hundred_percent_always_fires)
{
    int delays, aborts;

    set_spec(100, 100, 500, 100);
    roll_many(&delays, &aborts);
    ck_assert_int_eq(delays, ROLLS);
    ck_assert_int_eq(aborts, ROLLS);
}
END_TEST

START_TEST(test_faults_roll_gives_configured_values)
{
    int delay_ms = 0, abort_status = 0;

    set_spec(600000, 100, 599, 100);
    ms_faults_roll(&f, &delay_ms, &abort_status);
    ck_assert_int_eq(delay_ms, 600000);
    ck_assert_int_eq(abort_status, 599);
}
END_TEST

START_TEST(test_faults_roll_thirty_percent_fires_about_thirty_percent)
{
    int delays, aborts;

    /* Binomial(10000, 0.3): mean 3000, sd about 46; the band is over 8 sd wide each way. */
    set_spec(100, 30, 500, 30);
    roll_many(&delays, &aborts);
    ck_assert_msg(delays >= 2600 && delays <= 3400, "delays: %d of %d", delays, ROLLS);
    ck_assert_msg(aborts >= 2600 && aborts <= 3400, "aborts: %d of %d", aborts, ROLLS);
}
END_TEST

START_TEST(test_faults_roll_delay_and_abort_are_independent)
{
    int delays, aborts;

    set_spec(100, 100, 500, 0);
    roll_many(&delays, &aborts);
    ck_assert_int_eq(delays, ROLLS);
    ck_assert_int_eq(aborts, 0);
}
END_TEST

START_TEST(test_faults_roll_zero_values_mean_no_fault)
{
    int delays, aborts;

    set_spec(0, 100, 0, 100);
    roll_many(&delays, &aborts);
    ck_assert_int_eq(delays, 0);
    ck_assert_int_eq(aborts, 0);
}
END_TEST

static Suite *faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *env = tcase_create("env");
    TCase *packed = tcase_create("packed");
    TCase *json = tcase_create("json");
    TCase *roll = tcase_create("roll");

    tcase_add_checked_fixture(env, setup, teardown);
    tcase_add_test(env, test_faults_env_unset_gives_no_faults);
    tcase_add_test(env, test_faults_env_reads_all_four);
    tcase_add_test(env, test_faults_env_refuses_abort_status_200);
    tcase_add_test(env, test_faults_env_refused_status_leaves_settings_unchanged);
    tcase_add_test(env, test_faults_env_refuses_status_over_599);
    tcase_add_test(env, test_faults_env_refuses_delay_over_max);
    tcase_add_test(env, test_faults_env_refuses_percent_over_100);
    tcase_add_test(env, test_faults_env_refuses_garbage);
    suite_add_tcase(s, env);

    tcase_add_checked_fixture(packed, setup, teardown);
    tcase_add_test(packed, test_faults_round_trip_at_maxima);
    tcase_add_test(packed, test_faults_round_trip_at_zero);
    tcase_add_test(packed, test_faults_round_trip_lowest_abort_status);
    tcase_add_loop_test(packed, test_faults_fields_do_not_overlap, 0,
                        (int)(sizeof(single_field_maxima) / sizeof(single_field_maxima[0])));
    tcase_add_test(packed, test_faults_to_json_reports_all_fields);
    suite_add_tcase(s, packed);

    tcase_add_checked_fixture(json, setup, teardown);
    tcase_add_test(json, test_faults_json_sets_all_fields);
    tcase_add_test(json, test_faults_json_partial_update_keeps_other_fields);
    tcase_add_test(json, test_faults_json_abort_only_update_keeps_delay);
    tcase_add_test(json, test_faults_json_empty_object_changes_nothing);
    tcase_add_test(json, test_faults_json_zero_clears_abort);
    tcase_add_test(json, test_faults_json_null_keeps_field);
    tcase_add_test(json, test_faults_json_rejects_unknown_key);
    tcase_add_test(json, test_faults_json_rejects_non_object);
    tcase_add_test(json, test_faults_json_rejects_delay_over_max);
    tcase_add_test(json, test_faults_json_rejects_negative_delay);
    tcase_add_test(json, test_faults_json_rejects_percent_over_100);
    tcase_add_test(json, test_faults_json_rejects_negative_percent);
    tcase_add_test(json, test_faults_json_rejects_success_status);
    tcase_add_test(json, test_faults_json_rejects_status_over_599);
    tcase_add_test(json, test_faults_json_rejects_status_that_would_wrap);
    tcase_add_test(json, test_faults_json_rejects_string_value);
    tcase_add_test(json, test_faults_json_rejects_real_value);
    tcase_add_test(json, test_faults_json_applies_nothing_when_one_field_is_bad);
    suite_add_tcase(s, json);

    tcase_add_checked_fixture(roll, setup, teardown);
    tcase_add_test(roll, test_faults_roll_zero_percent_never_fires);
    tcase_add_test(roll, test_faults_roll_hundred_percent_always_fires);
    tcase_add_test(roll, test_faults_roll_gives_configured_values);
    tcase_add_test(roll, test_faults_roll_thirty_percent_fires_about_thirty_percent);
    tcase_add_test(roll, test_faults_roll_delay_and_abort_are_independent);
    tcase_add_test(roll, test_faults_roll_zero_values_mean_no_fault);
    suite_add_tcase(s, roll);
    return s;
}

int main(void)
{
    return ms_test_main(faults_suite(), true);
}
