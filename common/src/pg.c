/* PostgreSQL: libpq connections in a bounded pool (ms/pool.h), parameterised queries with their
 * SQLSTATE mapped to ms_err codes, and migrations applied under an advisory lock. */
#include "ms/pg.h"

#include "ms/budget.h"
#include "ms/clock.h"
#include "ms/err.h"
#include "ms/log.h"
#include "ms/metrics.h"
#include "ms/pool.h"
#include "silence.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest pause between the pool's failed connects (ms/pool.h): a dead server is tried
 * four times a second. */
#define CONNECT_BACKOFF_MAX_MS 250

/* How long past statement_timeout the client waits for an answer before it gives the
 * connection up; and the least idle-in-transaction time-out (a transaction's statements run one
 * after another, with the service's work in between). */
#define DEADLINE_MARGIN_MS 1000
#define IDLE_IN_TRANSACTION_MIN_MS 10000

/* How long a pool whose server went silent refuses at once before one request probes again
 * (silence.h): short, since a silence is often a blip, and long enough that the workers held
 * by the silence are freed and answer 503 rather than queue. */
#define SILENT_REFUSE_MS 500

/* Statements with parameters are prepared once per session and then only bound and executed:
 * with PQexecParams PostgreSQL parsed, analysed and planned every one of them again, which was
 * most of the database's CPU time per order. A service runs a few dozen distinct statements;
 * past this many per session the rest run unprepared. */
#define PREPARED_MAX 48

struct prepared {
    char *sql; /* the text it was prepared from (owned); its name is "ms_<index>" */
    uint64_t hash;
};

struct ms_pg_conn {
    PGconn *pg; /* NULL while the slot is closed */
    struct ms_pg_pool *pool;
    size_t slot;
    bool broken;      /* the connection was lost while checked out: closed on release */
    bool no_deadline; /* migrations: waiting for another replica's lock may take long */
    bool probe;       /* checked out to find whether a silent server answers again */
    int64_t sent_ms;  /* when the statement being answered was sent */
    char sqlstate[6];
    char error[256];
    struct prepared prepared[PREPARED_MAX]; /* on this session; emptied when it closes */
    size_t nprepared;
};

struct ms_pg_pool {
    struct ms_pool *slots;
    char *conninfo;
    char name[64];
    char connect_timeout[16];
    char tcp_user_timeout[16];
    char session_sql[128];  /* the session's limits, set on connecting (set_timeouts) */
    int deadline_ms;        /* the client's own limit on one statement: a lost or stalled answer */
    struct silence silence; /* whether the server answers at all (silence.h) */
    struct ms_series *refused; /* db_pool_acquire_total{result="unavailable"} */
    struct ms_series *queries_ok;
    struct ms_series *queries_error;
    size_t size;
    struct ms_pg_conn conns[]; /* conns[i] belongs to whoever holds slot i */
};

static const char create_migrations_sql[] = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                            " version int PRIMARY KEY,"
                                            " name text NOT NULL,"
                                            " applied_at timestamptz NOT NULL DEFAULT now())";

/* Notices (and the FATAL a server sends an idle connection as it shuts down) would otherwise
 * be printed on stderr by libpq; errors reach the caller through the result instead. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void set_error(struct ms_pg_conn *conn, const char *message, const char *sqlstate)
{
    size_t len;

    snprintf(conn->error, sizeof(conn->error), "%s", message != NULL ? message : "");
    len = strlen(conn->error);
    while (len > 0 && conn->error[len - 1] == '\n')
        conn->error[--len] = '\0';
    snprintf(conn->sqlstate, sizeof(conn->sqlstate), "%s", sqlstate != NULL ? sqlstate : "");
}

static PGresult *collect(struct ms_pg_conn *conn, int sent, bool *late);

/* Sets the session's limits (set_timeouts) with a SET after connecting, not in the startup
 * packet's "options": a pooler in front of PostgreSQL (PgBouncer) refuses that parameter, or
 * drops it when told to ignore it, and the session would run without its limits. In a pooler's
 * session mode a SET lasts until the client leaves, when the pooler's DISCARD ALL resets it. */
