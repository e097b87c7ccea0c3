/* Trace ids for logs from traceparent or B3 headers, and the per-thread current trace. */
#include <check.h>
#include <pthread.h>
#include <string.h>

#include "ms/trace.h"
#include "runner.h"

enum { TRACEPARENT = 1, B3_TRACEID = 3 };

#define TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SPAN_ID "00f067aa0ba902b7"
#define B3_ID "463ac35c9f6413ad48485a3953bb6124"

static struct ms_trace trace;
static char buf[64];

static void setup(void)
{
    memset(&trace, 0, sizeof(trace));
    memset(buf, 'X', sizeof(buf));
}

/* A test that set this thread's trace leaves none behind (it matters when Check does not fork). */
static void clear_current(void)
{
    ms_trace_set_current(NULL);
}

/* The trace id of the file's trace, with the whole buffer available. */
static const char *trace_id(void)
{
    return ms_trace_id(&trace, buf, sizeof(buf));
}

START_TEST(test_trace_header_names_align_with_values)
{
    ck_assert_str_eq(ms_trace_header_names[MS_TRACE_REQUEST_ID], "x-request-id");
    ck_assert_str_eq(ms_trace_header_names[TRACEPARENT], "traceparent");
    ck_assert_str_eq(ms_trace_header_names[B3_TRACEID], "x-b3-traceid");
}
END_TEST

START_TEST(test_trace_id_from_traceparent)
{
    trace.values[TRACEPARENT] = "00-" TRACE_ID "-" SPAN_ID "-01";
    ck_assert_ptr_eq(trace_id(), buf);
    ck_assert_str_eq(buf, TRACE_ID);
}
END_TEST

START_TEST(test_trace_id_from_unsampled_traceparent)
{
    trace.values[TRACEPARENT] = "00-" TRACE_ID "-" SPAN_ID "-00";
    ck_assert_ptr_nonnull(trace_id());
    ck_assert_str_eq(buf, TRACE_ID);
}
END_TEST

START_TEST(test_trace_id_from_b3_traceid)
{
    trace.values[B3_TRACEID] = B3_ID;
    ck_assert_ptr_eq(trace_id(), buf);
    ck_assert_str_eq(buf, B3_ID);
}
END_TEST

START_TEST(test_trace_id_from_short_b3_traceid)
{
    trace.values[B3_TRACEID] = "a3ce929d0e0e4736"; /* B3 allows 64-bit ids */
    ck_assert_ptr_nonnull(trace_id());
    ck_assert_str_eq(buf, "a3ce929d0e0e4736");
}
END_TEST

START_TEST(test_trace_id_prefers_traceparent_over_b3)
{
    trace.values[TRACEPARENT] = "00-" TRACE_ID "-" SPAN_ID "-01";
    trace.values[B3_TRACEID] = B3_ID;
    ck_assert_ptr_nonnull(trace_id());
    ck_assert_str_eq(buf, TRACE_ID);
}
END_TEST

START_TEST(test_trace_id_falls_back_to_b3_when_traceparent_is_malformed)
{
    trace.values[TRACEPARENT] = "garbage";
    trace.values[B3_TRACEID] = B3_ID;
    ck_assert_ptr_nonnull(trace_id());
    ck_assert_str_eq(buf, B3_ID);
}
END_TEST

START_TEST(test_trace_id_falls_back_to_b3_when_traceparent_id_is_not_hex)
{
    trace.values[TRACEPARENT] = "00-4bf92f3577b34da6a3ce929d0e0e473g-" SPAN_ID "-01";
    trace.values[B3_TRACEID] = B3_ID;
    ck_assert_ptr_nonnull(trace_id());
    ck_assert_str_eq(buf, B3_ID);
}
END_TEST

/* traceparent values that hold no usable trace id, with no B3 header to fall back on. */
static const char *const malformed_traceparents[] = {
    "",
    "00",
    "00-4bf92f3577b34da6a3ce929d0e0e4736",                /* too short: no separator after the id */
    "00-4bf92f3577b34da6a3ce929d0e0e473g-" SPAN_ID "-01", /* 'g' in the trace id */
    "00-4bf92f3577b34da6a3ce929d0e0e47-" SPAN_ID "-01",   /* 30 digits */
    "00_" TRACE_ID "-" SPAN_ID "-01",                     /* wrong first separator */
    "00-" TRACE_ID "_" SPAN_ID "-01",                     /* wrong second separator */
    "00-4bf92f3577b34da6 3ce929d0e0e4736-" SPAN_ID "-01", /* a space in the trace id */
    "0-" TRACE_ID "-" SPAN_ID "-01",                      /* one-digit version */
};

START_TEST(test_trace_id_null_for_malformed_traceparent)
{
    trace.values[TRACEPARENT] = malformed_traceparents[_i];
    ck_assert_msg(trace_id() == NULL, "\"%s\" gave \"%s\"", malformed_traceparents[_i], buf);
}
END_TEST

static const char *const malformed_b3_ids[] = {
    "", "xyz", "463ac35c9f6413ad-48485a3953bb6124", "463ac35c9f6413ad ", "0x463ac35c9f6413ad",
};

