/* The background migration thread. */
#include "ms/migrator.h"

#include "ms/breaker.h"
#include "ms/clock.h"
#include "ms/err.h"
#include "ms/log.h"

/* Sleeps up to ms, waking early when asked to stop. */
static void nap(struct ms_migrator *m, int64_t ms)
{
    int64_t until = ms_now_ms() + ms;

    while (!atomic_load(&m->stopping) && ms_now_ms() < until)
        ms_sleep_ms(20);
}

static void *run(void *arg)
{
    struct ms_migrator *m = arg;

    for (int attempt = 0; !atomic_load(&m->stopping); attempt++) {
        int rc = ms_pg_migrate(m->pool, m->lock_name, m->migrations, m->n);
        if (rc == 0) {
            atomic_store(&m->done, true);
            ms_log_json_new(MS_LOG_INFO,
                            json_pack("{s:s,s:i}", "event", "migrated", "migrations", (int)m->n));
            break;
        }
        ms_log_json_new(MS_LOG_WARN, json_pack("{s:s,s:s,s:i}", "event", "migration_retry", "error",
                                               ms_strerror(rc), "attempt", attempt));
        /* capped so a database that comes back is noticed within a couple of seconds */
        nap(m, 250 + ms_backoff_ms(attempt < 4 ? attempt : 4, 100, 2000));
    }
    return NULL;
}

int ms_migrator_start(struct ms_migrator *m, struct ms_pg_pool *pool, const char *lock_name,
                      const struct ms_migration *migrations, size_t n)
{
    m->pool = pool;
    m->lock_name = lock_name;
    m->migrations = migrations;
    m->n = n;
    atomic_store(&m->done, false);
    atomic_store(&m->stopping, false);
    if (pthread_create(&m->thread, NULL, run, m) != 0)
        return MS_ENOMEM;
    m->started = true;
    return 0;
}

bool ms_migrator_done(const struct ms_migrator *m)
{
    return atomic_load(&((struct ms_migrator *)m)->done);
}

int ms_migrator_check(void *migrator)
{
    struct ms_migrator *m = migrator;

    if (!ms_migrator_done(m))
        return MS_EUNAVAIL;
    return ms_pg_ping(m->pool) == 0 ? 0 : MS_EUNAVAIL;
}

void ms_migrator_stop(struct ms_migrator *m)
{
    if (!m->started)
        return;
    atomic_store(&m->stopping, true);
    pthread_join(m->thread, NULL);
    m->started = false;
}
