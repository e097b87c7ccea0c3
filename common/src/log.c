/* JSON-lines logging to stdout. */
#include "ms/log.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* RFC 3339 UTC with milliseconds, the form log pipelines parse without configuration. The
 * part up to the seconds changes once a second: each thread formats it then and keeps it. */
static void format_time(char *buf, size_t cap)
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[32];
    static _Thread_local size_t cached_len;
    struct timespec ts;
    struct tm tm;
    int ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        gmtime_r(&ts.tv_sec, &tm);
        cached_len = strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = ts.tv_sec;
    }
    ms = (int)(ts.tv_nsec / 1000000);
    if (cap < cached_len + 6)
        return;
    memcpy(buf, cached, cached_len);
    buf[cached_len] = '.';
    buf[cached_len + 1] = (char)('0' + ms / 100);
    buf[cached_len + 2] = (char)('0' + ms / 10 % 10);
    buf[cached_len + 3] = (char)('0' + ms % 10);
    buf[cached_len + 4] = 'Z';
    buf[cached_len + 5] = '\0';
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

/* ---- ms_log_fields: a line without a JSON object ---- */

/* A line under construction in a fixed buffer; len past cap means it did not fit. */
struct line {
    char *buf;
    size_t cap;
    size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->len + n < l->cap)
        memcpy(l->buf + l->len, s, n);
    l->len += n;
}

/* A JSON string. Returns false for non-ASCII bytes, which need the UTF-8 checks of jansson. */
static bool put_string(struct line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    put(l, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (c >= 0x80)
            return false;
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            put(l, esc, 2);
        } else if (c < 0x20) {
            put(l, esc, 6);
        } else {
            put(l, (const char *)&c, 1);
        }
    }
    put(l, "\"", 1);
    return true;
}

/* Decimal digits of v, by hand: the access line has numbers on every request. */
static void put_uint(struct line *l, unsigned long long v, int min_digits)
{
    char digits[24];
    int n = 0;

    do {
        digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < min_digits);
    put(l, digits + sizeof(digits) - n, (size_t)n);
}

static void put_int(struct line *l, long long v)
{
    if (v < 0)
        put(l, "-", 1);
    put_uint(l, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v, 1);
}

/* Milliseconds with three decimals ("12.345"); false for what is not a sane duration. */
static bool put_ms(struct line *l, double ms)
{
    long long us;

    if (!(ms > -1e12 && ms < 1e12)) /* also NaN */
        return false;
    us = llround(ms * 1000.0);
    if (us < 0) {
        put(l, "-", 1);
        us = -us;
    }
    put_uint(l, (unsigned long long)us / 1000, 1);
    put(l, ".", 1);
    put_uint(l, (unsigned long long)us % 1000, 3);
    return true;
}

static bool put_field(struct line *l, const struct ms_log_field *f)
{
    if (f->type == MS_LOG_STR && !f->str)
        return true;
    put(l, ",\"", 2);
    put(l, f->key, strlen(f->key));
    put(l, "\":", 2);
    if (f->type == MS_LOG_STR)
        return put_string(l, f->str);
    if (f->type == MS_LOG_INT) {
        put_int(l, f->num);
        return true;
    }
    return put_ms(l, f->ms);
}

/* The same line through jansson: for what the fast path cannot write. */
static void log_fields_json(enum ms_log_level level, const struct ms_log_field *fields, size_t n)
{
    json_t *obj = json_object();

    for (size_t i = 0; obj && i < n; i++) {
        const struct ms_log_field *f = &fields[i];
        json_t *v = f->type == MS_LOG_STR   ? (f->str ? json_string(f->str) : NULL)
                    : f->type == MS_LOG_INT ? json_integer(f->num)
                                            : json_real(f->ms);
        if (v)
            json_object_set_new(obj, f->key, v);
    }
    ms_log_json_new(level, obj);
}

void ms_log_fields(enum ms_log_level level, const struct ms_log_field *fields, size_t n)
{
    char buf[2048], when[40];
    struct line l = {.buf = buf, .cap = sizeof(buf) - 1}; /* room for the newline */
    bool ok;

    if (!ms_log_enabled(level))
        return;
    format_time(when, sizeof(when));
    put(&l, "{\"time\":\"", 9);
    put(&l, when, strlen(when));
    put(&l, "\",\"level\":\"", 11);
    put(&l, level_names[level], strlen(level_names[level]));
    put(&l, "\",\"service\":", 12);
    ok = put_string(&l, service_name);
    for (size_t i = 0; ok && i < n; i++)
        ok = put_field(&l, &fields[i]);
    put(&l, "}", 1);
    if (!ok || l.len >= l.cap) {
        log_fields_json(level, fields, n);
        return;
    }
    buf[l.len] = '\0';
    write_line(buf);
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
