/* Settings for a service's dependencies (PostgreSQL, Redis, other services) from the
 * environment: the same variables in every service. */
#ifndef MS_DEPCONFIG_H
#define MS_DEPCONFIG_H

#include "ms/http_client.h"
#include "ms/pg.h"
#include "ms/redis.h"

/* DATABASE_URL (default default_url), DB_POOL_SIZE (4), DB_ACQUIRE_TIMEOUT_MS (500),
 * DB_CONNECT_TIMEOUT_S (2), DB_STATEMENT_TIMEOUT_MS (2000). name labels the pool's metrics.
 * 0 or MS_EINVAL (reported, naming the variable). */
int ms_pg_config_from_env(struct ms_pg_config *cfg, const char *name, const char *default_url);

/* REDIS_URL (default default_url), REDIS_POOL_SIZE (THREADS: a connection per worker),
 * REDIS_CONNECT_TIMEOUT_MS (200), REDIS_TIMEOUT_MS (500), REDIS_ACQUIRE_TIMEOUT_MS (200).
 * 0 or MS_EINVAL. */
int ms_redis_config_from_env(struct ms_redis_config *cfg, const char *name,
                             const char *default_url);

/* Another service, named name ("product"), read from <NAME>_URL (default default_url),
 * <NAME>_TIMEOUT_MS (default_timeout_ms: the whole call, retries included),
 * <NAME>_PER_TRY_TIMEOUT_MS (the timeout), <NAME>_CONNECT_TIMEOUT_MS (200, and below the
 * timeout), <NAME>_RETRIES (2; 0 for none), <NAME>_BREAKER_FAILURES (5) and
 * <NAME>_BREAKER_OPEN_MS (5000). Strings point into the environment. 0 or MS_EINVAL. */
int ms_upstream_config_from_env(struct ms_upstream_config *cfg, const char *name,
                                const char *default_url, int default_timeout_ms);

#endif
