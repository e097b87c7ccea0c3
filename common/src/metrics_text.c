/* The Prometheus text format 0.0.4 of the registry: HELP and TYPE lines, escaped label values,
 * histograms as cumulative buckets with _sum and _count. */
#include "metrics_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {"counter", "gauge", "histogram"};

#define RENDER_INITIAL_CAP 4096

/* The render's growing output. It only grows while the registry does, and the registry is
 * bounded by the code that registers families and the label values it passes. */
struct buf {
    char *data; /* NUL-terminated; owned until handed to the caller of ms_metrics_render */
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed: later appends do nothing */
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
    size_t cap = b->cap ? b->cap : RENDER_INITIAL_CAP;
    char *data;

    if (b->failed)
        return;
    while (n >= cap - b->len) { /* >= keeps room for the NUL */
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return;
        }
        cap *= 2;
    }
    if (cap != b->cap) {
        data = realloc(b->data, cap);
        if (!data) {
            b->failed = true;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

/* The escape for c in a label value (quote true) or in help text, or NULL if c stands as is. */
static const char *escape_for(char c, bool quote)
{
    switch (c) {
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '"':
        return quote ? "\\\"" : NULL;
    default:
        return NULL;
    }
}

static void buf_put_escaped(struct buf *b, const char *s, bool quote)
{
    const char *run = s;
    const char *esc;

    for (; *s; s++) {
        esc = escape_for(*s, quote);
        if (!esc)
            continue;
        buf_put(b, run, (size_t)(s - run));
        buf_put(b, esc, 2);
        run = s + 1;
    }
    buf_put(b, run, (size_t)(s - run));
}

size_t ms_metrics_escape_label(const char *in, char *out, size_t cap)
{
    size_t need = 0;
    size_t written = 0;
    const char *esc;
    size_t n;

    for (in = in ? in : ""; *in; in++) {
        esc = escape_for(*in, true);
        n = esc ? 2 : 1;
        /* An escape is written whole or not at all, so a cut result never ends inside one. */
        if (written == need && need + n < cap) {
            memcpy(out + written, esc ? esc : in, n);
            written += n;
        }
        need += n;
    }
    if (cap > 0)
        out[written] = '\0';
    return need;
}

/* Formats v as Prometheus parses it: integers without exponent or decimals, other numbers in
 * the shortest form that reads back as the same double, and +Inf, -Inf, NaN. Assumes the C
 * locale's decimal point, as strtod does. cap is at least 32. */
static void format_value(double v, char *out, size_t cap)
{
    if (isnan(v)) {
        snprintf(out, cap, "%s", "NaN");
    } else if (isinf(v)) {
        snprintf(out, cap, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (v == 0) {
        snprintf(out, cap, "%s", "0"); /* also -0, which %g would print as "-0" */
    } else {
        /* %g uses an exponent only from 10^precision on, so integers up to 15 digits (16 if
         * that is what reads back) print plainly. */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(out, cap, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
    }
}

/* One sample line: the family name with suffix, the series' labels plus le if not NULL, the
 * value. */
static void put_sample(struct buf *b, const struct ms_series *s, const char *suffix, const char *le,
                       double v)
{
    const struct ms_family *f = s->family;
    char num[32];

    buf_puts(b, f->name);
    buf_puts(b, suffix);
    if (f->nlabels > 0 || le) {
        buf_put(b, "{", 1);
        for (size_t i = 0; i < f->nlabels; i++) {
            if (i > 0)
                buf_put(b, ",", 1);
            buf_puts(b, f->label_names[i]);
            buf_put(b, "=\"", 2);
            buf_put_escaped(b, s->values[i], true);
            buf_put(b, "\"", 1);
        }
        if (le) {
            buf_puts(b, f->nlabels > 0 ? ",le=\"" : "le=\"");
            buf_puts(b, le);
            buf_put(b, "\"", 1);
        }
        buf_put(b, "}", 1);
    }
    format_value(v, num, sizeof(num));
    buf_put(b, " ", 1);
    buf_puts(b, num);
    buf_put(b, "\n", 1);
}

static void put_histogram(struct buf *b, const struct ms_series *s)
{
    const struct ms_family *f = s->family;
    uint64_t cumulative = 0;
    char le[32];

    for (size_t i = 0; i <= f->nbounds; i++) {
        cumulative += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
        if (i < f->nbounds)
            format_value(f->bounds[i], le, sizeof(le));
        else
            snprintf(le, sizeof(le), "%s", "+Inf");
        put_sample(b, s, "_bucket", le, (double)cumulative);
    }
    put_sample(b, s, "_sum", NULL,
               ms_metrics_double_of(atomic_load_explicit(&s->value, memory_order_relaxed)));
    /* The count is the +Inf bucket as read here, so the two agree while observations land. */
    put_sample(b, s, "_count", NULL, (double)cumulative);
}

static void put_family(struct buf *b, struct ms_family *f)
{
    buf_puts(b, "# HELP ");
    buf_puts(b, f->name);
    buf_put(b, " ", 1);
    buf_put_escaped(b, f->help, false);
    buf_puts(b, "\n# TYPE ");
    buf_puts(b, f->name);
    buf_put(b, " ", 1);
    buf_puts(b, type_names[f->type]);
    buf_put(b, "\n", 1);
    pthread_rwlock_rdlock(&f->lock);
    for (const struct ms_series *s = f->first; s; s = s->next) {
        if (s->type == TYPE_HISTOGRAM)
            put_histogram(b, s);
        else
            put_sample(b, s, "", NULL,
                       ms_metrics_double_of(atomic_load_explicit(&s->value, memory_order_relaxed)));
    }
    pthread_rwlock_unlock(&f->lock);
}

static void put_family_into(struct ms_family *f, void *ctx)
{
    put_family(ctx, f);
}

char *ms_metrics_render(size_t *len)
{
    struct buf b = {0};

    ms_metrics_run_collectors();
    buf_put(&b, "", 0); /* an empty registry still renders as an empty string */
    ms_metrics_each_family(put_family_into, &b);
    if (b.failed) {
        free(b.data);
        b.data = NULL;
        b.len = 0;
    }
    if (len)
        *len = b.len;
    return b.data;
}
