/* Redis: hiredis contexts in a bounded pool (ms/pool.h) with connect and command timeouts,
 * dropped and reconnected after any transport failure; and the redis:// URL parser. */
#include "ms/redis.h"

#include "ms/budget.h"
#include "ms/err.h"
#include "ms/metrics.h"
#include "ms/pool.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

/* The longest pause between the pool's failed connects (ms/pool.h): a dead server is tried
 * four times a second. */
#define CONNECT_BACKOFF_MAX_MS 250
#define HOST_MAX 256

struct ms_redis_conn {
    redisContext *ctx; /* NULL while the slot is closed */
    struct ms_redis_pool *pool;
    size_t slot;
    int pending;        /* appended commands whose replies have not been read */
    bool broken;        /* a transport failure: closed on release */
    int64_t timeout_ms; /* the socket's command timeout now: the pool's, or less (fit_timeout) */
};

struct ms_redis_pool {
    struct ms_pool *slots;
    char host[HOST_MAX];
    int port;
    int db;
    struct timeval connect_tv;
    int command_ms;
    struct ms_series *commands_ok;
    struct ms_series *commands_error;
    size_t size;
    struct ms_redis_conn conns[]; /* conns[i] belongs to whoever holds slot i */
};

/* Reads a decimal number in [min, max] at *p, digits only, and moves *p past it. */
static int parse_number(const char **p, long min, long max, int *out)
{
    long value = 0;
    const char *s = *p;

    if (*s < '0' || *s > '9')
        return MS_EINVAL;
    for (; *s >= '0' && *s <= '9'; s++) {
        value = value * 10 + (*s - '0');
        if (value > max)
            return MS_EINVAL;
    }
    if (value < min)
        return MS_EINVAL;
    *out = (int)value;
    *p = s;
    return 0;
}

/* Finds the host at *p (bracketed for IPv6), checks it fits cap, moves *p past it. */
static int parse_host(const char **p, char *host_buf, size_t cap)
{
    const char *start = *p, *end;

    if (*start == '[') {
        start++;
        end = strchr(start, ']');
        if (end == NULL)
            return MS_EINVAL;
        *p = end + 1;
    } else {
        end = start + strcspn(start, ":/");
        *p = end;
    }
    /* No user info (user:password@), spaces or controls: those are not supported here. */
    for (const char *c = start; c < end; c++)
        if (*c == '@' || *c <= ' ' || *c == 0x7f)
            return MS_EINVAL;
    if (end == start || (size_t)(end - start) >= cap)
        return MS_EINVAL;
    memcpy(host_buf, start, (size_t)(end - start));
    host_buf[end - start] = '\0';
    return 0;
}

int ms_redis_url_parse(const char *url, char *host_buf, size_t cap, int *port, int *db)
{
    const char *p = url;
    int port_value = 6379, db_value = 0;

    if (url == NULL || host_buf == NULL || cap == 0)
        return MS_EINVAL;
    if (strncmp(p, "redis://", 8) == 0)
        p += 8;
    else if (strstr(p, "://") != NULL)
        return MS_EINVAL; /* rediss:// and unix:// are not supported */
    if (parse_host(&p, host_buf, cap) < 0)
        return MS_EINVAL;
    if (*p == ':') {
        p++;
        if (parse_number(&p, 1, 65535, &port_value) < 0)
            goto bad;
    }
    if (*p == '/') {
        p++; /* "redis://host:port/" means database 0 */
        if (*p != '\0' && parse_number(&p, 0, 1000000, &db_value) < 0)
            goto bad;
    }
    if (*p != '\0')
        goto bad;
    *port = port_value;
    *db = db_value;
    return 0;
bad:
    host_buf[0] = '\0';
    return MS_EINVAL;
}

static struct timeval timeval_ms(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};

    return tv;
}

static int select_db(redisContext *ctx, int db)
{
    redisReply *reply = redisCommand(ctx, "SELECT %d", db);
    int rc = reply != NULL && reply->type == REDIS_REPLY_STATUS ? 0 : MS_EUNAVAIL;

    if (reply != NULL)
        freeReplyObject(reply);
    return rc;
}

