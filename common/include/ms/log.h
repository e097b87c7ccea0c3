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

/* A flat field of a line written by ms_log_fields: a string (NULL: the field is left out), an
 * integer, or a duration in milliseconds (written with three decimals). */
enum ms_log_type { MS_LOG_STR, MS_LOG_INT, MS_LOG_MS };

struct ms_log_field {
    const char *key; /* plain: letters, digits and '_', written as they are */
    enum ms_log_type type;
    const char *str;
    long long num;
    double ms;
};

/* Writes the fields with "time", "level" and "service" in front, as one line in a single
 * write(2), like ms_log_json_new but formatted straight into a buffer on the stack: no JSON
 * object is built, nothing is allocated. For lines written on every request (the access log).
 * Strings are escaped as JSON; a line that does not fit, or a string with non-ASCII bytes, goes
 * through ms_log_json_new instead, which handles both. */
void ms_log_fields(enum ms_log_level level, const struct ms_log_field *fields, size_t n);

/* A message line: {"time","level","service","msg": formatted}. */
void ms_logf(enum ms_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