START_TEST(test_trace_id_null_for_malformed_b3_traceid)
{
    trace.values[B3_TRACEID] = malformed_b3_ids[_i];
    ck_assert_msg(trace_id() == NULL, "\"%s\" gave \"%s\"", malformed_b3_ids[_i], buf);
}
END_TEST

START_TEST(test_trace_id_null_without_trace_headers)
{
    trace.values[MS_TRACE_REQUEST_ID] = "req-1";
    ck_assert_ptr_null(trace_id());
}
END_TEST

START_TEST(test_trace_id_null_for_null_trace)
{
    ck_assert_ptr_null(ms_trace_id(NULL, buf, sizeof(buf)));
}
END_TEST

START_TEST(test_trace_id_fits_exact_buffer)
{
    trace.values[TRACEPARENT] = "00-" TRACE_ID "-" SPAN_ID "-01";
    ck_assert_ptr_nonnull(ms_trace_id(&trace, buf, 33));
    ck_assert_str_eq(buf, TRACE_ID);
}
END_TEST

START_TEST(test_trace_id_refuses_small_buffer_without_writing_past_it)
{
    trace.values[TRACEPARENT] = "00-" TRACE_ID "-" SPAN_ID "-01";
    ck_assert_ptr_null(ms_trace_id(&trace, buf, 32));
    for (size_t i = 32; i < sizeof(buf); i++)
        ck_assert_int_eq(buf[i], 'X');
}
END_TEST

/* ms_trace_current */

struct seen {
    const struct ms_trace *before; /* what the thread saw on arrival */
    const struct ms_trace *after;  /* what it saw after setting its own */
    const struct ms_trace *own;
};

static void *other_thread(void *arg)
{
    struct seen *s = arg;

    s->before = ms_trace_current();
    ms_trace_set_current(s->own);
    s->after = ms_trace_current();
    return NULL;
}

START_TEST(test_trace_current_null_outside_request)
{
    ck_assert_ptr_null(ms_trace_current());
}
END_TEST

START_TEST(test_trace_current_returns_what_was_set)
{
    ms_trace_set_current(&trace);
    ck_assert_ptr_eq(ms_trace_current(), &trace);
}
END_TEST

START_TEST(test_trace_current_cleared_with_null)
{
    ms_trace_set_current(&trace);
    ms_trace_set_current(NULL);
    ck_assert_ptr_null(ms_trace_current());
}
END_TEST

START_TEST(test_trace_current_not_seen_by_other_thread)
{
    struct seen s = {.own = NULL};
    pthread_t t;

    ms_trace_set_current(&trace);
    ck_assert_int_eq(pthread_create(&t, NULL, other_thread, &s), 0);
    pthread_join(t, NULL);
    ck_assert_ptr_null(s.before);
}
END_TEST

START_TEST(test_trace_current_set_in_other_thread_stays_there)
{
    static struct ms_trace theirs;
    struct seen s = {.own = &theirs};
    pthread_t t;

    ms_trace_set_current(&trace);
    ck_assert_int_eq(pthread_create(&t, NULL, other_thread, &s), 0);
    pthread_join(t, NULL);
    ck_assert_ptr_eq(s.after, &theirs);
    ck_assert_ptr_eq(ms_trace_current(), &trace);
}
END_TEST

static Suite *trace_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *id = tcase_create("id");
    TCase *current = tcase_create("current");

    tcase_add_checked_fixture(id, setup, NULL);
    tcase_add_test(id, test_trace_header_names_align_with_values);
    tcase_add_test(id, test_trace_id_from_traceparent);
    tcase_add_test(id, test_trace_id_from_unsampled_traceparent);
    tcase_add_test(id, test_trace_id_from_b3_traceid);
    tcase_add_test(id, test_trace_id_from_short_b3_traceid);
    tcase_add_test(id, test_trace_id_prefers_traceparent_over_b3);
    tcase_add_test(id, test_trace_id_falls_back_to_b3_when_traceparent_is_malformed);
    tcase_add_test(id, test_trace_id_falls_back_to_b3_when_traceparent_id_is_not_hex);
    tcase_add_loop_test(id, test_trace_id_null_for_malformed_traceparent, 0,
                        (int)(sizeof(malformed_traceparents) / sizeof(malformed_traceparents[0])));
    tcase_add_loop_test(id, test_trace_id_null_for_malformed_b3_traceid, 0,
                        (int)(sizeof(malformed_b3_ids) / sizeof(malformed_b3_ids[0])));
    tcase_add_test(id, test_trace_id_null_without_trace_headers);
    tcase_add_test(id, test_trace_id_null_for_null_trace);
    tcase_add_test(id, test_trace_id_fits_exact_buffer);
    tcase_add_test(id, test_trace_id_refuses_small_buffer_without_writing_past_it);
    suite_add_tcase(s, id);

    tcase_add_checked_fixture(current, NULL, clear_current);
    tcase_add_test(current, test_trace_current_null_outside_request);
    tcase_add_test(current, test_trace_current_returns_what_was_set);
    tcase_add_test(current, test_trace_current_cleared_with_null);
    tcase_add_test(current, test_trace_current_not_seen_by_other_thread);
    tcase_add_test(current, test_trace_current_set_in_other_thread_stays_there);
    suite_add_tcase(s, current);
    return s;
}

int main(void)
{
    return ms_test_main(trace_suite(), true);
}
