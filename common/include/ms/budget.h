/* The request budget: how long the request this thread serves may still spend waiting on its
 * dependencies. Each call has its own time-out (a statement 2 s, product 600 ms...), but a
 * request makes several, one after another, so their sum could keep a client waiting far past
 * what it (or the mesh, or the gateway) will wait: during a blackhole a checkout waited a pool
 * acquire, then a whole statement deadline, then an upstream time-out. With a budget every
 * wait is cut to what is left of it (a pool acquire, a statement, a Redis command, an upstream
 * call), and a request whose budget is spent answers 503 at once.
 *
 * The server sets the budget when a request begins (REQUEST_BUDGET_MS, lowered by the caller's
 * x-envoy-expected-rq-timeout-ms, which Envoy sets to its route's time-out) and clears it when
 * the handler returns; the HTTP client passes what is left on to the next service in the same
 * header, so a chain of services shares one deadline. Threads that serve no request (workers,
 * tests) have none, and every call keeps its own time-out. Thread-local for the same reason as
 * the trace (ms/trace.h): a handler runs start to finish on one thread. */
#ifndef MS_BUDGET_H
#define MS_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

/* The header that carries a budget between services, lower-case. */
#define MS_BUDGET_HEADER "x-envoy-expected-rq-timeout-ms"

/* Sets this thread's deadline (ms_now_ms() clock), or clears it with 0. */
void ms_budget_set(int64_t deadline_ms);

/* This thread's deadline, 0 when it has none. */
int64_t ms_budget_deadline(void);

/* Whether this thread's request has a budget and has spent it: then a call sends nothing. */
bool ms_budget_spent(void);

/* The milliseconds a call may wait: wait_ms, or what is left of the budget if that is less
 * (0 when it is spent). */
int64_t ms_budget_cap(int64_t wait_ms);

/* The deadline (ms_now_ms() clock) of a wait of wait_ms that starts now, cut to the budget. */
int64_t ms_budget_deadline_after(int64_t wait_ms);

/* Settling what a request has begun (giving reserved stock back, learning whether a write
 * whose answer was lost took place) must still get a chance when the failure spent the
 * budget: makes sure at least grace_ms are left from now on. */
void ms_budget_grace(int64_t grace_ms);

/* The budget a request gets: default_ms, or less when the caller's header (how long it will
 * wait, a plain positive number of milliseconds; anything else is ignored) says so: its value
 * less a tenth (at most 50 ms) for the answer's way back. */
int64_t ms_budget_for_request(int64_t default_ms, const char *header);

#endif
