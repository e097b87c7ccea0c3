/* Reading Prometheus text: the process's own registry (ms_metrics_render) in the suites that test
 * common/ in-process, and a service's /metrics body (ms_test_metric in http.h). */
#ifndef MS_TEST_METRICS_H
#define MS_TEST_METRICS_H

#include <stdbool.h>

/* The value in the first line of text that starts with series (the metric name and its labels)
 * followed by a space, or -1 if there is none. */
double ms_test_sample_in(const char *text, const char *series);

/* ms_test_sample_in over the rendered registry of this process. */
double ms_test_sample(const char *series);

/* Whether the rendered registry of this process has a line that is line, or starts with it and a
 * space: a whole sample ("name{labels} 3"), or a series with any value ("name{labels}"). */
bool ms_test_has_sample(const char *line);

#endif
