/* The runner behind every service's main(): the one order of start-up and shutdown. */
#include "ms/app.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "ms/config.h"
#include "ms/depconfig.h"
#include "ms/err.h"
#include "ms/log.h"

/* One run: what it read and what it made, so that teardown releases exactly that. */
struct run {
    const struct ms_app *app;
    struct ms_app_config cfg;
    struct ms_server *srv;
};

static int load_dependencies(const struct ms_app *app, struct ms_app_config *cfg)
{
    const struct ms_app_database *db = &app->database;

    if (db->default_url && ms_pg_config_from_env(&cfg->pg, app->name, db->default_url))
        return MS_EINVAL;
    if (app->redis.default_url &&
        ms_redis_config_from_env(&cfg->redis, app->name, app->redis.default_url))
        return MS_EINVAL;
    for (size_t i = 0; i < app->nupstreams; i++) {
        const struct ms_app_upstream *u = &app->upstreams[i];

        if (ms_upstream_config_from_env(&cfg->upstreams[i], u->name, u->default_url, u->timeout_ms))
            return MS_EINVAL;
    }
    return 0;
}

/* Everything from the environment, before anything is made: a bad variable costs nothing. */
static int load_config(const struct ms_app *app, struct ms_app_config *cfg)
{
    if (app->nupstreams > MS_APP_UPSTREAMS_MAX) {
        fprintf(stderr, "%s: more than %d upstream services\n", app->name,
                (int)MS_APP_UPSTREAMS_MAX);
        return MS_EINVAL;
    }
    if (ms_log_init_from_env(app->name) ||
        ms_server_config_load(&cfg->server, app->name, app->default_port) ||
        load_dependencies(app, cfg))
        return MS_EINVAL;
    return app->configure && app->configure(app->svc) ? MS_EINVAL : 0;
}

/* Pools and clients connect lazily, so a dependency that is down does not stop start-up. */
static int open_dependencies(const struct ms_app *app, const struct ms_app_config *cfg)
{
    bool missing = false;

    if (app->database.default_url) {
        *app->database.pool = ms_pg_pool_new(&cfg->pg);
        missing |= *app->database.pool == NULL;
    }
    if (app->redis.default_url) {
        *app->redis.pool = ms_redis_pool_new(&cfg->redis);
        missing |= *app->redis.pool == NULL;
    }
    for (size_t i = 0; i < app->nupstreams; i++) {
        *app->upstreams[i].client = ms_upstream_new(&cfg->upstreams[i]);
        missing |= *app->upstreams[i].client == NULL;
    }
    return missing ? MS_ENOMEM : 0;
}

/* Pointers into the service's state, which the service zeroed: NULL when never made. */
static void close_dependencies(const struct ms_app *app)
{
    for (size_t i = 0; i < app->nupstreams; i++)
        ms_upstream_free(*app->upstreams[i].client);
    if (app->redis.default_url)
        ms_redis_pool_free(*app->redis.pool);
    if (app->database.default_url)
        ms_pg_pool_free(*app->database.pool);
}

/* The routes, the readiness checks, and the migrations (in the background: /ready says down
 * until they are in). */
static int wire(const struct ms_app *app, struct ms_server *srv)
{
    const struct ms_app_database *db = &app->database;
    int rc = ms_server_add_routes(srv, app->routes, app->nroutes);

    if (rc == 0 && app->redis.default_url)
        rc = ms_server_add_check(srv, "redis", ms_redis_check, *app->redis.pool,
                                 app->redis.critical);
    if (rc == 0 && db->default_url)
        rc = ms_migrator_serve(db->migrator, srv, *db->pool, app->name, db->migrations,
                               db->nmigrations);
    return rc;
}

static int start(struct run *r)
{
    const struct ms_app *app = r->app;
    int rc;

    r->srv = ms_server_new(&r->cfg.server, app->svc);
    if (!r->srv || open_dependencies(app, &r->cfg))
        return MS_ENOMEM;
    if (app->init && app->init(app->svc, &r->cfg))
        return MS_EINTERNAL;
    rc = wire(app, r->srv);
    if (rc == 0)
        rc = ms_server_start(r->srv);
    if (rc == 0 && app->start && app->start(app->svc))
        rc = MS_EINTERNAL;
    return rc;
}

/* Start-up in reverse: each thing goes after everything that uses it. */
static void teardown(struct run *r)
{
    const struct ms_app *app = r->app;

    if (app->stop)
        app->stop(app->svc); /* the background tasks use the pools */
    if (app->database.default_url)
        ms_migrator_stop(app->database.migrator);
    ms_server_free(r->srv);          /* stops the workers, whose curl handles go with them */
    ms_http_client_thread_cleanup(); /* this thread's handle, if it made one */
    if (app->close)
        app->close(app->svc);
    close_dependencies(app);
}

/* The order, and why:
 * 1. SIGTERM and SIGINT are blocked before any thread exists, so every thread inherits the
 *    mask and only the drain's sigwait takes them.
 * 2. Logs, then the whole configuration (server, PostgreSQL, Redis, upstreams, the service's
 *    own): an invalid variable exits MS_CONFIG_EXIT before anything is made.
 * 3. jansson's and libcurl's process-wide set-up, which must precede every thread
 *    (libcurl-thread(3), json_object_seed(3)); a failure is fatal, not ignored.
 * 4. The server (built-in routes and metrics), then the pools and clients, then the service's
 *    init (its metrics), then routes, readiness checks and the migrations' thread.
 * 5. The server listens; only then do the background tasks start.
 * 6. The signal, then the drain (ms_server_wait_and_drain); then teardown, start-up reversed. */
int ms_app_run(const struct ms_app *app)
{
    struct run r = {.app = app};
    int rc;

    ms_server_block_signals();
    if (load_config(app, &r.cfg))
        return MS_CONFIG_EXIT;
    json_object_seed(0);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ms_log_json_new(MS_LOG_ERROR,
                        json_pack("{s:s,s:s}", "event", "startup_failed", "error", "libcurl"));
        return EXIT_FAILURE;
    }
    rc = start(&r);
    if (rc == 0)
        rc = ms_server_wait_and_drain(r.srv);
    teardown(&r);
    curl_global_cleanup();
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