static bool session_limits_set(struct ms_pg_conn *conn)
{
    bool late;
    PGresult *res = collect(conn, PQsendQuery(conn->pg, conn->pool->session_sql), &late);
    bool ok = !late && PQresultStatus(res) == PGRES_COMMAND_OK;

    if (!ok)
        set_error(conn,
                  late ? "no answer to the session's SET"
                       : (res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn->pg)),
                  "08006");
    PQclear(res);
    return ok;
}

static int conn_open(void *ctx, size_t slot)
{
    struct ms_pg_pool *pool = ctx;
    struct ms_pg_conn *conn = &pool->conns[slot];
    /* Later keywords override earlier ones, and "dbname" is expanded in place: the caller's
     * conninfo may name the application, but the timeouts and keepalives are ours. */
    const char *const keys[] = {"application_name", "dbname",           "connect_timeout",
                                "keepalives",       "keepalives_idle",  "keepalives_interval",
                                "keepalives_count", "tcp_user_timeout", NULL};
    const char *const values[] = {pool->name,
                                  pool->conninfo,
                                  pool->connect_timeout,
                                  "1",
                                  "5",
                                  "2",
                                  "3",
                                  pool->tcp_user_timeout,
                                  NULL};

    conn->pg = PQconnectdbParams(keys, values, 1);
    if (conn->pg == NULL) {
        set_error(conn, "out of memory", "");
        return MS_ENOMEM;
    }
    if (PQstatus(conn->pg) != CONNECTION_OK) {
        set_error(conn, PQerrorMessage(conn->pg), "08006");
        PQfinish(conn->pg);
        conn->pg = NULL;
        return MS_EUNAVAIL;
    }
    PQsetNoticeProcessor(conn->pg, ignore_notice, NULL);
    conn->broken = false;
    conn->nprepared = 0;
    if (!session_limits_set(conn)) {
        PQfinish(conn->pg);
        conn->pg = NULL;
        return MS_EUNAVAIL;
    }
    return 0;
}

/* Has the server closed this idle connection (restart, idle timeout)? Decided from what is
 * waiting on the socket, without a round trip. A server going away sends a goodbye message
 * and then closes: PQconsumeInput reads the message but only a later read sees the close, so
 * keep reading while the socket says there is more. */
static bool server_hung_up(PGconn *pg)
{
    struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN | POLLRDHUP};

    for (int i = 0; i < 3; i++) {
        if (poll(&p, 1, 0) <= 0)
            return false; /* nothing pending: the usual case */
        if (p.revents & (POLLHUP | POLLRDHUP | POLLERR))
            return true;
        if (PQconsumeInput(pg) == 0 || PQstatus(pg) != CONNECTION_OK)
            return true;
    }
    return false;
}

static bool conn_alive(void *ctx, size_t slot)
{
    struct ms_pg_conn *conn = &((struct ms_pg_pool *)ctx)->conns[slot];

    return conn->pg != NULL && !conn->broken && PQstatus(conn->pg) == CONNECTION_OK &&
           !server_hung_up(conn->pg);
}

/* The session's prepared statements die with it. */
static void forget_prepared(struct ms_pg_conn *conn)
{
    for (size_t i = 0; i < conn->nprepared; i++)
        free(conn->prepared[i].sql);
    conn->nprepared = 0;
}

static void conn_close(void *ctx, size_t slot)
{
    struct ms_pg_conn *conn = &((struct ms_pg_pool *)ctx)->conns[slot];

    PQfinish(conn->pg);
    conn->pg = NULL;
    conn->broken = false;
    forget_prepared(conn);
}

static const struct ms_pool_ops pg_ops = {
    .open = conn_open,
    .alive = conn_alive,
    .close = conn_close,
};

static struct ms_series *query_series(const char *name, const char *result)
{
    struct ms_family *family = ms_counter_family(
        "db_queries_total", "PostgreSQL statements run, by result.", "pool,result");
    const char *values[] = {name, result};

    return family != NULL ? ms_series_get(family, values) : NULL;
}

/* The limits that keep a lost answer from holding a thread, or a forgotten transaction from
 * holding locks: the server's statement_timeout; the client's own deadline a little past it
 * (a stalled or blackholed server never sends the cancel); tcp_user_timeout, so unacknowledged
 * data fails the socket in seconds rather than after minutes of TCP retransmission; and
 * idle_in_transaction_session_timeout, so a client that vanished mid-transaction releases its
 * locks. */
