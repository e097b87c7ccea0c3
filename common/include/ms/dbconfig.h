/* Pool settings from the environment, the same variables in every service. */
#ifndef MS_DBCONFIG_H
#define MS_DBCONFIG_H

#include "ms/pg.h"
#include "ms/redis.h"

/* DATABASE_URL (default default_url), DB_POOL_SIZE (4), DB_ACQUIRE_TIMEOUT_MS (500),
 * DB_CONNECT_TIMEOUT_S (2), DB_STATEMENT_TIMEOUT_MS (2000). name labels the pool's metrics.
 * 0 or MS_EINVAL (reported, naming the variable). */
int ms_pg_config_from_env(struct ms_pg_config *cfg, const char *name, const char *default_url);

/* REDIS_URL (default default_url), REDIS_POOL_SIZE (4), REDIS_CONNECT_TIMEOUT_MS (200),
 * REDIS_TIMEOUT_MS (200), REDIS_ACQUIRE_TIMEOUT_MS (200). 0 or MS_EINVAL. */
int ms_redis_config_from_env(struct ms_redis_config *cfg, const char *name,
                             const char *default_url);

#endif
