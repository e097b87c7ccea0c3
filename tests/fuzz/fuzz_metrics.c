/* Fuzzes Prometheus label escaping and rendering: fuzzed label values and a fuzzed sample value
 * go into a counter, a gauge and a histogram, and the registry is rendered. The output must stay
 * valid text exposition 0.0.4, read back by a strict parser here: one sample or comment per
 * line, label values quoted with only \\, \" and \n escapes (so no raw newline or quote inside
 * one), each unescaping to exactly the value given, numbers Prometheus can parse that read back
 * as the value set, cumulative histogram buckets. ms_metrics_escape_label is checked at every
 * buffer size: the length it needs, NUL termination, and a cut never inside an escape.
 *
 * Input: label values and a number, separated by NUL bytes: "a\0b\0c\0" "1.5". Prometheus
 * requires label values in UTF-8 and ms_series_get takes any bytes, so the UTF-8 validity of the
 * output is only asserted when the values are valid UTF-8 (the suite's label values are all
 * fixed strings today). */
#include <math.h>

#include "fuzz.h"
#include "ms/metrics.h"

enum { NVALUES = 3, MAX_LABELS = 4 };

/* A sample line, parsed: labels unescaped into owned strings. */
struct sample {
    char name[64];
    size_t nlabels;
    char label[MAX_LABELS][16];
    char *value[MAX_LABELS];
    double v;
};

static void sample_free(struct sample *s)
{
    for (size_t i = 0; i < s->nlabels; i++)
        free(s->value[i]);
}

/* The escape rule, undone: \\, \" and \n are the only escapes; a raw '"' ends the value. Returns
 * the byte after the closing quote; *out is malloc'd. */
static const char *unquote(const char *p, const char *end, char **out)
{
    char *o = malloc((size_t)(end - p) + 1), *w = o;

    FUZZ_CHECK(o != NULL);
    for (; p < end && *p != '"'; p++) {
        if (*p == '\\') {
            p++;
            FUZZ_CHECK(p < end && (*p == '\\' || *p == '"' || *p == 'n'));
            *w++ = *p == 'n' ? '\n' : *p;
        } else {
            *w++ = *p;
        }
    }
    FUZZ_CHECK(p < end && *p == '"');
    *w = '\0';
    *out = o;
    return p + 1;
}

/* A number as Prometheus reads one: NaN, +Inf, -Inf, or a finite decimal float. */
static double number(const char *p, const char *end)
{
    size_t len = (size_t)(end - p);
    char text[64];
    char *stop;
    double v;

    FUZZ_CHECK(len > 0 && len < sizeof(text));
    memcpy(text, p, len);
    text[len] = '\0';
    if (strcmp(text, "NaN") == 0)
        return NAN;
    if (strcmp(text, "+Inf") == 0 || strcmp(text, "-Inf") == 0)
        return text[0] == '+' ? INFINITY : -INFINITY;
    FUZZ_CHECK(strspn(text, "0123456789.eE+-") == len);
    v = strtod(text, &stop);
    FUZZ_CHECK(*stop == '\0' && isfinite(v));
    return v;
}

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* Parses the sample line [p, end): name{label="value",...} number. */
static void parse_sample(const char *p, const char *end, struct sample *s)
{
    size_t n = 0;

    memset(s, 0, sizeof(*s));
    while (p < end && name_char(*p, n == 0) && n + 1 < sizeof(s->name))
        s->name[n++] = *p++;
    FUZZ_CHECK(n > 0 && p < end);
    if (*p == '{') {
        for (p++; p < end && *p != '}';) {
            size_t k = 0;
            FUZZ_CHECK(s->nlabels < MAX_LABELS);
            while (p < end && name_char(*p, k == 0) && *p != ':' && k + 1 < 16)
                s->label[s->nlabels][k++] = *p++;
            FUZZ_CHECK(k > 0 && end - p >= 2 && p[0] == '=' && p[1] == '"');
            p = unquote(p + 2, end, &s->value[s->nlabels++]);
            FUZZ_CHECK(p < end && (*p == ',' || *p == '}'));
            p += *p == ',';
        }
        FUZZ_CHECK(p < end && *p == '}');
        p++;
    }
    FUZZ_CHECK(p < end && *p == ' ');
    s->v = number(p + 1, end);
}

static const char *label_of(const struct sample *s, const char *name)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->label[i], name) == 0)
            return s->value[i];
    return NULL;
}

static bool same_value(double got, double want)
{
    return (isnan(got) && isnan(want)) || got == want;
}

struct expect {
    const char *values[NVALUES]; /* the label values given; NULL counts as "" */
    double v;
    size_t histogram_samples;
    double last_bucket;
};

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* Checks one sample of the fuzz families against what was set. */
static void check_sample(const struct sample *s, struct expect *x)
{
    const char *a = label_of(s, "a"), *b = label_of(s, "b"), *c = label_of(s, "c");

    if (strcmp(s->name, "fuzz_requests_total") == 0) {
        bool first;
        FUZZ_CHECK(s->nlabels == 3 && a && b && c && strcmp(c, or_empty(x->values[2])) == 0);
        first = strcmp(a, or_empty(x->values[0])) == 0 && strcmp(b, or_empty(x->values[1])) == 0;
        FUZZ_CHECK(first || (strcmp(a, or_empty(x->values[1])) == 0 &&
                             strcmp(b, or_empty(x->values[0])) == 0 && s->v == 0));
        FUZZ_CHECK(!first || same_value(s->v, x->v >= 0 ? x->v : 0));
    } else if (strcmp(s->name, "fuzz_value") == 0) {
        FUZZ_CHECK(s->nlabels == 1 && a && strcmp(a, or_empty(x->values[0])) == 0);
        FUZZ_CHECK(same_value(s->v, x->v));
    } else if (strncmp(s->name, "fuzz_seconds_", 13) == 0) {
        FUZZ_CHECK(a && strcmp(a, or_empty(x->values[1])) == 0);
        FUZZ_CHECK(b && strcmp(b, or_empty(x->values[2])) == 0);
        x->histogram_samples++;
        if (strcmp(s->name, "fuzz_seconds_bucket") == 0) {
            FUZZ_CHECK(s->nlabels == 3 && label_of(s, "le") && s->v >= x->last_bucket);
            x->last_bucket = s->v;
        } else if (strcmp(s->name, "fuzz_seconds_count") == 0) {
            FUZZ_CHECK(s->v == 1 && x->last_bucket == 1);
        } else {
            FUZZ_CHECK(strcmp(s->name, "fuzz_seconds_sum") == 0 && same_value(s->v, x->v));
        }
    }
}