static void set_timeouts(struct ms_pg_pool *pool, int statement_ms)
{
    pool->deadline_ms = statement_ms + DEADLINE_MARGIN_MS;
    snprintf(pool->tcp_user_timeout, sizeof(pool->tcp_user_timeout), "%d", pool->deadline_ms);
    snprintf(pool->session_sql, sizeof(pool->session_sql),
             "SET statement_timeout = %d; SET idle_in_transaction_session_timeout = %d",
             statement_ms,
             statement_ms * 5 > IDLE_IN_TRANSACTION_MIN_MS ? statement_ms * 5
                                                           : IDLE_IN_TRANSACTION_MIN_MS);
}

/* Copies the configuration (defaults filled in) into a new pool; the slots come later. */
static struct ms_pg_pool *pool_alloc(const struct ms_pg_config *cfg, size_t size)
{
    struct ms_pg_pool *pool = calloc(1, sizeof(*pool) + size * sizeof(pool->conns[0]));

    if (pool == NULL)
        return NULL;
    pool->conninfo = strdup(cfg->conninfo != NULL ? cfg->conninfo : "");
    if (pool->conninfo == NULL) {
        free(pool);
        return NULL;
    }
    pool->size = size;
    snprintf(pool->name, sizeof(pool->name), "%s", cfg->name != NULL ? cfg->name : "default");
    snprintf(pool->connect_timeout, sizeof(pool->connect_timeout), "%d",
             cfg->connect_timeout_s > 0 ? cfg->connect_timeout_s : 2);
    set_timeouts(pool, cfg->statement_timeout_ms > 0 ? cfg->statement_timeout_ms : 2000);
    for (size_t i = 0; i < size; i++) {
        pool->conns[i].pool = pool;
        pool->conns[i].slot = i;
    }
    pool->queries_ok = query_series(pool->name, "ok");
    pool->queries_error = query_series(pool->name, "error");
    return pool;
}

struct ms_pg_pool *ms_pg_pool_new(const struct ms_pg_config *cfg)
{
    size_t size = cfg->size > 0 ? (size_t)cfg->size : 4;
    struct ms_pg_pool *pool = pool_alloc(cfg, size);
    struct ms_pool_config pool_cfg = {
        .size = size,
        .acquire_timeout_ms = cfg->acquire_timeout_ms > 0 ? cfg->acquire_timeout_ms : 1000,
        .backoff_max_ms = CONNECT_BACKOFF_MAX_MS,
        .ops = &pg_ops,
        .ctx = pool,
    };

    if (pool == NULL)
        return NULL;
    ms_pool_series_init(&pool_cfg.series, pool->name, "db_pool_connections",
                        "PostgreSQL pool connections, by state.", "db_pool_acquire_total",
                        "PostgreSQL pool checkouts, by result.");
    pool->refused = pool_cfg.series.acquire_unavailable;
    pool->slots = ms_pool_new(&pool_cfg);
    if (pool->slots == NULL) {
        free(pool->conninfo);
        free(pool);
        return NULL;
    }
    return pool;
}

void ms_pg_pool_free(struct ms_pg_pool *pool)
{
    if (pool == NULL)
        return;
    ms_pool_free(pool->slots);
    free(pool->conninfo);
    free(pool);
}

int ms_pg_acquire(struct ms_pg_pool *pool, struct ms_pg_conn **out)
{
    bool probe;
    int slot;

    *out = NULL;
    if (!msi_silence_admit(&pool->silence, ms_now_ms(), &probe)) {
        ms_counter_inc(pool->refused);
        return MS_EUNAVAIL;
    }
    slot = ms_pool_acquire(pool->slots);
    if (slot < 0) {
        if (probe)
            msi_silence_probe_done(&pool->silence);
        return slot;
    }
    *out = &pool->conns[slot];
    (*out)->probe = probe;
    set_error(*out, "", "");
    return 0;
}

/* Waits for the answer to arrive, until deadline_ms (monotonic; -1: no deadline). false when
 * the deadline passed; a failed read is left for PQgetResult to report. */
