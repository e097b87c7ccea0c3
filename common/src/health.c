/* Readiness checks and their cache (a second when ready, a tenth when not), so probes never
 * hammer the databases. */
#include "ms/health.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ms/err.h"

struct check {
    char name[32];
    ms_check_fn fn;
    void *ctx;
    bool critical;
    int last; /* the result of the latest evaluation */
};

struct ms_health {
    pthread_mutex_t lock; /* guards checks[].last, evaluated_at_ms, ready */
    struct check checks[MS_HEALTH_MAX_CHECKS];
    size_t nchecks;
    int64_t evaluated_at_ms;
    bool evaluated;
    bool ready;
};

struct ms_health *ms_health_new(void)
{
    struct ms_health *h = calloc(1, sizeof(*h));

    if (h)
        pthread_mutex_init(&h->lock, NULL);
    return h;
}

void ms_health_free(struct ms_health *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->lock);
    free(h);
}

int ms_health_add(struct ms_health *h, const char *name, ms_check_fn fn, void *ctx, bool critical)
{
    struct check *c;

    if (h->nchecks == MS_HEALTH_MAX_CHECKS)
        return MS_ETOOBIG;
    c = &h->checks[h->nchecks++];
    strncpy(c->name, name, sizeof(c->name) - 1);
    c->fn = fn;
    c->ctx = ctx;
    c->critical = critical;
    return 0;
}

/* Runs every check; called with the lock held, so one evaluation runs at a time and
 * concurrent probes wait for its result instead of starting their own. */
static void evaluate(struct ms_health *h, int64_t now_ms)
{
    bool ready = true;

    for (size_t i = 0; i < h->nchecks; i++) {
        struct check *c = &h->checks[i];
        c->last = c->fn(c->ctx);
        if (c->last != 0 && c->critical)
            ready = false;
    }
    h->ready = ready;
    h->evaluated = true;
    h->evaluated_at_ms = now_ms;
}

static json_t *checks_json(const struct ms_health *h)
{
    json_t *checks = json_object();

    for (size_t i = 0; checks && i < h->nchecks; i++) {
        const struct check *c = &h->checks[i];
        json_t *one =
            json_pack("{s:s,s:b}", "status", c->last ? "down" : "up", "critical", c->critical);
        if (one && c->last)
            json_object_set_new(one, "error", json_string(ms_strerror(c->last)));
        json_object_set_new(checks, c->name, one);
    }
    return checks;
}

int ms_health_report(struct ms_health *h, bool draining, int64_t now_ms, char **body, size_t *len)
{
    const char *status;
    json_t *doc;
    bool ready;

    pthread_mutex_lock(&h->lock);
    if (!h->evaluated ||
        now_ms - h->evaluated_at_ms >= (h->ready ? MS_HEALTH_CACHE_MS : MS_HEALTH_UNREADY_CACHE_MS))
        evaluate(h, now_ms);
    ready = h->ready && !draining;
    status = draining ? "draining" : (h->ready ? "ready" : "unready");
    doc = json_pack("{s:s,s:o}", "status", status, "checks", checks_json(h));
    pthread_mutex_unlock(&h->lock);
    *body = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (!*body)
        return -1;
    *len = strlen(*body);
    return ready ? 200 : 503;
}
