/* A small HTTP client for integration tests, over libcurl, plus service start-up helpers. */
#ifndef MS_TEST_HTTP_H
#define MS_TEST_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ms_test_response {
    long status; /* 0 when no HTTP answer arrived */
    char *body;  /* NUL-terminated */
    size_t body_len;
    char *headers;  /* the raw header block of the final response */
    double seconds; /* total time */
};

/* Sends one request. headers: NULL-terminated "Name: value" lines, or NULL. body may be NULL.
 * timeout_ms bounds the whole call. Returns 0 when an HTTP answer arrived, -1 otherwise (out is
 * filled either way; free it with ms_test_response_free). */
int ms_test_http(const char *method, const char *url, const char *body, const char *const *headers,
                 long timeout_ms, struct ms_test_response *out);

/* Shorthand for a GET to http://127.0.0.1:port/path with a 5 s limit. */
int ms_test_get(int port, const char *path, struct ms_test_response *out);

/* A header's value from the response (case-insensitive name), malloc'd, or NULL. */
char *ms_test_header(const struct ms_test_response *r, const char *name);

/* The body parsed as JSON (new reference) or NULL. */
json_t *ms_test_json(const struct ms_test_response *r);

void ms_test_response_free(struct ms_test_response *r);

/* Polls GET http://127.0.0.1:port/path until it answers want_status, up to timeout_ms.
 * Returns the milliseconds it took, or -1 on time-out. */
long ms_test_wait_status(int port, const char *path, long want_status, long timeout_ms);

/* A service binary started for a test. */
struct ms_test_service {
    pid_t pid;
    int port;
    char log_path[256];
};

/* Starts build/services/<name>/<name> on a free port bound to 127.0.0.1, with env (NULL-terminated
 * NAME=VALUE list, may be NULL) added, logging to /tmp. Returns 0 once /health answers 200
 * (within 10 s), else -1. */
int ms_test_service_start(struct ms_test_service *svc, const char *name, const char *const *env);

/* The same on a port the caller chose (0: a free one). */
int ms_test_service_start_on(struct ms_test_service *svc, const char *name, int port,
                             const char *const *env);

/* Sends sig and waits up to timeout_ms; returns the exit status (see ms_test_stop). */
int ms_test_service_stop(struct ms_test_service *svc, int sig, int timeout_ms);

/* Whether the service ended on its own (a crash, a sanitizer's report): if so, says so on stderr
 * with the end of its log, forgets it (pid 0) and returns its exit status; -1 while it runs. */
int ms_test_service_exited(struct ms_test_service *svc);

/* Every service started above is recorded in memory shared with Check's forked tests until
 * ms_test_service_stop stops it, and ms_test_main stops what is left once the run is over, so a
 * test that fails before it stops its services leaks none. This stops them now (SIGTERM, then
 * SIGKILL after 3 s; a PID that no longer runs the recorded binary is left alone), for a fixture
 * teardown that stops the databases next. */
void ms_test_services_stop_all(void);

/* Runs build/services/<service>/<service> with env (NULL-terminated NAME=VALUE list, may be NULL)
 * added, for a configuration it must refuse, and waits up to 10 s for it to exit (SIGKILL then).
 * Returns its exit status as ms_test_stop does (-1 if it could not be started), with the first
 * line of its output, without the newline, in first_line ("" when there was none). */
int ms_test_config_error(const char *service, const char *const *env, char *first_line, size_t cap);

/* The value of the first sample line of /metrics that starts with prefix (the metric name and
 * its labels, e.g. "cache_requests_total{cache=\"product\",result=\"hit\"}"), or -1 if none. */
double ms_test_metric(int port, const char *prefix);

#endif
