/* Liveness and readiness: named dependency checks, evaluated at most once a second. */
#ifndef MS_HEALTH_H
#define MS_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A dependency check: 0 when the dependency works, else an ms_err code. It may block for up to
 * its own timeout; keep those short (a probe waits for all checks). */
typedef int (*ms_check_fn)(void *ctx);

/* A ready result is kept for MS_HEALTH_CACHE_MS; an unready one only for
 * MS_HEALTH_UNREADY_CACHE_MS, so that a service turns ready as soon as it is (a process
 * restarted by its supervisor is probed before its migrations have run, and would otherwise say
 * 503 for a whole second after it could serve), while a dependency that is down is still asked
 * at most ten times a second. */
enum { MS_HEALTH_MAX_CHECKS = 8, MS_HEALTH_CACHE_MS = 1000, MS_HEALTH_UNREADY_CACHE_MS = 100 };

struct ms_health;

struct ms_health *ms_health_new(void);
void ms_health_free(struct ms_health *h);

/* Registers a check. A critical check failing makes the service unready; a non-critical one
 * is reported but does not (the product service keeps serving without its Redis cache).
 * name is copied. 0, or MS_ETOOBIG past MS_HEALTH_MAX_CHECKS. */
int ms_health_add(struct ms_health *h, const char *name, ms_check_fn fn, void *ctx, bool critical);

/* The readiness answer: evaluates the checks unless a result younger than MS_HEALTH_CACHE_MS
 * (MS_HEALTH_UNREADY_CACHE_MS when it was unready) exists (one evaluation at a time; concurrent
 * probes wait for it and share it), then writes a malloc'd JSON body
 * {"status":"ready"|"unready"|"draining","checks":{"postgres":
 * {"status":"up"|"down","critical":true,"error":"..."}}} to *body. Returns the HTTP status:
 * 200 when ready and not draining, else 503; -1 on allocation failure. */
int ms_health_report(struct ms_health *h, bool draining, int64_t now_ms, char **body, size_t *len);

#endif
