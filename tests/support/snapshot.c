/* Digests of PostgreSQL databases and of Redis, over connections kept for the whole suite. */
#include "snapshot.h"

#include "bytes.h"

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_CONNS = 8 };

static struct {
    int port;
    char db[64];
    PGconn *conn;
} pg_conns[MAX_CONNS];
static redisContext *redis_conn;
static int redis_port;

/* Builds a digest; once an append fails it stays failed, and the digest is NULL. */
struct text {
    struct ms_test_bytes b;
    bool failed;
};

static void text_str(struct text *t, const char *s)
{
    if (!t->failed && ms_test_bytes_str(&t->b, s) != 0)
        t->failed = true;
}

static char *text_done(struct text *t)
{
    if (t->failed) {
        ms_test_bytes_free(&t->b);
        return NULL;
    }
    return t->b.data ? t->b.data : strdup("");
}

static PGconn *pg_conn(struct ms_test_pg *pg, const char *db)
{
    char conninfo[256];
    size_t free_slot = MAX_CONNS;

    for (size_t i = 0; i < MAX_CONNS; i++) {
        if (pg_conns[i].conn && pg_conns[i].port == pg->port && strcmp(pg_conns[i].db, db) == 0) {
            if (PQstatus(pg_conns[i].conn) == CONNECTION_OK)
                return pg_conns[i].conn;
            PQreset(pg_conns[i].conn);
            return PQstatus(pg_conns[i].conn) == CONNECTION_OK ? pg_conns[i].conn : NULL;
        }
        if (!pg_conns[i].conn && free_slot == MAX_CONNS)
            free_slot = i;
    }
    if (free_slot == MAX_CONNS)
        return NULL;
    snprintf(conninfo, sizeof(conninfo),
             "host=127.0.0.1 port=%d user=ms dbname=%s connect_timeout=5", pg->port, db);
    pg_conns[free_slot].conn = PQconnectdb(conninfo);
    pg_conns[free_slot].port = pg->port;
    snprintf(pg_conns[free_slot].db, sizeof(pg_conns[free_slot].db), "%s", db);
    if (PQstatus(pg_conns[free_slot].conn) != CONNECTION_OK) {
        fprintf(stderr, "snapshot: cannot connect to %s: %s", db,
                PQerrorMessage(pg_conns[free_slot].conn));
        PQfinish(pg_conns[free_slot].conn);
        pg_conns[free_slot].conn = NULL;
        return NULL;
    }
    return pg_conns[free_slot].conn;
}

