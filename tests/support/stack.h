/* The whole suite for a test: PostgreSQL, Redis and every service, wired to each other on free
 * ports, as `make up` wires them. */
#ifndef MS_TEST_STACK_H
#define MS_TEST_STACK_H

#include "deps.h"
#include "http.h"

enum ms_test_svc {
    MS_SVC_PRODUCT,
    MS_SVC_USER,
    MS_SVC_INVENTORY,
    MS_SVC_CART,
    MS_SVC_NOTIFICATION,
    MS_SVC_ORDER,
    MS_SVC_COUNT,
};

struct ms_test_stack {
    struct ms_test_pg pg;
    struct ms_test_redis redis;
    struct ms_test_service svc[MS_SVC_COUNT];
    int ports[MS_SVC_COUNT]; /* chosen up front, so every service knows the others' URLs */
    char env[MS_SVC_COUNT][12][256];
};

/* The service's name: "product", "user", ... */
const char *ms_test_svc_name(enum ms_test_svc s);

/* Starts PostgreSQL (one database per service), Redis and every service in dependency order,
 * each waited for until /ready answers 200. extra (may be NULL) adds NAME=VALUE settings to
 * every service, e.g. short breaker timings. 0 or -1. */
int ms_test_stack_start(struct ms_test_stack *st, const char *const *extra);

/* Starts (again) one service with its stack settings plus extra; waits for /ready. 0 or -1. */
int ms_test_stack_start_one(struct ms_test_stack *st, enum ms_test_svc s, const char *const *extra);

/* How many services ended on their own since the last look (each reported on stderr with the end
 * of its log, and forgotten so that ms_test_stack_start_one can start it again). */
int ms_test_stack_reap(struct ms_test_stack *st);

/* Stops one service with sig (SIGTERM for a clean stop, SIGKILL for a crash); returns its exit
 * status as ms_test_stop does. */
int ms_test_stack_stop_one(struct ms_test_stack *st, enum ms_test_svc s, int sig);

/* Stops every service, Redis and PostgreSQL. */
void ms_test_stack_stop(struct ms_test_stack *st);

/* The port of a service. */
int ms_test_stack_port(const struct ms_test_stack *st, enum ms_test_svc s);

#endif
