/* Structured logs: one JSON object per line on stdout (time, level, service, event fields). */
#ifndef MS_LOG_H
#define MS_LOG_H

#include <jansson.h>

enum ms_log_level { MS_LOG_DEBUG, MS_LOG_INFO, MS_LOG_WARN, MS_LOG_ERROR };

/* Sets the service name put on every line and the lowest level written. Call once in main
 * before threads start. */
void ms_log_init(const char *service, enum ms_log_level min_level);

/* Parses "debug", "info", "warn", "error". 0 or MS_EINVAL. */
int ms_log_level_parse(const char *s, enum ms_log_level *out);

/* Reads LOG_LEVEL (default info) and calls ms_log_init. 0 or MS_EINVAL (reported on stderr). */
int ms_log_init_from_env(const char *service);

/* Is a line at this level written? Lets callers skip building fields nobody will read. */
int ms_log_enabled(enum ms_log_level level);

/* Writes fields (a JSON object, stolen) with "time", "level" and "service" added, as one line
 * in a single write(2), so lines from worker threads never interleave. */
void ms_log_json_new(enum ms_log_level level, json_t *fields);

/* A message line: {"time","level","service","msg": formatted}. */
void ms_logf(enum ms_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
