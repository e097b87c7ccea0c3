/* The circuit breaker state machine and full-jitter backoff; time comes in as a parameter. */
#include "ms/breaker.h"

#include <assert.h>

#include "ms/rand.h"

enum {
    DEFAULT_FAILURE_THRESHOLD = 5,
    DEFAULT_OPEN_MS = 5000,
    DEFAULT_HALF_OPEN_MAX = 1,
};

static int or_default(int v, int def)
{
    return v > 0 ? v : def;
}

void ms_breaker_init(struct ms_breaker *b, const struct ms_breaker_config *cfg)
{
    struct ms_breaker_config none = {0};

    if (!cfg)
        cfg = &none;
    pthread_mutex_init(&b->lock, NULL);
    b->cfg.failure_threshold = or_default(cfg->failure_threshold, DEFAULT_FAILURE_THRESHOLD);
    b->cfg.open_ms = or_default(cfg->open_ms, DEFAULT_OPEN_MS);
    b->cfg.half_open_max = or_default(cfg->half_open_max, DEFAULT_HALF_OPEN_MAX);
    b->state = MS_BREAKER_CLOSED;
    b->failures = 0;
    b->trials_in_flight = 0;
    b->opened_at_ms = 0;
}

void ms_breaker_destroy(struct ms_breaker *b)
{
    pthread_mutex_destroy(&b->lock);
}

/* Caller holds b->lock. */
static void trip_open(struct ms_breaker *b, int64_t now_ms)
{
    b->changes += b->state != MS_BREAKER_OPEN;
    b->state = MS_BREAKER_OPEN;
    b->opened_at_ms = now_ms;
    b->trials_in_flight = 0;
}

bool ms_breaker_allow(struct ms_breaker *b, int64_t now_ms)
{
    bool allowed = false;

    pthread_mutex_lock(&b->lock);
    if (b->state == MS_BREAKER_OPEN && now_ms - b->opened_at_ms >= b->cfg.open_ms) {
        b->state = MS_BREAKER_HALF_OPEN;
        b->changes++;
        b->trials_in_flight = 0;
    }
    switch (b->state) {
    case MS_BREAKER_CLOSED:
        allowed = true;
        break;
    case MS_BREAKER_HALF_OPEN:
        /* Only a few probes: a recovering upstream should not meet the full load at once. */
        if (b->trials_in_flight < b->cfg.half_open_max) {
            b->trials_in_flight++;
            allowed = true;
        }
        break;
    case MS_BREAKER_OPEN:
        break;
    }
    pthread_mutex_unlock(&b->lock);
    return allowed;
}

/* Caller holds b->lock. */
static void record_closed(struct ms_breaker *b, bool success, int64_t now_ms)
{
    if (success) {
        b->failures = 0; /* the threshold counts consecutive failures only */
        return;
    }
    if (++b->failures >= b->cfg.failure_threshold)
        trip_open(b, now_ms);
}

/* Caller holds b->lock. */
static void record_half_open(struct ms_breaker *b, bool success, int64_t now_ms)
{
    if (b->trials_in_flight > 0)
        b->trials_in_flight--;
    if (success) {
        b->state = MS_BREAKER_CLOSED;
        b->changes++;
        b->failures = 0;
        b->trials_in_flight = 0;
    } else {
        trip_open(b, now_ms);
    }
}

enum ms_breaker_state ms_breaker_record(struct ms_breaker *b, bool success, int64_t now_ms,
                                        bool *changed)
{
    enum ms_breaker_state before, after;

    pthread_mutex_lock(&b->lock);
    before = b->state;
    switch (b->state) {
    case MS_BREAKER_CLOSED:
        record_closed(b, success, now_ms);
        break;
    case MS_BREAKER_HALF_OPEN:
        record_half_open(b, success, now_ms);
        break;
    case MS_BREAKER_OPEN:
        /* A late outcome of a call allowed before the breaker opened: the decision to open
         * stands, and moving opened_at would keep a dead upstream open for ever. */
        break;
    }
    after = b->state;
    pthread_mutex_unlock(&b->lock);
    if (changed)
        *changed = before != after;
    return after;
}

enum ms_breaker_state ms_breaker_state_get(struct ms_breaker *b)
{
    enum ms_breaker_state s;

    pthread_mutex_lock(&b->lock);
    s = b->state;
    pthread_mutex_unlock(&b->lock);
    return s;
}

const char *ms_breaker_state_name(enum ms_breaker_state s)
{
    switch (s) {
    case MS_BREAKER_CLOSED:
        return "closed";
    case MS_BREAKER_OPEN:
        return "open";
    case MS_BREAKER_HALF_OPEN:
        return "half_open";
    }
    assert(!"unknown breaker state");
    return "unknown";
}

int64_t ms_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms)
{
    int64_t ceiling;

    if (base_ms <= 0 || cap_ms <= 0)
        return 0;
    if (attempt < 0)
        attempt = 0;
    /* base * 2^attempt <= cap exactly when base <= cap >> attempt, so the shift below never
     * overflows; past 62 doublings any positive base is over any int64_t cap. */
    if (attempt >= 62 || base_ms > (cap_ms >> attempt))
        ceiling = cap_ms;
    else
        ceiling = base_ms << attempt;
    /* The range is inclusive; uint64_t keeps ceiling + 1 from overflowing at INT64_MAX. */
    return (int64_t)ms_rand_below((uint64_t)ceiling + 1);
}

enum ms_breaker_state ms_breaker_snapshot(struct ms_breaker *b, uint64_t *changes)
{
    enum ms_breaker_state s;

    pthread_mutex_lock(&b->lock);
    s = b->state;
    *changes = b->changes;
    pthread_mutex_unlock(&b->lock);
    return s;
}