static bool await_answer(struct ms_pg_conn *conn, int64_t deadline_ms)
{
    while (PQisBusy(conn->pg)) {
        struct pollfd p = {.fd = PQsocket(conn->pg), .events = POLLIN};
        int64_t left = deadline_ms < 0 ? -1 : deadline_ms - ms_now_ms();
        int n;

        if (deadline_ms >= 0 && left <= 0)
            return false;
        n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return false;
        if (n < 0 || PQconsumeInput(conn->pg) == 0)
            return true;
    }
    return true;
}

/* Collects the answer to the statement just sent (sent: what PQsend* returned): its result,
 * the first error if there was one; NULL with *late set when no answer came before the
 * client's deadline. */
static PGresult *collect(struct ms_pg_conn *conn, int sent, bool *late)
{
    /* the client's own deadline, or less if the request's budget ends first (ms/budget.h) */
    int64_t deadline = conn->no_deadline ? -1 : ms_budget_deadline_after(conn->pool->deadline_ms);
    PGresult *kept = NULL, *next;

    *late = false;
    conn->sent_ms = ms_now_ms();
    if (!sent)
        return NULL;
    for (;;) {
        if (!await_answer(conn, deadline)) {
            *late = true;
            PQclear(kept);
            return NULL;
        }
        next = PQgetResult(conn->pg);
        if (next == NULL) {
            msi_silence_answered(&conn->pool->silence, ms_now_ms());
            return kept;
        }
        if (kept != NULL && PQresultStatus(kept) == PGRES_FATAL_ERROR) {
            PQclear(next);
        } else {
            PQclear(kept);
            kept = next;
        }
    }
}

/* No answer in time: the statement may or may not have run, and the session is given up so
 * no later answer can be mistaken for another statement's. */
static int give_up(struct ms_pg_conn *conn)
{
    char message[96];

    if (ms_budget_spent())
        snprintf(message, sizeof(message), "no answer from PostgreSQL within the request's budget");
    else
        snprintf(message, sizeof(message), "no answer from PostgreSQL within %d ms",
                 conn->pool->deadline_ms);
    if (msi_silence_gave_up(&conn->pool->silence, conn->sent_ms, ms_now_ms(), SILENT_REFUSE_MS))
        ms_logf(MS_LOG_WARN,
                "PostgreSQL pool %s: nothing answered on any connection for %lld ms; refusing "
                "at once for %d ms, then one request probes",
                conn->pool->name, (long long)(ms_now_ms() - conn->sent_ms), SILENT_REFUSE_MS);
    ms_counter_inc(conn->pool->queries_error);
    set_error(conn, message, "");
    conn->broken = true;
    return MS_ETIMEDOUT;
}

/* Whether the session can go back to the pool as it is. A transaction left open by an error
 * path is rolled back, so the next holder does not inherit it. */
static bool session_reusable(struct ms_pg_conn *conn)
{
    PGresult *res;
    bool ok, late;

    if (conn->broken || conn->pg == NULL)
        return false;
    switch (PQtransactionStatus(conn->pg)) {
    case PQTRANS_IDLE:
        return true;
    case PQTRANS_INTRANS:
    case PQTRANS_INERROR:
        res = collect(conn, PQsendQuery(conn->pg, "ROLLBACK"), &late);
        ok = !late && PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        return ok;
    default:
        return false; /* a query still running, or the connection is gone */
    }
}

void ms_pg_release(struct ms_pg_pool *pool, struct ms_pg_conn *conn)
{
    bool probe;

    if (conn == NULL)
        return;
    probe = conn->probe;
    assert(conn->pool == pool);
    conn->probe = false; /* before the slot is given back: then it is the next holder's */
    ms_pool_release(pool->slots, conn->slot, !session_reusable(conn));
    if (probe)
        msi_silence_probe_done(&pool->silence);
}

