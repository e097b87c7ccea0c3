/* The registry's insides, shared by the three files that make it: metrics.c (families, series
 * and collectors), metrics_text.c (the text format) and metrics_process.c (the /proc collector).
 * Private to common/src: services see only ms/metrics.h. */
#ifndef MS_METRICS_INTERNAL_H
#define MS_METRICS_INTERNAL_H

#include "ms/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum family_type { TYPE_COUNTER, TYPE_GAUGE, TYPE_HISTOGRAM };

struct ms_family {
    char *name;
    char *help;
    enum family_type type;
    char **label_names; /* nlabels strings, owned */
    size_t nlabels;
    double *bounds; /* histogram upper bounds without +Inf, owned; NULL otherwise */
    size_t nbounds;
    struct ms_series *only; /* the single series of a label-less family, made with it */
    /* lock guards everything below it except next: lookups and renders read, creating a series
     * writes. Everything above is immutable once the family is published. */
    pthread_rwlock_t lock;
    struct ms_series **table; /* hash chains by label values; table_size is a power of two */
    size_t table_size;
    size_t nseries;
    struct ms_series *first; /* creation order, which the render follows */
    struct ms_series *last;
    struct ms_family *next; /* registration order; guarded by registry_lock */
};

struct ms_series {
    struct ms_family *family;
    enum family_type type;
    char **values; /* family->nlabels strings, owned; NULL for a label-less family */
    uint64_t hash;
    struct ms_series *chain;   /* next in the same hash slot; guarded by family->lock */
    struct ms_series *next;    /* next in creation order; guarded by family->lock */
    _Atomic uint64_t value;    /* bits of a double: the counter or gauge value, histogram sum */
    _Atomic uint64_t counts[]; /* histogram only: observations per bucket, the +Inf bucket last */
};

/* The double whose bits are stored in a series' atomic slots. */
double ms_metrics_double_of(uint64_t bits);

/* Sets a counter outright: for a collector mirroring a counter kept elsewhere (CPU time). */
void ms_metrics_counter_set(struct ms_series *s, double v);

/* Runs every registered collector, one render at a time. */
void ms_metrics_run_collectors(void);

/* Calls fn for each family in registration order, holding the registry lock. */
void ms_metrics_each_family(void (*fn)(struct ms_family *f, void *ctx), void *ctx);

#endif
