/* JSON-lines logging to stdout. */
#include "ms/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ms/config.h"
#include "ms/err.h"

static char service_name[64] = "unknown";
static enum ms_log_level min_level = MS_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ms_log_init(const char *service, enum ms_log_level level)
{
    snprintf(service_name, sizeof(service_name), "%s", service);
    min_level = level;
}

int ms_log_level_parse(const char *s, enum ms_log_level *out)
{
    for (int i = MS_LOG_DEBUG; i <= MS_LOG_ERROR; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum ms_log_level)i;
            return 0;
        }
    }
    return MS_EINVAL;
}

int ms_log_init_from_env(const char *service)
{
    const char *v;
    enum ms_log_level level;

    if (ms_config_str("LOG_LEVEL", "info", 16, &v))
        return MS_EINVAL;
    if (ms_log_level_parse(v, &level)) {
        fprintf(stderr, "LOG_LEVEL: invalid value \"%s\": expected debug, info, warn or error\n",
                v);
        return MS_EINVAL;
    }
    ms_log_init(service, level);
    return 0;
}

int ms_log_enabled(enum ms_log_level level)
{
    return level >= min_level;
}

/* RFC 3339 UTC with milliseconds, the form log pipelines parse without configuration. */
static void format_time(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
}

static void write_line(char *line)
{
    size_t len = strlen(line);
    size_t off = 0;

    line[len++] = '\n'; /* json_dumps left room: we replaced its NUL, never write past it */
    while (off < len) {
        ssize_t n = write(STDOUT_FILENO, line + off, len - off);
        if (n <= 0)
            return; /* stdout gone: nothing better to do with a log line */
        off += (size_t)n;
    }
}

void ms_log_json_new(enum ms_log_level level, json_t *fields)
{
    char when[40];
    json_t *obj;
    char *line;

    if (!fields)
        return;
    if (!ms_log_enabled(level)) {
        json_decref(fields);
        return;
    }
    format_time(when, sizeof(when));
    /* time, level and service lead every line, so people reading raw logs find them */
    obj = json_pack("{s:s,s:s,s:s}", "time", when, "level", level_names[level], "service",
                    service_name);
    if (obj)
        json_object_update(obj, fields);
    json_decref(fields);
    line =
        obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(obj);
    if (!line)
        return;
    write_line(line);
    free(line);
}

void ms_logf(enum ms_log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!ms_log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ms_log_json_new(level, json_pack("{s:s}", "msg", msg));
}
