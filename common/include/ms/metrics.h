/* A thread-safe, process-wide registry of Prometheus counters, gauges and histograms with
 * labels, rendered in the text exposition format 0.0.4. */
#ifndef MS_METRICS_H
#define MS_METRICS_H

#include <stddef.h>

struct ms_family; /* one metric name with its help, type and label names */
struct ms_series; /* one label-value combination of a family; lives until ms_metrics_reset() */

/* Registers a family, or returns the existing one of the same name (same type and labels;
 * a mismatch is a programming error: assert). label_names is a comma-separated list
 * ("service,method,route,code") or NULL for none. Names follow Prometheus conventions
 * (counters end in _total, units in the name: _seconds, _bytes). Never returns NULL
 * except on allocation failure. Strings are copied. */
struct ms_family *ms_counter_family(const char *name, const char *help, const char *label_names);
struct ms_family *ms_gauge_family(const char *name, const char *help, const char *label_names);

/* Histogram with the given upper bounds (strictly increasing, +Inf is implicit). buckets NULL
 * means the default latency buckets: 0.001 .. 10 seconds. */
struct ms_family *ms_histogram_family(const char *name, const char *help, const char *label_names,
                                      const double *buckets, size_t nbuckets);

/* The series for these label values (as many as the family has label names; NULL entries
 * count as ""), created on first use. The pointer is stable until ms_metrics_reset(), so hot
 * paths may keep it. Values are copied. Returns NULL only on allocation failure, and every
 * update function below accepts NULL and does nothing. */
struct ms_series *ms_series_get(struct ms_family *family, const char *const *label_values);

/* Shorthand for families with no labels. */
struct ms_series *ms_series_only(struct ms_family *family);

/* Lock-free updates (atomics). Counters only go up: a negative add is ignored. */
void ms_counter_add(struct ms_series *s, double v);
void ms_counter_inc(struct ms_series *s);
void ms_gauge_set(struct ms_series *s, double v);
void ms_gauge_add(struct ms_series *s, double v);
void ms_histogram_observe(struct ms_series *s, double v);

/* Reads back a counter or gauge value (tests, health); for a histogram, its observation
 * count. NULL reads as 0. */
double ms_series_value(const struct ms_series *s);

/* Registers fn to run just before each render, e.g. to refresh gauges read from /proc.
 * Up to 16 collectors; registering the same fn and ctx again does nothing. Collectors run one
 * render at a time, so they need not be reentrant. */
void ms_metrics_on_collect(void (*fn)(void *ctx), void *ctx);

/* The whole registry in the text format 0.0.4, families in registration order. The caller
 * frees the result with free(). *len receives its length. NULL on allocation failure. */
char *ms_metrics_render(size_t *len);

/* Registers process_resident_memory_bytes, process_cpu_seconds_total,
 * process_start_time_seconds, process_open_fds (read from /proc at each render). Idempotent. */
void ms_process_metrics_register(void);

/* Escapes a label value for the text format (backslash, double quote, newline) into out,
 * which holds cap bytes; returns the length the full escape needs (like snprintf), writing at
 * most cap-1 characters plus NUL. */
size_t ms_metrics_escape_label(const char *in, char *out, size_t cap);

/* Drops every family and series, and the collectors with them (tests only; not safe while
 * other threads use the registry). */
void ms_metrics_reset(void);

#endif
