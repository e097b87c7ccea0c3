/* Starting and stopping the whole suite for cross-service tests. */
#include "stack.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"

static const char *const names[MS_SVC_COUNT] = {"product", "user",         "inventory",
                                                "cart",    "notification", "order"};
/* Which services keep data in PostgreSQL (cart keeps its data in Redis only). */
static const int has_db[MS_SVC_COUNT] = {1, 1, 1, 0, 1, 1};

const char *ms_test_svc_name(enum ms_test_svc s)
{
    return names[s];
}

int ms_test_stack_port(const struct ms_test_stack *st, enum ms_test_svc s)
{
    return st->ports[s];
}

/* The settings a service starts with: its database, Redis, every other service's URL. */
static void base_env(struct ms_test_stack *st, enum ms_test_svc s, const char **env, size_t *n)
{
    char *url;
    size_t k = 0;

    if (has_db[s]) {
        url = ms_test_pg_url(&st->pg, names[s]);
        snprintf(st->env[s][k], sizeof(st->env[s][k]), "DATABASE_URL=%s", url);
        env[k] = st->env[s][k];
        k++;
        free(url);
    }
    url = ms_test_redis_url(&st->redis);
    snprintf(st->env[s][k], sizeof(st->env[s][k]), "REDIS_URL=%s", url);
    env[k] = st->env[s][k];
    k++;
    free(url);
    for (int o = 0; o < MS_SVC_COUNT; o++, k++) {
        char upper[32];
        size_t i = 0;
        for (; names[o][i]; i++)
            upper[i] = (char)(names[o][i] - 'a' + 'A');
        upper[i] = '\0';
        snprintf(st->env[s][k], sizeof(st->env[s][k]), "%s_URL=http://127.0.0.1:%d", upper,
                 st->ports[o]);
        env[k] = st->env[s][k];
    }
    *n = k;
}

/* Do the NAME=VALUE settings a and b name the same variable? */
static bool same_setting(const char *a, const char *b)
{
    size_t n = strcspn(a, "=");

    return strncmp(a, b, n) == 0 && b[n] == '=';
}

int ms_test_stack_start_one(struct ms_test_stack *st, enum ms_test_svc s, const char *const *extra)
{
    const char *env[48];
    size_t n;

    base_env(st, s, env, &n);
    /* a setting in extra replaces the stack's (DATABASE_URL through a proxy, say): the first of
     * two is the one a service would read */
    for (size_t i = 0; extra && extra[i]; i++)
        for (size_t k = 0; k < n; k++)
            if (same_setting(env[k], extra[i]))
                env[k] = env[--n];
    for (size_t i = 0; extra && extra[i] && n < 47; i++)
        env[n++] = extra[i];
    env[n] = NULL;
    if (ms_test_service_start_on(&st->svc[s], names[s], st->ports[s], env))
        return -1;
    return ms_test_wait_status(st->ports[s], "/ready", 200, 20000) >= 0 ? 0 : -1;
}

int ms_test_stack_stop_one(struct ms_test_stack *st, enum ms_test_svc s, int sig)
{
    return ms_test_service_stop(&st->svc[s], sig, 10000);
}

int ms_test_stack_reap(struct ms_test_stack *st)
{
    int dead = 0;

    for (int s = 0; s < MS_SVC_COUNT; s++)
        dead += ms_test_service_exited(&st->svc[s]) >= 0;
    return dead;
}

int ms_test_stack_start(struct ms_test_stack *st, const char *const *extra)
{
    memset(st, 0, sizeof(*st));
    if (ms_test_pg_start(&st->pg) || ms_test_redis_start(&st->redis))
        return -1;
    for (int s = 0; s < MS_SVC_COUNT; s++) {
        st->ports[s] = ms_test_free_port();
        if (has_db[s] && ms_test_pg_createdb(&st->pg, names[s]))
            return -1;
    }
    for (int s = 0; s < MS_SVC_COUNT; s++)
        if (ms_test_stack_start_one(st, (enum ms_test_svc)s, extra))
            return -1;
    return 0;
}

void ms_test_stack_stop(struct ms_test_stack *st)
{
    for (int s = MS_SVC_COUNT - 1; s >= 0; s--)
        if (st->svc[s].pid > 0)
            ms_test_service_stop(&st->svc[s], SIGTERM, 10000);
    ms_test_redis_stop(&st->redis);
    ms_test_pg_stop(&st->pg);
}
