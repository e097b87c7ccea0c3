/* The fault-injecting proxy (tools/faultproxy) for tests: start one in front of a real
 * dependency, switch its faults, read what it applied, stop it. So that a test can put a proxy
 * between a service and PostgreSQL or Redis and lose an answer on purpose. */
#ifndef MS_TEST_FAULTPROXY_H
#define MS_TEST_FAULTPROXY_H

#include <sys/types.h>

struct ms_test_proxy {
    pid_t pid;
    int port;  /* where clients connect: give this to the service instead of the upstream's */
    int admin; /* its admin HTTP API */
    char name[32];
    char log_path[128];
};

/* build/tools/faultproxy/faultproxy */
const char *ms_test_proxy_binary(void);

/* Starts a proxy named name (the metrics label) in front of 127.0.0.1:upstream_port on free
 * ports, with env (NULL-terminated NAME=VALUE list, may be NULL: PROXY_* faults at start) added;
 * returns 0 once its /health answers 200 (within 10 s), else -1. */
int ms_test_proxy_start(struct ms_test_proxy *px, const char *name, int upstream_port,
                        const char *const *env);

/* Sends method path (body may be NULL) to the proxy's admin API; returns the HTTP status (0: no
 * answer). */
long ms_test_proxy_admin(const struct ms_test_proxy *px, const char *method, const char *path,
                         const char *body);

/* PUT /admin/faults with json (e.g. "{\"lose_next\":1}": the next answer is lost). 0 on 200. */
int ms_test_proxy_faults(const struct ms_test_proxy *px, const char *json);

/* Every fault off, and every connection open through the proxy reset. 0 on success. */
int ms_test_proxy_clean(const struct ms_test_proxy *px);

/* faultproxy_faults_total{kind} ("lost_answer", "reset", ...) so far, or -1. */
double ms_test_proxy_applied(const struct ms_test_proxy *px, const char *kind);

/* SIGTERM, then waits (SIGKILL after 5 s); returns its exit status (0: a clean stop). */
int ms_test_proxy_stop(struct ms_test_proxy *px);

#endif
