/* Reading dependency settings from the environment. */
#include "ms/depconfig.h"

#include <stdio.h>
#include <stdlib.h>

#include "ms/config.h"
#include "ms/err.h"
#include "ms/server.h"

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

/* One Redis connection per worker thread, so no request waits for a free one: with fewer,
 * workers queue on the pool's lock and condition variable for every cache read. Redis takes
 * thousands of clients (PostgreSQL, whose connections are processes, keeps a small pool). A bad
 * THREADS is reported by the server's configuration; here it falls back to its default. */
static int default_redis_pool_size(void)
{
    const char *threads = getenv("THREADS");
    char *end;
    long n;

    if (!threads || !*threads)
        return ms_server_default_threads();
    n = strtol(threads, &end, 10);
    return (*end || n < 1 || n > 256) ? ms_server_default_threads() : (int)n;
}

/* A command's answer may take this long. Redis answers in well under a millisecond, but a slow
 * link (a mesh hop, another zone, the chaos experiment n4's 200 ms) makes an answer late, not
 * lost: a time-out no longer than such a delay failed every call, carts included, and opened the
 * callers' breakers. 500 ms keeps a cart (a few round trips) under a second at 200 ms of
 * latency; a Redis that is down is refused at connect, not timed out. */
#define REDIS_COMMAND_TIMEOUT_MS 500

int ms_redis_config_from_env(struct ms_redis_config *cfg, const char *name, const char *default_url)
{
    *cfg = (struct ms_redis_config){.name = name};
    if (ms_config_str("REDIS_URL", default_url, 1024, &cfg->url) ||
        ms_config_i("REDIS_POOL_SIZE", default_redis_pool_size(), 1, 256, &cfg->size) ||
        ms_config_i("REDIS_CONNECT_TIMEOUT_MS", 200, 1, 60000, &cfg->connect_timeout_ms) ||
        ms_config_i("REDIS_TIMEOUT_MS", REDIS_COMMAND_TIMEOUT_MS, 1, 60000,
                    &cfg->command_timeout_ms) ||
        ms_config_i("REDIS_ACQUIRE_TIMEOUT_MS", 200, 1, 60000, &cfg->acquire_timeout_ms))
        return MS_EINVAL;
    return 0;
}

/* <NAME>_<suffix> for the upstream name, upper-cased. */
static const char *var(char *buf, size_t cap, const char *name, const char *suffix)
{
    size_t i = 0;

    for (; name[i] && i + 1 < cap; i++)
        buf[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 'a' + 'A' : name[i]);
    snprintf(buf + i, cap - i, "_%s", suffix);
    return buf;
}

struct int_setting {
    const char *suffix; /* of <NAME>_<suffix> */
    int def, min, max;
    int *out;
};

static int read_ints(const char *name, const struct int_setting *settings, size_t n)
{
    char var_name[96];

    for (size_t i = 0; i < n; i++) {
        const struct int_setting *s = &settings[i];
        if (ms_config_i(var(var_name, sizeof(var_name), name, s->suffix), s->def, s->min, s->max,
                        s->out))
            return MS_EINVAL;
    }
    return 0;
}

int ms_upstream_config_from_env(struct ms_upstream_config *cfg, const char *name,
                                const char *default_url, int default_timeout_ms)
{
    char url_var[96];
    int retries = 0, t;

    *cfg = (struct ms_upstream_config){.name = name};
    if (ms_config_str(var(url_var, sizeof(url_var), name, "URL"), default_url, 512,
                      &cfg->base_url) ||
        read_ints(
            name,
            &(struct int_setting){"TIMEOUT_MS", default_timeout_ms, 1, 600000, &cfg->timeout_ms},
            1))
        return MS_EINVAL;
    t = cfg->timeout_ms; /* the others are bounded by it */
    if (read_ints(name,
                  (const struct int_setting[]){
                      {"CONNECT_TIMEOUT_MS", t < 200 ? t : 200, 1, t, &cfg->connect_timeout_ms},
                      {"PER_TRY_TIMEOUT_MS", t, 1, t, &cfg->per_try_timeout_ms},
                      {"RETRIES", 2, 0, 10, &retries},
                      {"BREAKER_FAILURES", 5, 1, 1000, &cfg->breaker.failure_threshold},
                      {"BREAKER_OPEN_MS", 5000, 1, 600000, &cfg->breaker.open_ms},
                  },
                  5))
        return MS_EINVAL;
    cfg->max_retries = retries ? retries : -1; /* the client reads 0 as "the default" */
    return 0;
}
