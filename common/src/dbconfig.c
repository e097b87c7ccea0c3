/* Reading pool settings from the environment. */
#include "ms/dbconfig.h"

#include "ms/config.h"
#include "ms/err.h"

int ms_pg_config_from_env(struct ms_pg_config *cfg, const char *name, const char *default_url)
{
    *cfg = (struct ms_pg_config){.name = name};
    if (ms_config_str("DATABASE_URL", default_url, 1024, &cfg->conninfo) ||
        ms_config_i("DB_POOL_SIZE", 4, 1, 256, &cfg->size) ||
        ms_config_i("DB_ACQUIRE_TIMEOUT_MS", 500, 1, 60000, &cfg->acquire_timeout_ms) ||
        ms_config_i("DB_CONNECT_TIMEOUT_S", 2, 1, 60, &cfg->connect_timeout_s) ||
        ms_config_i("DB_STATEMENT_TIMEOUT_MS", 2000, 1, 600000, &cfg->statement_timeout_ms))
        return MS_EINVAL;
    return 0;
}

int ms_redis_config_from_env(struct ms_redis_config *cfg, const char *name,
                             const char *default_url)
{
    *cfg = (struct ms_redis_config){.name = name};
    if (ms_config_str("REDIS_URL", default_url, 1024, &cfg->url) ||
        ms_config_i("REDIS_POOL_SIZE", 4, 1, 256, &cfg->size) ||
        ms_config_i("REDIS_CONNECT_TIMEOUT_MS", 200, 1, 60000, &cfg->connect_timeout_ms) ||
        ms_config_i("REDIS_TIMEOUT_MS", 200, 1, 60000, &cfg->command_timeout_ms) ||
        ms_config_i("REDIS_ACQUIRE_TIMEOUT_MS", 200, 1, 60000, &cfg->acquire_timeout_ms))
        return MS_EINVAL;
    return 0;
}
