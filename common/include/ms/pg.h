/* PostgreSQL: a fixed-size pool of libpq connections, parameterised queries, and schema
 * migrations applied under an advisory lock. */
#ifndef MS_PG_H
#define MS_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct ms_pg_pool;
struct ms_pg_conn; /* a checked-out connection; used by one thread at a time */

struct ms_pg_config {
    const char *conninfo;     /* URI or key=value string; copied */
    const char *name;         /* pool name for metrics labels, e.g. "product" */
    int size;                 /* connections, fixed; default 4 */
    int acquire_timeout_ms;   /* wait for a free connection at most this long; default 1000 */
    int connect_timeout_s;    /* libpq connect_timeout (libpq's minimum is 2); default 2 */
    int statement_timeout_ms; /* server-side statement_timeout; default 2000 */
};

/* One numbered migration; generated from a service's sql/NNN_name.sql by CMake. */
struct ms_migration {
    int version;
    const char *name;
    const char *sql;
};

/* A service binary with a sql/ folder links the array of its own migrations
 * (cmake/embed_sql.cmake), which its main hands to ms_app_run; common/ never refers to it. */
extern const struct ms_migration ms_service_migrations[];
extern const size_t ms_service_migrations_len;

/* Creates the pool. Connections are opened in the background (one at once, more on demand),
 * so this succeeds while PostgreSQL is down.
 * Returns NULL on allocation failure. Free with ms_pg_pool_free once no connection is out. */
struct ms_pg_pool *ms_pg_pool_new(const struct ms_pg_config *cfg);
void ms_pg_pool_free(struct ms_pg_pool *pool);

/* Checks out an open connection, waiting up to acquire_timeout_ms for one to be free or to be
 * (re)connected by the pool's background reconnector (ms/pool.h). MS_EUNAVAIL when none came in
 * time, or at once when PostgreSQL cannot be reached (the last connects failed and no
 * connection is open). */
int ms_pg_acquire(struct ms_pg_pool *pool, struct ms_pg_conn **out);

/* Returns a connection to the pool. A connection found broken is closed and replaced in the
 * background. Accepts NULL. */
void ms_pg_release(struct ms_pg_pool *pool, struct ms_pg_conn *conn);

/* Runs one parameterised statement (text parameters, text results). On success *out holds the
 * result (PGRES_TUPLES_OK or PGRES_COMMAND_OK), which the caller PQclear()s; on failure *out is
 * NULL and the code says why: MS_ECONFLICT for unique/check/exclusion violations (SQLSTATE 23xxx,
 * 40001 serialization failures and 40P01 deadlocks return MS_ECONFLICT too), MS_ETIMEDOUT for
 * statement timeouts (57014), MS_EUNAVAIL when the connection is lost (it is then marked
 * broken), MS_EINVAL for data errors (22xxx), MS_EINTERNAL otherwise. The server's message and
 * SQLSTATE stay readable through ms_pg_last_error / ms_pg_last_sqlstate until the next call. */
int ms_pg_query(struct ms_pg_conn *conn, const char *sql, int nparams, const char *const *params,
                PGresult **out);

/* Checks out a connection, runs one statement (as ms_pg_query) and returns the connection:
 * the common case of a single query outside a transaction. */
int ms_pg_pool_query(struct ms_pg_pool *pool, const char *sql, int nparams,
                     const char *const *params, PGresult **out);

/* Runs a statement for its effect only (BEGIN, COMMIT, ...), same error mapping. */
int ms_pg_exec(struct ms_pg_conn *conn, const char *sql);

const char *ms_pg_last_error(const struct ms_pg_conn *conn);
const char *ms_pg_last_sqlstate(const struct ms_pg_conn *conn);

/* Readiness: checks out a connection and runs SELECT 1. 0 or MS_EUNAVAIL. */
int ms_pg_ping(struct ms_pg_pool *pool);

/* Applies, in order, each migration whose version is not yet recorded in the table
 * schema_migrations, each in its own transaction, holding a session advisory lock keyed by
 * lock_name so that replicas starting together never race. 0, or the failing code. */
int ms_pg_migrate(struct ms_pg_pool *pool, const char *lock_name,
                  const struct ms_migration *migrations, size_t n);

#endif
