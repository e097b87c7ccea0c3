/* Start-up migrations that never block start-up: a background thread applies the service's
 * migrations, retrying with backoff while PostgreSQL is unreachable, and readiness says
 * "down" until they are in. A replica thus starts, answers /health, and becomes ready by
 * itself when its database appears. */
#ifndef MS_MIGRATOR_H
#define MS_MIGRATOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "ms/pg.h"
#include "ms/task.h"

struct ms_migrator {
    struct ms_pg_pool *pool;
    const char *lock_name;
    const struct ms_migration *migrations;
    size_t n;
    atomic_bool done;
    struct ms_task task;
};

/* Starts the thread (pool and migrations are borrowed and must outlive it). 0 or MS_ENOMEM. */
int ms_migrator_start(struct ms_migrator *m, struct ms_pg_pool *pool, const char *lock_name,
                      const struct ms_migration *migrations, size_t n);

/* Have all migrations been applied? */
bool ms_migrator_done(const struct ms_migrator *m);

/* Readiness check (ms_check_fn): 0 when migrated and PostgreSQL answers, else MS_EUNAVAIL. */
int ms_migrator_check(void *migrator);

/* ms_pg_pool_query and ms_pg_acquire for a service's own schema: before the migrations are in,
 * every statement would fail as a bug (no such table); it is an outage, so these answer
 * MS_EUNAVAIL (a 503) instead, without touching PostgreSQL. *out / *conn are NULL on failure. */
int ms_migrator_query(struct ms_migrator *m, const char *sql, int nparams,
                      const char *const *params, PGresult **out);
int ms_migrator_acquire(struct ms_migrator *m, struct ms_pg_conn **conn);

struct ms_server;

/* What every service with a database does (ms_app_run calls it): registers the critical
 * readiness check "postgres" (ms_migrator_check) on srv and starts applying migrations (the
 * service's own, borrowed like pool), locked under name. 0 or the failing code. */
int ms_migrator_serve(struct ms_migrator *m, struct ms_server *srv, struct ms_pg_pool *pool,
                      const char *name, const struct ms_migration *migrations, size_t n);

/* Stops retrying and joins the thread. Safe if never started. */
void ms_migrator_stop(struct ms_migrator *m);

#endif
