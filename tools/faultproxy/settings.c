/* The proxy's fault settings: one table of fields read from the environment at start, changed
 * as JSON by the admin API, and copied by the proxy loop when they change. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultproxy.h"
#include "ms/config.h"
#include "ms/err.h"

enum kind { K_LONG, K_PERCENT, K_BOOL };

enum { TIME_MAX_MS = 600000, NAME_MAX_LEN = 40 };
#define RATE_MAX 10000000000L /* 10 GB/s: more is no limit at all */
#define LOSE_NEXT_MAX 1000000L
#define NONE SIZE_MAX

/* One setting: its JSON name (the environment variable is PROXY_ and the name upper-cased), its
 * type and range, and the field(s) of struct fp_faults it sets. A shortcut sets both directions
 * and is not listed by GET; shortcuts come first so that a direction's own value wins. */
struct field {
    const char *name;
    enum kind kind;
    long max;
    size_t off;
    size_t off2; /* the second direction of a shortcut, or NONE */
};

#define F(member) offsetof(struct fp_faults, member)
static const struct field fields[] = {
    {"latency_ms", K_LONG, TIME_MAX_MS, F(up.latency_ms), F(down.latency_ms)},
    {"jitter_ms", K_LONG, TIME_MAX_MS, F(up.jitter_ms), F(down.jitter_ms)},
    {"rate_bps", K_LONG, RATE_MAX, F(up.rate_bps), F(down.rate_bps)},
    {"up_latency_ms", K_LONG, TIME_MAX_MS, F(up.latency_ms), NONE},
    {"up_jitter_ms", K_LONG, TIME_MAX_MS, F(up.jitter_ms), NONE},
    {"up_rate_bps", K_LONG, RATE_MAX, F(up.rate_bps), NONE},
    {"down_latency_ms", K_LONG, TIME_MAX_MS, F(down.latency_ms), NONE},
    {"down_jitter_ms", K_LONG, TIME_MAX_MS, F(down.jitter_ms), NONE},
    {"down_rate_bps", K_LONG, RATE_MAX, F(down.rate_bps), NONE},
    {"lose_answer_percent", K_PERCENT, 100, F(lose_answer_percent), NONE},
    {"lose_conn_percent", K_PERCENT, 100, F(lose_conn_percent), NONE},
    {"lose_conn_after", K_LONG, 1000000, F(lose_conn_after), NONE},
    {"reset_percent", K_PERCENT, 100, F(reset_percent), NONE},
    {"blackhole", K_BOOL, 1, F(blackhole), NONE},
    {"half_open", K_BOOL, 1, F(half_open), NONE},
};
#undef F
enum { NFIELDS = sizeof(fields) / sizeof(fields[0]) };

static void put(struct fp_faults *f, size_t off, enum kind kind, double v)
{
    char *base = (char *)f + off;

    if (kind == K_LONG)
        *(long *)(void *)base = (long)v;
    else if (kind == K_PERCENT)
        *(double *)(void *)base = v;
    else
        *(bool *)(void *)base = v != 0;
}

static double get(const struct fp_faults *f, const struct field *d)
{
    const char *base = (const char *)f + d->off;

    if (d->kind == K_LONG)
        return (double)*(const long *)(const void *)base;
    if (d->kind == K_PERCENT)
        return *(const double *)(const void *)base;
    return *(const bool *)(const void *)base ? 1 : 0;
}

static void field_put(struct fp_faults *f, const struct field *d, double v)
{
    put(f, d->off, d->kind, v);
    if (d->off2 != NONE)
        put(f, d->off2, d->kind, v);
}

static void env_name(const char *name, char *out, size_t cap)
{
    size_t i = (size_t)snprintf(out, cap, "PROXY_");

    static const char lower[] = "abcdefghijklmnopqrstuvwxyz",
                      upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

    for (; *name && i + 1 < cap; name++) {
        const char *at = strchr(lower, *name);

        if (at)
            out[i++] = upper[at - lower];
        else
            out[i++] = *name;
    }
    out[i] = '\0';
}

/* A percentage from the environment: a decimal number from 0 to 100 ("0.5"). */
static int env_percent(const char *name, double def, double *out)
{
    const char *text = getenv(name);
    char *end = NULL;
    double v;

    if (!text || !*text) {
        *out = def;
        return 0;
    }
    errno = 0;
    v = strtod(text, &end);
    if (errno || *end || !isfinite(v) || v < 0 || v > 100) {
        fprintf(stderr, "%s: invalid value \"%s\": expected a number from 0 to 100\n", name, text);
        return MS_EINVAL;
    }
    *out = v;
    return 0;
}

static int env_field(struct fp_faults *f, const struct field *d)
{
    char name[NAME_MAX_LEN];
    double cur = get(f, d);
    long l = 0;
    bool b = false;
    double v = 0;

    env_name(d->name, name, sizeof(name));
    if (d->kind == K_LONG) {
        if (ms_config_int(name, (long)cur, 0, d->max, &l))
            return MS_EINVAL;
        v = (double)l;
    } else if (d->kind == K_BOOL) {
        if (ms_config_bool(name, cur != 0, &b))
            return MS_EINVAL;
        v = b ? 1 : 0;
    } else if (env_percent(name, cur, &v)) {
        return MS_EINVAL;
    }
    if (v != cur)
        field_put(f, d, v);
    return 0;
}

