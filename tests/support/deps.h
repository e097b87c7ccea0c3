/* Real PostgreSQL and Redis servers for a test suite, started through scripts/pg.sh and
 * scripts/redis.sh on free ports in fresh temporary directories, with durability off. */
#ifndef MS_TEST_DEPS_H
#define MS_TEST_DEPS_H

#include <stddef.h>

struct ms_test_pg {
    char *dir; /* the cluster's directory under /tmp; NULL when not started */
    int port;
};

struct ms_test_pooler {
    char *dir; /* PgBouncer's directory under /tmp; NULL when not started */
    int port;
};

struct ms_test_redis {
    char *dir; /* the server's directory under /tmp; NULL when not started */
    int port;
};

/* Initialises and starts a cluster (superuser ms, trust auth) on a free port. 0 or -1. */
int ms_test_pg_start(struct ms_test_pg *pg);

/* Starts the cluster again in the same directory on the same port (after ms_test_pg_shutdown,
 * or to check idempotency). 0 or -1. */
int ms_test_pg_restart(struct ms_test_pg *pg);

/* Stops the server (fast shutdown) but keeps its directory, to simulate an outage. 0 or -1. */
int ms_test_pg_shutdown(struct ms_test_pg *pg);

/* Stops the server, killing it by PID if it does not stop, and removes its directory. */
void ms_test_pg_stop(struct ms_test_pg *pg);

/* Creates database name (a plain identifier) if missing. 0 or -1. */
int ms_test_pg_createdb(struct ms_test_pg *pg, const char *name);

/* postgresql://ms@127.0.0.1:PORT/db, malloc'd. */
char *ms_test_pg_url(struct ms_test_pg *pg, const char *db);

/* Starts PgBouncer (scripts/pooler.sh: session mode, DISCARD ALL) on a free port in front of
 * pg's cluster. 0 or -1. */
int ms_test_pooler_start(struct ms_test_pooler *pooler, const struct ms_test_pg *pg);

/* postgresql://ms@127.0.0.1:PORT/db through the pooler, malloc'd. */
char *ms_test_pooler_url(const struct ms_test_pooler *pooler, const char *db);

/* Stops PgBouncer, killing it by PID if it does not stop, and removes its directory. */
void ms_test_pooler_stop(struct ms_test_pooler *pooler);

/* Starts a server on a free port, without persistence. 0 or -1. */
int ms_test_redis_start(struct ms_test_redis *redis);

/* Starts the server again in the same directory on the same port. 0 or -1. */
int ms_test_redis_restart(struct ms_test_redis *redis);

/* Kills the server with SIGKILL (a crash, not a shutdown) and waits until it is gone. 0 or -1. */
int ms_test_redis_crash(struct ms_test_redis *redis);

/* Stops the server by its PID and removes its directory. */
void ms_test_redis_stop(struct ms_test_redis *redis);

/* redis://127.0.0.1:PORT/0, malloc'd. */
char *ms_test_redis_url(struct ms_test_redis *redis);

/* A suite's usual start: PostgreSQL with database db, and Redis; "DATABASE_URL=<url>" and
 * "REDIS_URL=<url>" are written to db_env and redis_env (cap bytes each), ready to pass to the
 * services. 0 or -1. */
int ms_test_deps_start(struct ms_test_pg *pg, struct ms_test_redis *redis, const char *db,
                       char *db_env, char *redis_env, size_t cap);

#endif