/* Runs sql; the result when it returned rows, else NULL (reason on stderr). */
static PGresult *pg_rows(struct ms_test_pg *pg, const char *db, const char *sql)
{
    PGconn *c = pg_conn(pg, db);
    PGresult *r;

    if (!c)
        return NULL;
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "snapshot: %s: %s: %s", db, sql, PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

char *ms_test_sql_value(struct ms_test_pg *pg, const char *db, const char *sql)
{
    PGresult *r = pg_rows(pg, db, sql);
    char *v = NULL;

    if (r && PQntuples(r) > 0 && PQnfields(r) > 0)
        v = strdup(PQgetvalue(r, 0, 0));
    else if (r)
        fprintf(stderr, "snapshot: %s: %s: no row\n", db, sql);
    PQclear(r);
    return v;
}

/* One SELECT giving "name rows md5" for every table, so a digest is two round trips. */
static char *digest_sql(PGresult *tables)
{
    struct text t = {0};

    for (int i = 0; i < PQntuples(tables); i++) {
        const char *name = PQgetvalue(tables, i, 0);
        char part[512];
        /* table names come from the catalog and are plain identifiers: quoting suffices */
        snprintf(part, sizeof(part),
                 "%sSELECT '%s' || ' ' || count(*) || ' ' || md5(coalesce(string_agg(t::text, "
                 "E'\\n' ORDER BY t::text), '')) FROM \"%s\" t",
                 i ? " UNION ALL " : "", name, name);
        text_str(&t, part);
    }
    return text_done(&t);
}

char *ms_test_pg_digest(struct ms_test_pg *pg, const char *db)
{
    PGresult *tables = pg_rows(pg, db,
                               "SELECT table_name FROM information_schema.tables WHERE "
                               "table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1");
    PGresult *rows = NULL;
    struct text t = {0};
    char *sql;

    if (!tables)
        return NULL;
    if (PQntuples(tables) == 0) {
        PQclear(tables);
        return strdup("");
    }
    sql = digest_sql(tables);
    PQclear(tables);
    rows = sql ? pg_rows(pg, db, sql) : NULL;
    free(sql);
    if (!rows)
        return NULL;
    for (int i = 0; i < PQntuples(rows); i++) {
        text_str(&t, PQgetvalue(rows, i, 0));
        text_str(&t, "\n");
    }
    PQclear(rows);
    return text_done(&t);
}

/* ---- Redis ---- */

static redisContext *redis_ctx(struct ms_test_redis *redis)
{
    struct timeval tv = {5, 0};

    if (redis_conn && (redis_conn->err || redis_port != redis->port)) {
        redisFree(redis_conn);
        redis_conn = NULL;
    }
    if (!redis_conn) {
        redis_conn = redisConnectWithTimeout("127.0.0.1", redis->port, tv);
        redis_port = redis->port;
        if (!redis_conn || redis_conn->err) {
            fprintf(stderr, "snapshot: cannot connect to Redis on %d\n", redis->port);
            redisFree(redis_conn);
            redis_conn = NULL;
        }
    }
    return redis_conn;
}

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

/* Folds every string in a reply (nested arrays included) into h. */
static uint64_t fold(uint64_t h, const redisReply *r)
{
    char num[32];
    int n;

    switch (r->type) {
    case REDIS_REPLY_ARRAY:
        for (size_t i = 0; i < r->elements; i++)
            h = fold(h, r->element[i]);
        return fnv(h, "]", 1);
    case REDIS_REPLY_INTEGER:
        n = snprintf(num, sizeof(num), "%lld;", r->integer);
        return fnv(h, num, (size_t)n);
    default:
        return fnv(fnv(h, r->str ? r->str : "", r->str ? r->len : 0), ";", 1);
    }
}

/* The command that reads a key's whole value, by type. Hashes and sets come back in Redis's own
 * order, which for the same content is the same order. */
static uint64_t fingerprint(redisContext *c, const char *key, const char *type)
{
    static const struct {
        const char *type, *cmd;
    } readers[] = {
        {"string", "GET %s"},
        {"hash", "HGETALL %s"},
        {"list", "LRANGE %s 0 -1"},
        {"set", "SMEMBERS %s"},
        {"zset", "ZRANGE %s 0 -1 WITHSCORES"},
        {"stream", "XREVRANGE %s + - COUNT 1"},
    };
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < sizeof(readers) / sizeof(readers[0]); i++) {
        redisReply *r;
        if (strcmp(type, readers[i].type) != 0)
            continue;
        r = redisCommand(c, readers[i].cmd, key);
        if (r)
            h = fold(h, r);
        freeReplyObject(r);
        if (strcmp(type, "stream") == 0) {
            r = redisCommand(c, "XLEN %s", key);
            if (r)
                h = fold(h, r);
            freeReplyObject(r);
        }
    }
    return h;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every key but those starting with skip_prefix, sorted; *n set; NULL on error. */
static char **all_keys(redisContext *c, const char *skip_prefix, size_t *n)
{
    redisReply *r = redisCommand(c, "KEYS *");
    size_t skip = skip_prefix ? strlen(skip_prefix) : 0;
    char **keys;

    *n = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return NULL;
    }
    keys = calloc(r->elements + 1, sizeof(*keys));
    for (size_t i = 0; keys && i < r->elements; i++)
        if (!skip || strncmp(r->element[i]->str, skip_prefix, skip) != 0)
            keys[(*n)++] = strdup(r->element[i]->str);
    freeReplyObject(r);
    if (keys)
        qsort(keys, *n, sizeof(*keys), by_string);
    return keys;
}

char *ms_test_redis_digest(struct ms_test_redis *redis, const char *skip_prefix)
{
    redisContext *c = redis_ctx(redis);
    struct text t = {0};
    char **keys;
    size_t n;

    if (!c)
        return NULL;
    keys = all_keys(c, skip_prefix, &n);
    if (!keys)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        redisReply *type = keys[i] ? redisCommand(c, "TYPE %s", keys[i]) : NULL;
        char line[64];
        if (type && type->type == REDIS_REPLY_STATUS) {
            snprintf(line, sizeof(line), " %s %016llx\n", type->str,
                     (unsigned long long)fingerprint(c, keys[i], type->str));
            text_str(&t, keys[i]);
            text_str(&t, line);
        } else {
            t.failed = true;
        }
        freeReplyObject(type);
        free(keys[i]);
    }
    free(keys);
    return text_done(&t);
}

const char *ms_test_digest_diff(const char *before, const char *after)
{
    static char out[512];
    const char *a = before ? before : "", *b = after ? after : "";

    while (*a && *b) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || memcmp(a, b, la) != 0) {
            snprintf(out, sizeof(out), "before: %.*s / after: %.*s", (int)la, a, (int)lb, b);
            return out;
        }
        a += la + (a[la] == '\n');
        b += lb + (b[lb] == '\n');
    }
    snprintf(out, sizeof(out), "before: %.200s / after: %.200s", *a ? a : "(end)",
             *b ? b : "(end)");
    return out;
}

void ms_test_snapshot_close(void)
{
    for (size_t i = 0; i < MAX_CONNS; i++) {
        PQfinish(pg_conns[i].conn);
        pg_conns[i].conn = NULL;
    }
    redisFree(redis_conn);
    redis_conn = NULL;
}