static int conn_open(void *arg, size_t slot)
{
    struct ms_redis_pool *pool = arg;
    struct ms_redis_conn *conn = &pool->conns[slot];
    redisContext *ctx = redisConnectWithTimeout(pool->host, pool->port, pool->connect_tv);

    if (ctx == NULL)
        return MS_ENOMEM;
    /* hiredis 0.14 has no redisOptions: the command timeout and keepalive are set on each new
     * context, the connect timeout above applies to the connect only. */
    if (ctx->err != 0 || redisSetTimeout(ctx, timeval_ms(pool->command_ms)) != REDIS_OK ||
        redisEnableKeepAlive(ctx) != REDIS_OK)
        goto fail;
    if (pool->db != 0 && select_db(ctx, pool->db) < 0)
        goto fail;
    conn->ctx = ctx;
    conn->pending = 0;
    conn->broken = false;
    conn->timeout_ms = pool->command_ms;
    return 0;
fail:
    redisFree(ctx);
    return MS_EUNAVAIL;
}

/* An idle connection has nothing to read: end of file means the server closed it (restart,
 * kill, idle timeout), and bytes would be a reply nobody is waiting for. */
static bool socket_idle(int fd)
{
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

static bool conn_alive(void *arg, size_t slot)
{
    struct ms_redis_conn *conn = &((struct ms_redis_pool *)arg)->conns[slot];

    return conn->ctx != NULL && !conn->broken && conn->ctx->err == 0 && socket_idle(conn->ctx->fd);
}

static void conn_close(void *arg, size_t slot)
{
    struct ms_redis_conn *conn = &((struct ms_redis_pool *)arg)->conns[slot];

    if (conn->ctx != NULL)
        redisFree(conn->ctx);
    conn->ctx = NULL;
    conn->pending = 0;
    conn->broken = false;
}

static const struct ms_pool_ops redis_ops = {
    .open = conn_open,
    .alive = conn_alive,
    .close = conn_close,
};

static struct ms_series *command_series(const char *name, const char *result)
{
    struct ms_family *family =
        ms_counter_family("redis_commands_total", "Redis commands run, by result.", "pool,result");
    const char *values[] = {name, result};

    return family != NULL ? ms_series_get(family, values) : NULL;
}

/* Copies the configuration (defaults filled in) into a new pool; the slots come later. */
static struct ms_redis_pool *pool_alloc(const struct ms_redis_config *cfg, size_t size)
{
    struct ms_redis_pool *pool = calloc(1, sizeof(*pool) + size * sizeof(pool->conns[0]));

    if (pool == NULL)
        return NULL;
    if (ms_redis_url_parse(cfg->url, pool->host, sizeof(pool->host), &pool->port, &pool->db) < 0) {
        free(pool);
        return NULL;
    }
    pool->size = size;
    pool->connect_tv = timeval_ms(cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 200);
    pool->command_ms = cfg->command_timeout_ms > 0 ? cfg->command_timeout_ms : 200;
    for (size_t i = 0; i < size; i++) {
        pool->conns[i].pool = pool;
        pool->conns[i].slot = i;
    }
    return pool;
}

struct ms_redis_pool *ms_redis_pool_new(const struct ms_redis_config *cfg)
{
    size_t size = cfg->size > 0 ? (size_t)cfg->size : 4;
    const char *name = cfg->name != NULL ? cfg->name : "default";
    struct ms_redis_pool *pool = pool_alloc(cfg, size);
    struct ms_pool_config pool_cfg = {
        .size = size,
        .acquire_timeout_ms = cfg->acquire_timeout_ms > 0 ? cfg->acquire_timeout_ms : 200,
        .backoff_max_ms = CONNECT_BACKOFF_MAX_MS,
        .ops = &redis_ops,
        .ctx = pool,
    };

    if (pool == NULL)
        return NULL;
    pool->commands_ok = command_series(name, "ok");
    pool->commands_error = command_series(name, "error");
    ms_pool_series_init(&pool_cfg.series, name, "redis_pool_connections",
                        "Redis pool connections, by state.", NULL, NULL);
    pool->slots = ms_pool_new(&pool_cfg);
    if (pool->slots == NULL) {
        free(pool);
        return NULL;
    }
    return pool;
}

void ms_redis_pool_free(struct ms_redis_pool *pool)
{
    if (pool == NULL)
        return;
    ms_pool_free(pool->slots);
    free(pool);
}

int ms_redis_acquire(struct ms_redis_pool *pool, struct ms_redis_conn **out)
{
    int slot = ms_pool_acquire(pool->slots);

    *out = NULL;
    if (slot < 0)
        return slot;
    *out = &pool->conns[slot];
    return 0;
}

void ms_redis_release(struct ms_redis_pool *pool, struct ms_redis_conn *conn)
{
    if (conn == NULL)
        return;
    assert(conn->pool == pool);
    /* Unread replies would be handed to the next holder as answers to its own commands. */
    ms_pool_release(pool->slots, conn->slot,
                    conn->broken || conn->pending != 0 || conn->ctx->err != 0);
}

/* hiredis returned no reply: the context is unusable. A read that hit the command timeout
 * fails with EAGAIN; anything else means Redis is gone. errno is read first, before any call
 * can change it. */
static int conn_lost(struct ms_redis_conn *conn)
{
    int saved_errno = errno;
    bool timed_out =
        conn->ctx->err == REDIS_ERR_IO &&
        (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT);

    conn->broken = true;
    ms_counter_inc(conn->pool->commands_error);
    return timed_out ? MS_ETIMEDOUT : MS_EUNAVAIL;
}

static void count_reply(struct ms_redis_conn *conn, const redisReply *reply)
{
    ms_counter_inc(reply->type == REDIS_REPLY_ERROR ? conn->pool->commands_error
                                                    : conn->pool->commands_ok);
}

/* Writes the decimal digits of v at out; returns how many. */
static size_t put_uint(char *out, size_t v)
{
    char digits[24];
    size_t n = 0;

    do {
        digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(out, digits + sizeof(digits) - n, n);
    return n;
}

/* The command in the protocol's form ("*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n") in buf; 0 when it
 * does not fit. By hand because hiredis's formatter (sdscatfmt, a growing sds per argument)
 * cost more per cache read than the rest of the Redis call. */
static size_t format_command(char *buf, size_t cap, int argc, const char **argv,
                             const size_t *argvlen)
{
    size_t len = 0;

    if (cap < 24)
        return 0;
    buf[len++] = '*';
    len += put_uint(buf + len, (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t n = argvlen ? argvlen[i] : strlen(argv[i]);
        if (len + n + 32 > cap)
            return 0;
        buf[len++] = '\r';
        buf[len++] = '\n';
        buf[len++] = '$';
        len += put_uint(buf + len, n);
        buf[len++] = '\r';
        buf[len++] = '\n';
        memcpy(buf + len, argv[i], n);
        len += n;
    }
    buf[len++] = '\r';
    buf[len++] = '\n';
    return len;
}

/* Queues the command in the context's output buffer. It fails on allocation alone, and then the
 * buffer's content is unknown. */
static int append(redisContext *ctx, int argc, const char **argv, const size_t *argvlen)
{
    char buf[1024];
    size_t len = format_command(buf, sizeof(buf), argc, argv, argvlen);

    if (len == 0)
        return redisAppendCommandArgv(ctx, argc, argv, argvlen);
    return redisAppendFormattedCommand(ctx, buf, len);
}

/* Cuts the wait for the next reply to what is left of the request's budget (ms/budget.h); the
 * socket's timeout changes only when that differs from what it is, which is rare: a budget
 * outlasts most commands' timeout. MS_ETIMEDOUT when the budget is spent: nothing is to be sent,
 * or waited for. */
static int fit_timeout(struct ms_redis_conn *conn)
{
    int64_t want = ms_budget_cap(conn->pool->command_ms);

    if (want <= 0)
        return MS_ETIMEDOUT;
    if (want != conn->timeout_ms) {
        if (redisSetTimeout(conn->ctx, timeval_ms((int)want)) != REDIS_OK)
            return conn_lost(conn);
        conn->timeout_ms = want;
    }
    return 0;
}

int ms_redis_cmd(struct ms_redis_conn *conn, redisReply **out, int argc, const char **argv,
                 const size_t *argvlen)
{
    void *reply = NULL;
    int rc;

    *out = NULL;
    if (conn->broken)
        return MS_EUNAVAIL;
    rc = fit_timeout(conn);
    if (rc)
        return rc; /* nothing sent: the connection stays good */
    if (append(conn->ctx, argc, argv, argvlen) != REDIS_OK ||
        redisGetReply(conn->ctx, &reply) != REDIS_OK || reply == NULL)
        return conn_lost(conn);
    count_reply(conn, reply);
    *out = reply;
    return 0;
}

int ms_redis_append(struct ms_redis_conn *conn, int argc, const char **argv, const size_t *argvlen)
{
    if (conn->broken)
        return MS_EUNAVAIL;
    if (append(conn->ctx, argc, argv, argvlen) != REDIS_OK) {
        conn->broken = true;
        return MS_ENOMEM;
    }
    conn->pending++;
    return 0;
}

int ms_redis_read(struct ms_redis_conn *conn, redisReply **out)
{
    void *reply = NULL;
    int rc;

    *out = NULL;
    if (conn->broken)
        return MS_EUNAVAIL;
    if (conn->pending <= 0)
        return MS_EINVAL; /* nothing appended: a read would wait for the timeout */
    rc = fit_timeout(conn);
    if (rc) {
        conn->broken = true; /* the replies left unread would go to the next holder */
        return rc;
    }
    if (redisGetReply(conn->ctx, &reply) != REDIS_OK || reply == NULL)
        return conn_lost(conn);
    conn->pending--;
    count_reply(conn, reply);
    *out = reply;
    return 0;
}

int ms_redis_call(struct ms_redis_pool *pool, redisReply **out, int argc, const char **argv,
                  const size_t *argvlen)
{
    struct ms_redis_conn *conn = NULL;
    int rc;

    *out = NULL;
    rc = ms_redis_acquire(pool, &conn);
    if (rc < 0)
        return rc;
    rc = ms_redis_cmd(conn, out, argc, argv, argvlen);
    ms_redis_release(pool, conn);
    return rc;
}

/* Writes the context's output buffer out, without reading anything: 0, or the transport's
 * failure (the context is then dropped). */
static int flush(struct ms_redis_conn *conn)
{
    int done = 0;

    while (!done)
        if (redisBufferWrite(conn->ctx, &done) != REDIS_OK)
            return conn_lost(conn);
    return 0;
}

int ms_redis_send_noreply(struct ms_redis_pool *pool, int argc, const char **argv,
                          const size_t *argvlen)
{
    static const char *skip[] = {"CLIENT", "REPLY", "SKIP"};
    struct ms_redis_conn *conn = NULL;
    int rc = ms_redis_acquire(pool, &conn);

    if (rc < 0)
        return rc;
    /* Redis answers neither CLIENT REPLY SKIP nor the command after it, so nothing is left
     * unread on the connection for its next holder. */
    if (append(conn->ctx, 3, skip, NULL) != REDIS_OK ||
        append(conn->ctx, argc, argv, argvlen) != REDIS_OK) {
        conn->broken = true; /* the buffer's content is unknown */
        rc = MS_ENOMEM;
    }
    if (rc == 0)
        rc = flush(conn);
    if (rc == 0)
        ms_counter_inc(pool->commands_ok);
    ms_redis_release(pool, conn);
    return rc;
}

int ms_redis_ping(struct ms_redis_pool *pool)
{
    const char *argv[] = {"PING"};
    redisReply *reply = NULL;
    int rc = ms_redis_call(pool, &reply, 1, argv, NULL);

    if (rc == 0 && (reply->type != REDIS_REPLY_STATUS || strcmp(reply->str, "PONG") != 0))
        rc = MS_EUNAVAIL;
    if (reply != NULL)
        freeReplyObject(reply);
    return rc < 0 ? MS_EUNAVAIL : 0;
}

int ms_redis_check(void *pool)
{
    return ms_redis_ping(pool);
}
