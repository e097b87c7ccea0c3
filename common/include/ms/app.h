/* The process around a service: ms_app_run reads its configuration, makes its pools, runs its
 * server and background tasks and shuts them down, in one order for every service. A service's
 * main() describes only what is its own (routes, dependencies, settings, workers) as a
 * struct ms_app and returns ms_app_run's answer. */
#ifndef MS_APP_H
#define MS_APP_H

#include <stdbool.h>
#include <stddef.h>

#include "ms/http_client.h"
#include "ms/migrator.h"
#include "ms/pg.h"
#include "ms/redis.h"
#include "ms/server.h"

/* The most upstream services one service may call. */
enum { MS_APP_UPSTREAMS_MAX = 8 };

/* PostgreSQL, when default_url is set: a pool, the critical readiness check "postgres", and the
 * service's migrations applied in the background (ms_migrator_serve). */
struct ms_app_database {
    const char *default_url;               /* DATABASE_URL's default; NULL: no database */
    struct ms_pg_pool **pool;              /* where the pool goes, in the service's state */
    struct ms_migrator *migrator;          /* in the service's state: its queries go through it */
    const struct ms_migration *migrations; /* the binary's ms_service_migrations */
    size_t nmigrations;
};

/* The database of a service whose state (an lvalue) keeps its pool in the field pg and its
 * migrator in migrator, with the migrations embedded in its binary (cmake/embed_sql.cmake). */
#define MS_APP_DATABASE(url, state)                                                                \
    {                                                                                              \
        .default_url = (url), .pool = &(state).pg, .migrator = &(state).migrator,                  \
        .migrations = ms_service_migrations, .nmigrations = ms_service_migrations_len              \
    }

/* Redis, when default_url is set: a pool and the readiness check "redis". */
struct ms_app_redis {
    const char *default_url;     /* REDIS_URL's default; NULL: no Redis */
    struct ms_redis_pool **pool; /* where the pool goes, in the service's state */
    bool critical;               /* whether /ready fails while Redis is down */
};

/* A service this one calls (ms_upstream_config_from_env's arguments). */
struct ms_app_upstream {
    const char *name;            /* "product": PRODUCT_URL, PRODUCT_TIMEOUT_MS, ... */
    const char *default_url;     /* PRODUCT_URL's default */
    int timeout_ms;              /* PRODUCT_TIMEOUT_MS's default */
    struct ms_upstream **client; /* where the client goes, in the service's state */
};

/* What the runner read from the environment, handed to the service's init. */
struct ms_app_config {
    struct ms_server_config server;
    struct ms_pg_config pg;       /* when the service has a database */
    struct ms_redis_config redis; /* when it has Redis */
    struct ms_upstream_config upstreams[MS_APP_UPSTREAMS_MAX];
};

/* One service. Every callback is optional (NULL) and gets svc. */
struct ms_app {
    const char *name; /* "cart": logs, metrics, the migrations' lock, default variable names */
    int default_port; /* PORT's default */
    void *svc;        /* the service's state: req->svc in its handlers */
    const struct ms_route *routes;
    size_t nroutes;
    struct ms_app_database database;
    struct ms_app_redis redis;
    const struct ms_app_upstream *upstreams; /* at most MS_APP_UPSTREAMS_MAX */
    size_t nupstreams;
    /* Reads the service's own variables (ms_config_*). Nonzero, after reporting the bad one,
     * makes the process exit MS_CONFIG_EXIT. */
    int (*configure)(void *svc);
    /* Once the server, pools and clients exist, before the routes are served: the service's
     * metrics and any pool of its own. Nonzero stops start-up. */
    int (*init)(void *svc, const struct ms_app_config *cfg);
    /* Starts the background tasks, once the server listens. Nonzero stops start-up. */
    int (*start)(void *svc);
    /* Stops them, before the pools they use go. Runs on every path after configuration, so it
     * must be safe when start never ran (a zeroed state). */
    void (*stop)(void *svc);
    /* Frees what init made, once the server has stopped. Runs on the same paths as stop. */
    void (*close)(void *svc);
};

/* Runs the service until SIGTERM or SIGINT and a graceful drain (ms_server_wait_and_drain).
 * Returns main()'s exit status: EXIT_SUCCESS after a clean shutdown, MS_CONFIG_EXIT when a
 * variable is invalid (nothing was started), EXIT_FAILURE when start-up failed or the server
 * never listened. Call it once, from main, before any thread exists. */
int ms_app_run(const struct ms_app *app);

#endif