/* Maps the error kept in conn to a code; a lost connection is marked broken. */
static int map_error(struct ms_pg_conn *conn)
{
    const char *state = conn->sqlstate;

    /* Class 08 is connection trouble; 57P01..57P04 mean the server is going away. */
    if (PQstatus(conn->pg) != CONNECTION_OK || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0) {
        conn->broken = true;
        return MS_EUNAVAIL;
    }
    if (strncmp(state, "23", 2) == 0 || strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return MS_ECONFLICT;
    if (strcmp(state, "57014") == 0)
        return MS_ETIMEDOUT;
    /* "cached plan must not change result type": the schema changed under a prepared statement;
     * a new session prepares afresh */
    if (strcmp(state, "0A000") == 0)
        conn->broken = true;
    if (strncmp(state, "22", 2) == 0)
        return MS_EINVAL;
    if (strncmp(state, "53", 2) == 0) /* out of connections, memory or disk on the server */
        return MS_EUNAVAIL;
    return MS_EINTERNAL;
}

/* Records the outcome of one statement: 0 for a command or rows, else the mapped error. */
static int check_result(struct ms_pg_conn *conn, const PGresult *res)
{
    ExecStatusType status = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    const char *message;

    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        set_error(conn, "", "");
        ms_counter_inc(conn->pool->queries_ok);
        return 0;
    }
    ms_counter_inc(conn->pool->queries_error);
    if (res == NULL && PQstatus(conn->pg) == CONNECTION_OK) {
        set_error(conn, "out of memory", "");
        return MS_ENOMEM;
    }
    message = res != NULL ? PQresultErrorMessage(res) : "";
    if (message[0] == '\0')
        message = PQerrorMessage(conn->pg);
    set_error(conn, message, res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL);
    return map_error(conn);
}

static uint64_t hash_sql(const char *sql)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */

    for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    return h;
}

static void prepared_name(char *buf, size_t cap, size_t index)
{
    snprintf(buf, cap, "ms_%zu", index);
}

/* The name of sql's prepared statement on this session, preparing it on first use: 1 with
 * *name set, 0 when it is to run unprepared (the session's table is full), or the error of
 * preparing it (kept in conn, as a failed PQexecParams would have). The text is compared, not
 * just its address: a caller may build statements in a reused buffer. */
static int prepare(struct ms_pg_conn *conn, const char *sql, int nparams, char *name, size_t cap)
{
    uint64_t hash = hash_sql(sql);
    PGresult *res;
    char *copy;
    bool late;
    int rc;

    for (size_t i = 0; i < conn->nprepared; i++) {
        if (conn->prepared[i].hash == hash && strcmp(conn->prepared[i].sql, sql) == 0) {
            prepared_name(name, cap, i);
            return 1;
        }
    }
    if (conn->nprepared == PREPARED_MAX)
        return 0;
    copy = strdup(sql);
    if (copy == NULL)
        return 0;
    prepared_name(name, cap, conn->nprepared);
    res = collect(conn, PQsendPrepare(conn->pg, name, sql, nparams, NULL), &late);
    if (late) {
        free(copy);
        return give_up(conn);
    }
    /* a failure counts as the statement's (it would have failed to run the same way) */
    rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : check_result(conn, res);
    PQclear(res);
    if (rc < 0) {
        free(copy);
        return rc;
    }
    conn->prepared[conn->nprepared++] = (struct prepared){.sql = copy, .hash = hash};
    return 1;
}

int ms_pg_query(struct ms_pg_conn *conn, const char *sql, int nparams, const char *const *params,
                PGresult **out)
{
    char name[32];
    PGresult *res;
    bool late;
    int rc = 0;

    *out = NULL;
    if (!conn->no_deadline && ms_budget_spent()) {
        /* nothing sent, so nothing is unsure and the session stays good */
        ms_counter_inc(conn->pool->queries_error);
        set_error(conn, "the request's budget was spent before this statement", "");
        return MS_ETIMEDOUT;
    }
    /* Statements without parameters (BEGIN, COMMIT, SET ...) are cheap to plan: left as they are */
    if (nparams > 0)
        rc = prepare(conn, sql, nparams, name, sizeof(name));
    if (rc < 0)
        return rc;
    res = collect(conn,
                  rc == 1 ? PQsendQueryPrepared(conn->pg, name, nparams, params, NULL, NULL, 0)
                          : PQsendQueryParams(conn->pg, sql, nparams, NULL, params, NULL, NULL, 0),
                  &late);
    if (late)
        return give_up(conn);
    rc = check_result(conn, res);
    if (rc < 0) {
        PQclear(res);
        return rc;
    }
    *out = res;
    return 0;
}

int ms_pg_exec(struct ms_pg_conn *conn, const char *sql)
{
    PGresult *res = NULL;
    int rc = ms_pg_query(conn, sql, 0, NULL, &res);

    PQclear(res);
    return rc;
}

