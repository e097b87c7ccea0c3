/* The Redis stream verbs of the consumer: group creation, reads, claims, acks and the pending
 * count, each one command on the consumer's own connection, with every reply's shape checked. */
#include <stdio.h>
#include <string.h>

#include "ms/err.h"
#include "notification.h"

/* Runs argv (NUL-terminated strings). An error reply is a failure too: NOGROUP, after a Redis
 * restart without persistence, is cured by reconnecting, which creates the group again. */
static int command(struct ms_redis_conn *conn, int argc, const char **argv, redisReply **out,
                   struct ms_verr *why)
{
    int rc = ms_redis_cmd(conn, out, argc, argv, NULL);

    if (rc)
        return ms_verr_set(why, rc, "%s: %s", argv[0], ms_strerror(rc));
    if ((*out)->type == REDIS_REPLY_ERROR) {
        ms_verr_set(why, MS_EUNAVAIL, "%s: %.150s", argv[0], (*out)->str);
        freeReplyObject(*out);
        *out = NULL;
        return MS_EUNAVAIL;
    }
    return 0;
}

int stream_group_create(struct ms_redis_conn *conn, const struct notify_stream *s,
                        struct ms_verr *why)
{
    const char *argv[] = {"XGROUP", "CREATE", s->key, s->group, "0", "MKSTREAM"};
    redisReply *reply = NULL;
    int rc = ms_redis_cmd(conn, &reply, 6, argv, NULL);

    if (rc)
        return ms_verr_set(why, rc, "XGROUP CREATE: %s", ms_strerror(rc));
    if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) != 0)
        rc = ms_verr_set(why, MS_EUNAVAIL, "XGROUP CREATE: %.150s", reply->str);
    freeReplyObject(reply);
    return rc;
}

/* [id, [field, value, ...]] or, for an entry deleted since delivery, [id, nil]. */
static bool entry_ok(const redisReply *e)
{
    return e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
           e->element[0]->type == REDIS_REPLY_STRING && e->element[0]->len > 0 &&
           e->element[0]->len < NOTIFY_STREAM_ID_MAX &&
           strlen(e->element[0]->str) == e->element[0]->len &&
           (e->element[1]->type == REDIS_REPLY_ARRAY || e->element[1]->type == REDIS_REPLY_NIL);
}

static bool entries_ok(const redisReply *list)
{
    if (list->type != REDIS_REPLY_ARRAY)
        return false;
    for (size_t i = 0; i < list->elements; i++)
        if (!entry_ok(list->element[i]))
            return false;
    return true;
}

/* XREADGROUP answers nil when nothing came, else [[key, entries]] for the one stream read. */
static const redisReply *read_entries(const redisReply *reply)
{
    const redisReply *stream;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1)
        return NULL;
    stream = reply->element[0];
    if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2 ||
        !entries_ok(stream->element[1]))
        return NULL;
    return stream->element[1];
}

int stream_read(struct ms_redis_conn *conn, const struct notify_stream *s, const char *start,
                int block_ms, redisReply **reply, const redisReply **entries, struct ms_verr *why)
{
    char count[16], block[16];
    const char *argv[11] = {"XREADGROUP", "GROUP", s->group, s->consumer, "COUNT", count};
    int argc = 6, rc;

    snprintf(count, sizeof(count), "%d", NOTIFY_BATCH);
    if (block_ms > 0) {
        snprintf(block, sizeof(block), "%d", block_ms);
        argv[argc++] = "BLOCK";
        argv[argc++] = block;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = s->key;
    argv[argc++] = start;
    *entries = NULL;
    rc = command(conn, argc, argv, reply, why);
    if (rc || (*reply)->type == REDIS_REPLY_NIL)
        return rc;
    *entries = read_entries(*reply);
    return *entries ? 0 : ms_verr_set(why, MS_EINTERNAL, "XREADGROUP: unexpected reply");
}

int stream_claim(struct ms_redis_conn *conn, const struct notify_stream *s,
                 char cursor[NOTIFY_STREAM_ID_MAX], redisReply **reply, const redisReply **entries,
                 struct ms_verr *why)
{
    char idle[16], count[16];
    const char *argv[] = {"XAUTOCLAIM", s->key, s->group, s->consumer,
                          idle,         cursor, "COUNT",  count};
    const redisReply *next;
    int rc;

    snprintf(idle, sizeof(idle), "%d", s->claim_idle_ms);
    snprintf(count, sizeof(count), "%d", NOTIFY_BATCH);
    *entries = NULL;
    rc = command(conn, 8, argv, reply, why);
    if (rc)
        return rc;
    /* [next cursor, entries, deleted ids]: Redis 7 drops deleted entries from the PEL itself */
    if ((*reply)->type != REDIS_REPLY_ARRAY || (*reply)->elements < 2 ||
        !entries_ok((*reply)->element[1]))
        return ms_verr_set(why, MS_EINTERNAL, "XAUTOCLAIM: unexpected reply");
    next = (*reply)->element[0];
    if (next->type != REDIS_REPLY_STRING || next->len >= NOTIFY_STREAM_ID_MAX)
        return ms_verr_set(why, MS_EINTERNAL, "XAUTOCLAIM: unexpected cursor");
    *entries = (*reply)->element[1];
    memcpy(cursor, next->str, next->len + 1);
    return 0;
}

int stream_ack(struct ms_redis_conn *conn, const struct notify_stream *s, const char *id,
               struct ms_verr *why)
{
    const char *argv[] = {"XACK", s->key, s->group, id};
    redisReply *reply = NULL;
    int rc = command(conn, 4, argv, &reply, why);

    freeReplyObject(reply);
    return rc;
}

int stream_pending(struct ms_redis_conn *conn, const struct notify_stream *s, long long *count,
                   struct ms_verr *why)
{
    const char *argv[] = {"XPENDING", s->key, s->group};
    redisReply *reply = NULL;
    int rc = command(conn, 3, argv, &reply, why);

    /* the summary form: [count, smallest id, greatest id, [[consumer, count], ...]] */
    if (rc == 0 && (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
                    reply->element[0]->type != REDIS_REPLY_INTEGER))
        rc = ms_verr_set(why, MS_EINTERNAL, "XPENDING: unexpected reply");
    if (rc == 0)
        *count = reply->element[0]->integer;
    freeReplyObject(reply);
    return rc;
}