int fp_settings_init(struct fp_settings *s)
{
    long lose_next = 0;

    memset(&s->faults, 0, sizeof(s->faults));
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->generation, 0);
    atomic_init(&s->lose_next, 0);
    for (size_t i = 0; i < NFIELDS; i++)
        if (env_field(&s->faults, &fields[i]))
            return MS_EINVAL;
    if (ms_config_int("PROXY_LOSE_NEXT", 0, 0, LOSE_NEXT_MAX, &lose_next))
        return MS_EINVAL;
    atomic_store(&s->lose_next, lose_next);
    return 0;
}

void fp_settings_destroy(struct fp_settings *s)
{
    pthread_mutex_destroy(&s->lock);
}

static const struct field *field_named(const char *name)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static bool json_type_ok(const struct field *d, const json_t *v)
{
    if (d->kind == K_BOOL)
        return json_is_boolean(v);
    if (d->kind == K_LONG)
        return json_is_integer(v);
    return json_is_number(v);
}

/* The value of v for field d, range-checked. 0 or MS_EINVAL with the reason in e. */
static int json_field(const struct field *d, const json_t *v, double *out, struct ms_verr *e)
{
    if (!json_type_ok(d, v)) {
        if (d->kind == K_BOOL)
            return ms_verr_set(e, MS_EINVAL, "%s must be true or false", d->name);
        return ms_verr_set(e, MS_EINVAL, "%s must be %s from 0 to %ld", d->name,
                           d->kind == K_LONG ? "an integer" : "a number", d->max);
    }
    *out = d->kind == K_BOOL ? (json_is_true(v) ? 1 : 0) : json_number_value(v);
    if (*out < 0 || *out > (double)d->max)
        return ms_verr_set(e, MS_EINVAL, "%s must be from 0 to %ld", d->name, d->max);
    return 0;
}

/* Checks every key of obj; lose_next, which is not a field, goes to *lose_next (-1: absent). */
static int json_check(const json_t *obj, long *lose_next, struct ms_verr *e)
{
    const char *key;
    const json_t *v;
    double ignored;

    if (!json_is_object(obj))
        return ms_verr_set(e, MS_EINVAL, "the body must be a JSON object");
    *lose_next = -1;
    json_object_foreach((json_t *)obj, key, v)
    {
        const struct field *d = field_named(key);

        if (strcmp(key, "lose_next") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > LOSE_NEXT_MAX)
                return ms_verr_set(e, MS_EINVAL, "lose_next must be an integer from 0 to %ld",
                                   LOSE_NEXT_MAX);
            *lose_next = (long)json_integer_value(v);
        } else if (!d) {
            return ms_verr_set(e, MS_EINVAL, "unknown field \"%s\"", key);
        } else if (json_field(d, v, &ignored, e)) {
            return MS_EINVAL;
        }
    }
    return 0;
}

int fp_settings_set_json(struct fp_settings *s, const json_t *obj, struct ms_verr *e)
{
    long lose_next;
    double v = 0;

    if (json_check(obj, &lose_next, e))
        return MS_EINVAL;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < NFIELDS; i++) {
        const json_t *jv = json_object_get(obj, fields[i].name);

        if (jv && json_field(&fields[i], jv, &v, e) == 0)
            field_put(&s->faults, &fields[i], v);
    }
    pthread_mutex_unlock(&s->lock);
    if (lose_next >= 0)
        atomic_store(&s->lose_next, lose_next);
    atomic_fetch_add(&s->generation, 1);
    return 0;
}

void fp_settings_clear(struct fp_settings *s)
{
    pthread_mutex_lock(&s->lock);
    memset(&s->faults, 0, sizeof(s->faults));
    pthread_mutex_unlock(&s->lock);
    atomic_store(&s->lose_next, 0);
    atomic_fetch_add(&s->generation, 1);
}

struct fp_faults fp_settings_get(struct fp_settings *s)
{
    struct fp_faults f;

    pthread_mutex_lock(&s->lock);
    f = s->faults;
    pthread_mutex_unlock(&s->lock);
    return f;
}

json_t *fp_settings_to_json(struct fp_settings *s)
{
    struct fp_faults f = fp_settings_get(s);
    json_t *obj = json_object();

    for (size_t i = 0; obj && i < NFIELDS; i++) {
        const struct field *d = &fields[i];
        double v = get(&f, d);

        if (d->off2 != NONE)
            continue;
        if (d->kind == K_LONG)
            json_object_set_new(obj, d->name, json_integer((json_int_t)v));
        else if (d->kind == K_PERCENT)
            json_object_set_new(obj, d->name, json_real(v));
        else
            json_object_set_new(obj, d->name, json_boolean(v != 0));
    }
    if (obj)
        json_object_set_new(obj, "lose_next", json_integer(atomic_load(&s->lose_next)));
    return obj;
}

bool fp_settings_take_lose_next(struct fp_settings *s)
{
    long n = atomic_load(&s->lose_next);

    while (n > 0)
        if (atomic_compare_exchange_weak(&s->lose_next, &n, n - 1))
            return true;
    return false;
}

int fp_parse_addr(const char *text, struct sockaddr_storage *out, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(text, ':');
    const char *h = text;
    size_t hlen;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    long long port;

    if (!colon || ms_parse_ll(colon + 1, 0, 65535, &port))
        return MS_EINVAL;
    hlen = (size_t)(colon - text);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host))
        return MS_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (getaddrinfo(host, colon + 1, &hints, &res) || !res)
        return MS_EINVAL;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}