const char *ms_pg_last_error(const struct ms_pg_conn *conn)
{
    return conn->error;
}

const char *ms_pg_last_sqlstate(const struct ms_pg_conn *conn)
{
    return conn->sqlstate;
}

int ms_pg_pool_query(struct ms_pg_pool *pool, const char *sql, int nparams,
                     const char *const *params, PGresult **out)
{
    struct ms_pg_conn *conn = NULL;
    int rc = ms_pg_acquire(pool, &conn);

    *out = NULL;
    if (rc == 0)
        rc = ms_pg_query(conn, sql, nparams, params, out);
    ms_pg_release(pool, conn);
    return rc;
}

int ms_pg_ping(struct ms_pg_pool *pool)
{
    struct ms_pg_conn *conn = NULL;
    int rc = ms_pg_acquire(pool, &conn);

    if (rc < 0)
        return MS_EUNAVAIL;
    rc = ms_pg_exec(conn, "SELECT 1");
    ms_pg_release(pool, conn);
    return rc < 0 ? MS_EUNAVAIL : 0;
}

/* Runs a migration body, which may hold several statements: the simple query protocol, without
 * parameters. A body of comments only is fine. */
static int exec_script(struct ms_pg_conn *conn, const char *sql)
{
    PGresult *res = PQexec(conn->pg, sql);
    int rc;

    if (PQresultStatus(res) == PGRES_EMPTY_QUERY) {
        PQclear(res);
        return 0;
    }
    rc = check_result(conn, res);
    PQclear(res);
    return rc;
}

static int exec_params(struct ms_pg_conn *conn, const char *sql, int nparams,
                       const char *const *params)
{
    PGresult *res = NULL;
    int rc = ms_pg_query(conn, sql, nparams, params, &res);

    PQclear(res);
    return rc;
}

/* Applies one migration with the row that records it, in one transaction, unless it is
 * recorded already. */
static int apply_if_missing(struct ms_pg_conn *conn, const struct ms_migration *m)
{
    char version[16];
    const char *const params[] = {version, m->name};
    PGresult *res = NULL;
    int rc;

    snprintf(version, sizeof(version), "%d", m->version);
    rc = ms_pg_query(conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params, &res);
    if (rc < 0 || PQntuples(res) > 0)
        goto out;
    rc = ms_pg_exec(conn, "BEGIN");
    if (rc < 0)
        goto out;
    rc = exec_script(conn, m->sql);
    if (rc == 0)
        rc = exec_params(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                         params);
    if (rc == 0)
        rc = ms_pg_exec(conn, "COMMIT");
    if (rc < 0)
        PQclear(PQexec(conn->pg, "ROLLBACK")); /* keeps the failing statement's error */
out:
    PQclear(res);
    return rc;
}

int ms_pg_migrate(struct ms_pg_pool *pool, const char *lock_name,
                  const struct ms_migration *migrations, size_t n)
{
    const char *const params[] = {lock_name != NULL ? lock_name : "schema_migrations"};
    struct ms_pg_conn *conn = NULL;
    bool locked = false;
    int rc;

    rc = ms_pg_acquire(pool, &conn);
    if (rc < 0)
        return rc;
    /* Waiting for another replica's lock and running long DDL must not trip the per-statement
     * limit meant for requests, on either side. */
    conn->no_deadline = true;
    rc = ms_pg_exec(conn, "SET statement_timeout = 0");
    if (rc < 0)
        goto out;
    rc = exec_params(conn, "SELECT pg_advisory_lock(hashtext($1))", 1, params);
    if (rc < 0)
        goto out;
    locked = true;
    /* Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can still collide. */
    rc = ms_pg_exec(conn, create_migrations_sql);
    for (size_t i = 0; i < n && rc == 0; i++) {
        assert(i == 0 || migrations[i].version > migrations[i - 1].version);
        rc = apply_if_missing(conn, &migrations[i]);
    }
out:
    /* A session that cannot be put back as it was is closed, which drops the lock too. */
    if (locked && exec_params(conn, "SELECT pg_advisory_unlock(hashtext($1))", 1, params) < 0)
        conn->broken = true;
    if (!session_limits_set(conn)) /* the session's own limits back */
        conn->broken = true;
    conn->no_deadline = false;
    ms_pg_release(pool, conn);
    return rc;
}
