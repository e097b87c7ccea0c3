/* Redis: a small bounded pool of hiredis contexts with connect and command timeouts,
 * reconnecting after failures, safe to use from the worker threads. */
#ifndef MS_REDIS_H
#define MS_REDIS_H

#include <hiredis/hiredis.h>
#include <stddef.h>

struct ms_redis_pool;
struct ms_redis_conn; /* a checked-out context */

struct ms_redis_config {
    const char *url;        /* redis://host:port[/db]; copied */
    const char *name;       /* pool name for metrics labels */
    int size;               /* contexts; default 4 */
    int connect_timeout_ms; /* default 200 */
    int command_timeout_ms; /* default 200 */
    int acquire_timeout_ms; /* default 200 */
};

/* Parses redis://host:port[/db] (also a bare host:port). Writes host into host_buf (cap bytes).
 * 0 or MS_EINVAL. */
int ms_redis_url_parse(const char *url, char *host_buf, size_t cap, int *port, int *db);

/* Creates the pool; contexts connect in the background (one at once, more on demand), so
 * this succeeds while Redis is down.
 * NULL on allocation failure or an unparsable URL. */
struct ms_redis_pool *ms_redis_pool_new(const struct ms_redis_config *cfg);
void ms_redis_pool_free(struct ms_redis_pool *pool);

/* Checks out a connected context, waiting up to acquire_timeout_ms for one to be free or to be
 * (re)connected in the background (ms/pool.h). MS_EUNAVAIL when none came in time, or at once
 * when Redis cannot be reached (the last connects failed and no context is open). */
int ms_redis_acquire(struct ms_redis_pool *pool, struct ms_redis_conn **out);
void ms_redis_release(struct ms_redis_pool *pool, struct ms_redis_conn *conn);

/* Runs one command on a checked-out context, argv style (binary safe). On success *out is the
 * reply (freeReplyObject it; a REDIS_REPLY_ERROR reply is returned as success, for the caller
 * to judge). A NULL reply from hiredis means the context is dead: it is dropped (reconnected in
 * the background) and MS_EUNAVAIL (or MS_ETIMEDOUT on a timeout) returned. */
int ms_redis_cmd(struct ms_redis_conn *conn, redisReply **out, int argc, const char **argv,
                 const size_t *argvlen);

/* Pipelining for multi-command work (MULTI/EXEC): append several, then read each reply. */
int ms_redis_append(struct ms_redis_conn *conn, int argc, const char **argv, const size_t *argvlen);
int ms_redis_read(struct ms_redis_conn *conn, redisReply **out);

/* Acquire, one command, release: the common case. Same results as ms_redis_cmd. */
int ms_redis_call(struct ms_redis_pool *pool, redisReply **out, int argc, const char **argv,
                  const size_t *argvlen);

/* Acquire, send one command whose reply nobody waits for (CLIENT REPLY SKIP before it), release:
 * for writes whose outcome does not matter to the caller, such as a cache fill, which must not
 * cost a round trip when Redis is slow to answer. 0 once the command is written to the socket
 * (Redis may still refuse it, unseen), or the acquire's or the transport's error. */
int ms_redis_send_noreply(struct ms_redis_pool *pool, int argc, const char **argv,
                          const size_t *argvlen);

/* Readiness: PING. 0 or MS_EUNAVAIL. */
int ms_redis_ping(struct ms_redis_pool *pool);

/* The same as a readiness check (ms_check_fn): pool is the struct ms_redis_pool. */
int ms_redis_check(void *pool);

#endif
