/* A circuit breaker (closed, open, half-open) and exponential backoff with full jitter.
 * Pure logic with the time passed in, so the state machine is testable without sleeping. */
#ifndef MS_BREAKER_H
#define MS_BREAKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum ms_breaker_state {
    MS_BREAKER_CLOSED = 0,    /* calls flow; consecutive failures are counted */
    MS_BREAKER_OPEN = 1,      /* calls are refused until open_ms has passed */
    MS_BREAKER_HALF_OPEN = 2, /* a few trial calls; success closes, failure reopens */
};

struct ms_breaker_config {
    int failure_threshold; /* consecutive failures that open it; default 5 */
    int open_ms;           /* how long it stays open before trying again; default 5000 */
    int half_open_max;     /* trial calls allowed at once while half-open; default 1 */
};

struct ms_breaker {
    pthread_mutex_t lock; /* guards every field below; held only for a few instructions */
    struct ms_breaker_config cfg;
    enum ms_breaker_state state;
    int failures;
    int trials_in_flight;
    int64_t opened_at_ms;
    uint64_t changes; /* state changes so far: orders what observers saw */
};

/* Initialises b (zero fields in cfg take the defaults). */
void ms_breaker_init(struct ms_breaker *b, const struct ms_breaker_config *cfg);
void ms_breaker_destroy(struct ms_breaker *b);

/* May a call go out now? Moves open -> half-open once open_ms has passed, and counts the
 * trial. Every true answer must be followed by exactly one ms_breaker_record. */
bool ms_breaker_allow(struct ms_breaker *b, int64_t now_ms);

/* The outcome of an allowed call. Returns the state after it; *changed (may be NULL) tells
 * whether this call changed the state, so the caller can count transitions. */
enum ms_breaker_state ms_breaker_record(struct ms_breaker *b, bool success, int64_t now_ms,
                                        bool *changed);

enum ms_breaker_state ms_breaker_state_get(struct ms_breaker *b);

/* The state with the number of state changes that led to it, read together: of two snapshots,
 * the one with more changes is the newer, so an observer that publishes the state (a gauge)
 * can drop a snapshot older than one already shown, however the threads were scheduled. */
enum ms_breaker_state ms_breaker_snapshot(struct ms_breaker *b, uint64_t *changes);

/* "closed", "open", "half_open". */
const char *ms_breaker_state_name(enum ms_breaker_state s);

/* Full-jitter backoff before retry number attempt (0 for the first retry): a uniform random
 * delay in [0, min(cap_ms, base_ms * 2^attempt)]. */
int64_t ms_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms);

#endif
