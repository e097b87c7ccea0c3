/* The Prometheus registry: families of atomically updated series and the collectors that
 * refresh them before a render. The text format is in metrics_text.c, the process metrics in
 * metrics_process.c. */
#include "metrics_internal.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double default_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,  0.5,    1,     2.5,  5,     10};

#define MAX_COLLECTORS 16
#define INITIAL_TABLE_SIZE 16 /* a power of two: slots are picked by masking the hash */

struct collector {
    void (*fn)(void *ctx);
    void *ctx;
};

/* registry_lock guards the family list. collect_lock guards the collectors and runs them one
 * render at a time, so a collector need not be reentrant. They are never held together. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ms_family *families_first;
static struct ms_family *families_last;
static pthread_mutex_t collect_lock = PTHREAD_MUTEX_INITIALIZER;
static struct collector collectors[MAX_COLLECTORS];
static size_t ncollectors;

/* Doubles live in _Atomic uint64_t because C11 has no portable atomic double arithmetic. */
static uint64_t bits_of(double v)
{
    uint64_t bits;

    memcpy(&bits, &v, sizeof(bits));
    return bits;
}

double ms_metrics_double_of(uint64_t bits)
{
    double v;

    memcpy(&v, &bits, sizeof(v));
    return v;
}

static void atomic_add_double(_Atomic uint64_t *slot, double v)
{
    uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);

    /* A failed exchange reloads old, so the sum is recomputed from the value that won. */
    while (!atomic_compare_exchange_weak_explicit(slot, &old,
                                                  bits_of(ms_metrics_double_of(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* Prometheus metric names are [a-zA-Z_:][a-zA-Z0-9_:]*; label names the same without ':',
 * and names starting with "__" are reserved for Prometheus itself. */
static bool valid_name(const char *s, size_t len, bool colon_ok)
{
    if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    if (!colon_ok && len >= 2 && s[0] == '_' && s[1] == '_')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || (colon_ok && c == ':');
        if (!ok)
            return false;
    }
    return true;
}

/* The next comma-separated name in *spec, trimmed of blanks, as *start and its length;
 * advances *spec past it. */
static size_t next_label(const char **spec, const char **start)
{
    const char *p = *spec;
    const char *end;

    while (*p == ' ')
        p++;
    *start = p;
    end = strchr(p, ',');
    if (!end)
        end = p + strlen(p);
    *spec = *end ? end + 1 : end;
    while (end > p && end[-1] == ' ')
        end--;
    return (size_t)(end - p);
}

/* How many names a label spec holds: NULL or blank means none. */
static size_t count_labels(const char *spec)
{
    size_t n = 1;

    if (!spec || spec[strspn(spec, " ")] == '\0')
        return 0;
    for (; *spec; spec++)
        if (*spec == ',')
            n++;
    return n;
}

/* Whether spec names exactly the family's labels, in order. */
static bool labels_match(const struct ms_family *f, const char *spec)
{
    const char *name;
    size_t len;

    if (count_labels(spec) != f->nlabels)
        return false;
    for (size_t i = 0; i < f->nlabels; i++) {
        len = next_label(&spec, &name);
        if (len != strlen(f->label_names[i]) || memcmp(name, f->label_names[i], len) != 0)
            return false;
    }
    return true;
}

/* Fills f->label_names from spec. Returns 0, or -1 on an invalid name (a programming error,
 * asserted) or on allocation failure; family_free releases whatever was copied. */
static int parse_labels(struct ms_family *f, const char *spec)
{
    const char *name;
    size_t len;

    f->nlabels = count_labels(spec);
    if (f->nlabels == 0)
        return 0;
    f->label_names = calloc(f->nlabels, sizeof(*f->label_names));
    if (!f->label_names)
        return -1;
    for (size_t i = 0; i < f->nlabels; i++) {
        len = next_label(&spec, &name);
        /* A histogram adds its own "le" label to each bucket. */
        if (!valid_name(name, len, false) ||
            (f->type == TYPE_HISTOGRAM && len == 2 && memcmp(name, "le", 2) == 0)) {
            assert(!"invalid Prometheus label name");
            return -1;
        }
        f->label_names[i] = strndup(name, len);
        if (!f->label_names[i])
            return -1;
    }
    return 0;
}

/* Histogram bounds must be strictly increasing numbers; a trailing +Inf is implicit and is
 * dropped from *n. */
static bool valid_bounds(const double *bounds, size_t *n)
{
    if (*n > 0 && isinf(bounds[*n - 1]) && bounds[*n - 1] > 0)
        (*n)--;
    for (size_t i = 0; i < *n; i++)
        if (isnan(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return false;
    return true;
}

static const char *value_at(const char *const *values, size_t i)
{
    return values && values[i] ? values[i] : "";
}

static uint64_t hash_values(const char *const *values, size_t n)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */

    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)value_at(values, i); *p; p++)
            h = (h ^ *p) * 1099511628211u;
        /* A separator, so that ("ab", "") and ("a", "b") hash apart. */
        h = (h ^ 0xff) * 1099511628211u;
    }
    return h;
}

static void series_free(struct ms_series *s)
{
    if (s->values)
        for (size_t i = 0; i < s->family->nlabels; i++)
            free(s->values[i]);
    free(s->values);
    free(s);
}

/* A new series of f, not yet in its table; the caller owns it until table_insert. */
static struct ms_series *series_new(struct ms_family *f, const char *const *values, uint64_t hash)
{
    size_t ncounts = f->type == TYPE_HISTOGRAM ? f->nbounds + 1 : 0;
    struct ms_series *s = calloc(1, sizeof(*s) + ncounts * sizeof(s->counts[0]));

    if (!s)
        return NULL;
    s->family = f;
    s->type = f->type;
    s->hash = hash;
    atomic_init(&s->value, bits_of(0.0));
    for (size_t i = 0; i < ncounts; i++)
        atomic_init(&s->counts[i], 0);
    if (f->nlabels == 0)
        return s;
    s->values = calloc(f->nlabels, sizeof(*s->values));
    if (!s->values)
        goto fail;
    for (size_t i = 0; i < f->nlabels; i++) {
        s->values[i] = strdup(value_at(values, i));
        if (!s->values[i])
            goto fail;
    }
    return s;
fail:
    series_free(s);
    return NULL;
}

static bool series_matches(const struct ms_series *s, const char *const *values, uint64_t hash)
{
    if (s->hash != hash)
        return false;
    for (size_t i = 0; i < s->family->nlabels; i++)
        if (strcmp(s->values[i], value_at(values, i)) != 0)
            return false;
    return true;
}

/* Caller holds f->lock, for reading at least. */
static struct ms_series *table_find(const struct ms_family *f, const char *const *values,
                                    uint64_t hash)
{
    struct ms_series *s = f->table[hash & (f->table_size - 1)];

    while (s && !series_matches(s, values, hash))
        s = s->chain;
    return s;
}

/* Doubles the table once it holds as many series as slots, keeping chains short. A failed
 * allocation keeps the old table: lookups get slower, never wrong. Caller holds f->lock for
 * writing. */
static void table_grow(struct ms_family *f)
{
    size_t size = f->table_size * 2;
    struct ms_series **table = calloc(size, sizeof(struct ms_series *));

    if (!table)
        return;
    for (struct ms_series *s = f->first; s; s = s->next) {
        s->chain = table[s->hash & (size - 1)];
        table[s->hash & (size - 1)] = s;
    }
    free(f->table);
    f->table = table;
    f->table_size = size;
}

/* Takes ownership of s. Caller holds f->lock for writing, or f is not yet published. */
static void table_insert(struct ms_family *f, struct ms_series *s)
{
    struct ms_series **slot;

    if (f->nseries >= f->table_size)
        table_grow(f);
    slot = &f->table[s->hash & (f->table_size - 1)];
    s->chain = *slot;
    *slot = s;
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    f->nseries++;
}

static void family_free(struct ms_family *f)
{
    struct ms_series *next;

    for (struct ms_series *s = f->first; s; s = next) {
        next = s->next;
        series_free(s);
    }
    if (f->label_names)
        for (size_t i = 0; i < f->nlabels; i++)
            free(f->label_names[i]);
    free(f->label_names);
    free(f->table);
    free(f->bounds);
    free(f->help);
    free(f->name);
    pthread_rwlock_destroy(&f->lock);
    free(f);
}

/* Copies name, help, labels and bounds into a new, unpublished family. A label-less family
 * gets its one series at once, so it renders 0 before its first update. */
static struct ms_family *family_new(const char *name, const char *help, enum family_type type,
                                    const char *label_spec, const double *bounds, size_t nbounds)
{
    struct ms_family *f = calloc(1, sizeof(*f));

    if (!f)
        return NULL;
    f->type = type;
    pthread_rwlock_init(&f->lock, NULL);
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->table_size = INITIAL_TABLE_SIZE;
    f->table = calloc(f->table_size, sizeof(struct ms_series *));
    if (!f->name || !f->help || !f->table || parse_labels(f, label_spec) < 0)
        goto fail;
    if (nbounds > 0) {
        f->bounds = malloc(nbounds * sizeof(*f->bounds));
        if (!f->bounds)
            goto fail;
        memcpy(f->bounds, bounds, nbounds * sizeof(*f->bounds));
        f->nbounds = nbounds;
    }
    if (f->nlabels == 0) {
        f->only = series_new(f, NULL, hash_values(NULL, 0));
        if (!f->only)
            goto fail;
        table_insert(f, f->only);
    }
    return f;
fail:
    family_free(f);
    return NULL;
}

static bool family_matches(const struct ms_family *f, enum family_type type, const char *label_spec,
                           const double *bounds, size_t nbounds)
{
    if (f->type != type || !labels_match(f, label_spec) || f->nbounds != nbounds)
        return false;
    return nbounds == 0 || memcmp(f->bounds, bounds, nbounds * sizeof(*bounds)) == 0;
}

/* The registered family called name, or NULL. Caller holds registry_lock. */
static struct ms_family *family_find(const char *name)
{
    struct ms_family *f = families_first;

    while (f && strcmp(f->name, name) != 0)
        f = f->next;
    return f;
}

/* Publishes f at the end of the registration order. Caller holds registry_lock. */
static void family_append(struct ms_family *f)
{
    if (families_last)
        families_last->next = f;
    else
        families_first = f;
    families_last = f;
}

/* The family called name, registered now if new. NULL on allocation failure and, after an
 * assert, when the name is invalid or its earlier registration disagrees: updates through
 * NULL do nothing, which beats corrupting a series of another type. */
static struct ms_family *family_get(const char *name, const char *help, enum family_type type,
                                    const char *label_spec, const double *bounds, size_t nbounds)
{
    struct ms_family *f;

    if (!name || !valid_name(name, strlen(name), true)) {
        assert(!"invalid Prometheus metric name");
        return NULL;
    }
    pthread_mutex_lock(&registry_lock);
    f = family_find(name);
    if (f && !family_matches(f, type, label_spec, bounds, nbounds)) {
        assert(!"metric family registered again with another type, labels or buckets");
        f = NULL;
    } else if (!f) {
        f = family_new(name, help, type, label_spec, bounds, nbounds);
        if (f)
            family_append(f);
    }
    pthread_mutex_unlock(&registry_lock);
    return f;
}

struct ms_family *ms_counter_family(const char *name, const char *help, const char *label_names)
{
    return family_get(name, help, TYPE_COUNTER, label_names, NULL, 0);
}

struct ms_family *ms_gauge_family(const char *name, const char *help, const char *label_names)
{
    return family_get(name, help, TYPE_GAUGE, label_names, NULL, 0);
}

struct ms_family *ms_histogram_family(const char *name, const char *help, const char *label_names,
                                      const double *buckets, size_t nbuckets)
{
    if (!buckets) {
        buckets = default_buckets;
        nbuckets = sizeof(default_buckets) / sizeof(default_buckets[0]);
    }
    if (!valid_bounds(buckets, &nbuckets)) {
        assert(!"histogram buckets must be strictly increasing numbers");
        return NULL;
    }
    return family_get(name, help, TYPE_HISTOGRAM, label_names, buckets, nbuckets);
}

struct ms_series *ms_series_get(struct ms_family *family, const char *const *label_values)
{
    struct ms_series *s;
    struct ms_series *found;
    uint64_t hash;

    if (!family)
        return NULL;
    hash = hash_values(label_values, family->nlabels);
    pthread_rwlock_rdlock(&family->lock);
    s = table_find(family, label_values, hash);
    pthread_rwlock_unlock(&family->lock);
    if (s)
        return s;
    /* Built outside the lock to keep writers short; another thread may insert the same
     * values meanwhile, so look again before inserting. */
    s = series_new(family, label_values, hash);
    if (!s)
        return NULL;
    pthread_rwlock_wrlock(&family->lock);
    found = table_find(family, label_values, hash);
    if (!found)
        table_insert(family, s);
    pthread_rwlock_unlock(&family->lock);
    if (!found)
        return s;
    series_free(s);
    return found;
}

struct ms_series *ms_series_only(struct ms_family *family)
{
    if (!family)
        return NULL;
    assert(family->nlabels == 0);
    /* only is set before the family is published and never changes: no lock needed. */
    return family->only ? family->only : ms_series_get(family, NULL);
}

void ms_counter_add(struct ms_series *s, double v)
{
    /* !(v >= 0) also drops NaN, which would poison the counter for good. */
    if (!s || !(v >= 0))
        return;
    assert(s->type == TYPE_COUNTER);
    atomic_add_double(&s->value, v);
}

void ms_counter_inc(struct ms_series *s)
{
    ms_counter_add(s, 1.0);
}

void ms_metrics_counter_set(struct ms_series *s, double v)
{
    if (!s)
        return;
    assert(s->type == TYPE_COUNTER);
    atomic_store_explicit(&s->value, bits_of(v), memory_order_relaxed);
}

void ms_gauge_set(struct ms_series *s, double v)
{
    if (!s)
        return;
    assert(s->type == TYPE_GAUGE);
    atomic_store_explicit(&s->value, bits_of(v), memory_order_relaxed);
}

void ms_gauge_add(struct ms_series *s, double v)
{
    if (!s)
        return;
    assert(s->type == TYPE_GAUGE);
    atomic_add_double(&s->value, v);
}

/* The bucket v falls in: the first bound v does not exceed ("le"), or the +Inf bucket. */
static size_t bucket_index(const struct ms_family *f, double v)
{
    size_t lo = 0;
    size_t hi = f->nbounds;

    if (isnan(v))
        return f->nbounds; /* no bound is >= NaN, as in the Go client */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->bounds[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void ms_histogram_observe(struct ms_series *s, double v)
{
    if (!s)
        return;
    assert(s->type == TYPE_HISTOGRAM);
    if (s->type != TYPE_HISTOGRAM)
        return; /* counts[] exists only in histogram series */
    atomic_fetch_add_explicit(&s->counts[bucket_index(s->family, v)], 1, memory_order_relaxed);
    atomic_add_double(&s->value, v);
}

double ms_series_value(const struct ms_series *s)
{
    uint64_t count = 0;

    if (!s)
        return 0;
    if (s->type != TYPE_HISTOGRAM)
        return ms_metrics_double_of(atomic_load_explicit(&s->value, memory_order_relaxed));
    for (size_t i = 0; i <= s->family->nbounds; i++)
        count += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
    return (double)count;
}

void ms_metrics_on_collect(void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&collect_lock);
    for (size_t i = 0; i < ncollectors; i++)
        if (collectors[i].fn == fn && collectors[i].ctx == ctx)
            goto out; /* registering twice would run it twice per render */
    assert(ncollectors < MAX_COLLECTORS);
    if (ncollectors < MAX_COLLECTORS)
        collectors[ncollectors++] = (struct collector){.fn = fn, .ctx = ctx};
out:
    pthread_mutex_unlock(&collect_lock);
}

void ms_metrics_run_collectors(void)
{
    pthread_mutex_lock(&collect_lock);
    for (size_t i = 0; i < ncollectors; i++)
        collectors[i].fn(collectors[i].ctx);
    pthread_mutex_unlock(&collect_lock);
}

void ms_metrics_each_family(void (*fn)(struct ms_family *f, void *ctx), void *ctx)
{
    pthread_mutex_lock(&registry_lock);
    for (struct ms_family *f = families_first; f; f = f->next)
        fn(f, ctx);
    pthread_mutex_unlock(&registry_lock);
}

void ms_metrics_reset(void)
{
    struct ms_family *f;
    struct ms_family *next;

    pthread_mutex_lock(&registry_lock);
    f = families_first;
    families_first = NULL;
    families_last = NULL;
    pthread_mutex_unlock(&registry_lock);
    for (; f; f = next) {
        next = f->next;
        family_free(f);
    }
    /* Collectors hold series of the dropped families; they register again with them. */
    pthread_mutex_lock(&collect_lock);
    ncollectors = 0;
    pthread_mutex_unlock(&collect_lock);
}