/* Every line is "# HELP name text", "# TYPE name type" or a sample, and ends in '\n'. */
static void check_exposition(const char *text, size_t len, struct expect *x)
{
    const char *p = text, *end = text + len;
    size_t samples = 0;

    FUZZ_CHECK(len == strlen(text) && len > 0 && text[len - 1] == '\n');
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        FUZZ_CHECK(eol != NULL);
        if (*p == '#') {
            FUZZ_CHECK(strncmp(p, "# HELP fuzz_", 12) == 0 || strncmp(p, "# TYPE fuzz_", 12) == 0);
        } else {
            struct sample s;
            parse_sample(p, eol, &s);
            check_sample(&s, x);
            sample_free(&s);
            samples++;
        }
        p = eol + 1;
    }
    /* one or two counter series, a gauge, 14 buckets with +Inf, the sum and the count */
    FUZZ_CHECK(x->histogram_samples == 16 && samples >= 18 && samples <= 19);
}

/* ms_metrics_escape_label at every size of out: the full length it needs, always NUL
 * terminated, and as many whole escapes as fit: a cut never ends inside one. */
static void check_escape(const char *in)
{
    const char *text = in ? in : "";
    size_t need = ms_metrics_escape_label(in, NULL, 0), len = strlen(text);
    char *full = malloc(need + 1), *quoted = malloc(need + 3), *cut = malloc(need + 2), *back;

    FUZZ_CHECK(full && quoted && cut && need >= len && need <= 2 * len);
    FUZZ_CHECK(ms_metrics_escape_label(in, full, need + 1) == need && strlen(full) == need);
    FUZZ_CHECK(!memchr(full, '\n', need));
    snprintf(quoted, need + 3, "\"%s\"", full);
    FUZZ_CHECK(unquote(quoted + 1, quoted + need + 2, &back) == quoted + need + 2);
    FUZZ_CHECK(strcmp(back, text) == 0);
    free(back);
    for (size_t cap = 1; cap <= need + 1; cap += 1 + cap / 8) {
        size_t fit = 0; /* the longest run of whole escapes that fits in cap - 1 bytes */
        for (const char *p = text; *p; p++) {
            size_t unit = (*p == '\\' || *p == '"' || *p == '\n') ? 2 : 1;
            if (fit + unit > cap - 1)
                break;
            fit += unit;
        }
        memset(cut, 'x', need + 2);
        FUZZ_CHECK(ms_metrics_escape_label(in, cut, cap) == need);
        FUZZ_CHECK(cut[fit] == '\0' && memcmp(cut, full, fit) == 0);
    }
    free(cut);
    free(quoted);
    free(full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *p;
    struct expect x = {.v = 1};
    struct ms_series *s1, *s2, *s3;
    size_t n = 0, len;
    bool utf8 = true;
    char *out;

    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    for (p = text; n < NVALUES && p < text + size; p += strlen(p) + 1) {
        x.values[n++] = p;
        utf8 = utf8 && fuzz_utf8(p, strlen(p));
    }
    if (n == NVALUES && p < text + size)
        x.v = strtod(p, NULL);
    for (size_t i = 0; i < NVALUES; i++)
        check_escape(x.values[i]);

    ms_metrics_reset();
    s1 = ms_series_get(ms_counter_family("fuzz_requests_total", "Fuzzed \\ help\n.", "a,b,c"),
                       x.values);
    s2 = ms_series_get(ms_counter_family("fuzz_requests_total", NULL, "a,b,c"), x.values);
    s3 = ms_series_get(ms_counter_family("fuzz_requests_total", NULL, "a,b,c"),
                       (const char *const[]){x.values[1], x.values[0], x.values[2]});
    /* the same values find the same series; others another one */
    FUZZ_CHECK(s1 && s1 == s2 &&
               (s3 == s1) == (strcmp(or_empty(x.values[0]), or_empty(x.values[1])) == 0));
    ms_counter_add(s1, x.v);
    ms_gauge_set(ms_series_get(ms_gauge_family("fuzz_value", "A gauge.", "a"), x.values), x.v);
    ms_histogram_observe(
        ms_series_get(ms_histogram_family("fuzz_seconds", "A histogram.", "a,b", NULL, 0),
                      x.values + 1),
        x.v);

    out = ms_metrics_render(&len);
    FUZZ_CHECK(out != NULL);
    check_exposition(out, len, &x);
    FUZZ_CHECK(!utf8 || fuzz_utf8(out, len));
    free(out);
    ms_metrics_reset();
    free(text);
    return 0;
}
