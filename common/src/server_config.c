/* The server's configuration from the environment. */
#include <unistd.h>

#include "ms/config.h"
#include "ms/err.h"
#include "ms/server.h"

/* Handlers block on PostgreSQL, Redis and other services, so a worker per core would leave
 * cores idle while they wait: four per core keeps them busy without a thread per connection. */
int ms_server_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    /* at least 16, as the cluster runs them (k8s/base): a handler waiting on a dependency holds
     * its thread, and with 8 a slow store or a silent database's first second queued the
     * requests behind them past their callers' time-outs */
    return n > 4 ? (int)(n < 16 ? n * 4 : 64) : 16;
}

int ms_server_config_load(struct ms_server_config *cfg, const char *service, int default_port)
{
    *cfg = (struct ms_server_config){.service = service};
    if (ms_config_str("SERVICE_VERSION", "v1", 32, &cfg->version) ||
        ms_config_str("BIND_ADDRESS", "0.0.0.0", 64, &cfg->bind_address) ||
        ms_config_i("PORT", default_port, 0, 65535, &cfg->port) ||
        ms_config_i("THREADS", ms_server_default_threads(), 1, 256, &cfg->threads) ||
        ms_config_int("MAX_BODY_BYTES", 65536, 1, 16 << 20, &cfg->body_max) ||
        ms_config_i("MAX_CONNECTIONS", 1000, 1, 100000, &cfg->max_connections) ||
        ms_config_i("CONNECTION_TIMEOUT_S", 15, 1, 3600, &cfg->connection_timeout_s) ||
        ms_config_i("FIRST_REQUEST_TIMEOUT_MS", 2000, 100, 3600000,
                    &cfg->first_request_timeout_ms) ||
        ms_config_i("REQUEST_BUDGET_MS", 800, 1, 3600000, &cfg->request_budget_ms) ||
        ms_config_i("SHUTDOWN_DRAIN_MS", 10000, 0, 600000, &cfg->drain_ms) ||
        ms_config_i("SHUTDOWN_DELAY_MS", 0, 0, 600000, &cfg->shutdown_delay_ms) ||
        ms_config_bool("ADMIN_ENABLED", false, &cfg->admin_enabled) ||
        ms_config_bool("ACCESS_LOG", true, &cfg->access_log) || ms_faults_from_env(&cfg->faults))
        return MS_EINVAL;
    return 0;
}
