/* The background migration thread. */
#include "ms/migrator.h"

#include "ms/breaker.h"
#include "ms/err.h"
#include "ms/log.h"
#include "ms/server.h"

static void run(struct ms_task *task, void *arg)
{
    struct ms_migrator *m = arg;
    int attempt = 0;

    do {
        int rc = ms_pg_migrate(m->pool, m->lock_name, m->migrations, m->n);
        if (rc == 0) {
            atomic_store(&m->done, true);
            ms_log_json_new(MS_LOG_INFO,
                            json_pack("{s:s,s:i}", "event", "migrated", "migrations", (int)m->n));
            return;
        }
        ms_log_json_new(MS_LOG_WARN, json_pack("{s:s,s:s,s:i}", "event", "migration_retry", "error",
                                               ms_strerror(rc), "attempt", attempt));
        /* capped so a database that comes back is noticed within a couple of seconds */
    } while (ms_task_nap(task, 250 + ms_backoff_ms(attempt < 4 ? attempt++ : 4, 100, 2000)));
}

int ms_migrator_start(struct ms_migrator *m, struct ms_pg_pool *pool, const char *lock_name,
                      const struct ms_migration *migrations, size_t n)
{
    m->pool = pool;
    m->lock_name = lock_name;
    m->migrations = migrations;
    m->n = n;
    atomic_store(&m->done, false);
    return ms_task_start(&m->task, run, m);
}

bool ms_migrator_done(const struct ms_migrator *m)
{
    return atomic_load(&((struct ms_migrator *)m)->done);
}

int ms_migrator_query(struct ms_migrator *m, const char *sql, int nparams,
                      const char *const *params, PGresult **out)
{
    *out = NULL;
    if (!ms_migrator_done(m))
        return MS_EUNAVAIL;
    return ms_pg_pool_query(m->pool, sql, nparams, params, out);
}

int ms_migrator_acquire(struct ms_migrator *m, struct ms_pg_conn **conn)
{
    *conn = NULL;
    if (!ms_migrator_done(m))
        return MS_EUNAVAIL;
    return ms_pg_acquire(m->pool, conn);
}

int ms_migrator_check(void *migrator)
{
    struct ms_migrator *m = migrator;

    if (!ms_migrator_done(m))
        return MS_EUNAVAIL;
    return ms_pg_ping(m->pool) == 0 ? 0 : MS_EUNAVAIL;
}

int ms_migrator_serve(struct ms_migrator *m, struct ms_server *srv, struct ms_pg_pool *pool,
                      const char *name, const struct ms_migration *migrations, size_t n)
{
    int rc = ms_server_add_check(srv, "postgres", ms_migrator_check, m, true);

    return rc ? rc : ms_migrator_start(m, pool, name, migrations, n);
}

void ms_migrator_stop(struct ms_migrator *m)
{
    ms_task_stop(&m->task);
}
