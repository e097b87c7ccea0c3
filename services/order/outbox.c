/* The outbox publisher: events written with their orders go to the Redis stream, at least once
 * (notification drops duplicates). A batch is claimed in one short statement and published
 * outside any transaction, so no row lock is held across Redis calls. The stream is capped
 * (XADD MAXLEN ~), and should Redis lose its data (FLUSHALL, a restart without persistence),
 * the events published within the outbox's retention go out again: the epoch key, written once
 * per Redis dataset, is how a publisher notices the loss. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms/err.h"
#include "ms/rand.h"
#include "order.h"

enum { OUTBOX_CLAIM_S = 30, FIELDS_MAX = 16 };

/* Claims the next batch of unpublished events whose claim (if any) has expired, oldest first. */
static const char sql_claim[] =
    "WITH c AS (UPDATE outbox SET claimed_until = now() + make_interval(secs => $1::int) "
    "           WHERE id IN (SELECT id FROM outbox WHERE published_at IS NULL "
    "                        AND (claimed_until IS NULL OR claimed_until < now()) "
    "                        ORDER BY id LIMIT $2::int FOR UPDATE SKIP LOCKED) "
    "           RETURNING id, stream, fields::text) "
    "SELECT id, stream, fields FROM c ORDER BY id";

/* Ends a claim ($2: every id claimed): those published ($1) are marked, the rest wait for the
 * next round. */
static const char sql_unclaim[] = "UPDATE outbox SET claimed_until = NULL, "
                                  "published_at = CASE WHEN id = ANY($1::bigint[]) THEN now() END "
                                  "WHERE id = ANY($2::bigint[])";

/* XADD stream MAXLEN ~ cap * field value ... from the event's flat JSON object of strings. */
static int xadd(struct order_svc *svc, const char *stream, const char *fields_text)
{
    json_t *fields = json_loads(fields_text, 0, NULL);
    char cap[24];
    const char *argv[6 + 2 * FIELDS_MAX] = {"XADD", stream, "MAXLEN", "~", cap, "*"};
    const char *key;
    json_t *value;
    redisReply *reply = NULL;
    int argc = 6, rc;

    snprintf(cap, sizeof(cap), "%d", svc->stream_maxlen);
    json_object_foreach(fields, key, value)
    {
        if (argc + 2 > (int)(sizeof(argv) / sizeof(argv[0])) || !json_is_string(value))
            break;
        argv[argc++] = key;
        argv[argc++] = json_string_value(value);
    }
    rc = argc > 6 ? ms_redis_call(svc->redis, &reply, argc, argv, NULL) : MS_EINVAL;
    if (rc == 0 && reply->type == REDIS_REPLY_ERROR)
        rc = MS_EUNAVAIL;
    freeReplyObject(reply);
    json_decref(fields);
    return rc;
}

/* A round's view of one XADD: 0 when the event is done with. */
static int sent(int rc)
{
    return rc == MS_EINVAL ? 0 : rc;
}

/* Appends id to an array literal being built in buf ("{1,2"); closed by the caller. */
static void ids_add(char *buf, size_t cap, size_t *len, const char *id)
{
    *len += (size_t)snprintf(buf + *len, cap - *len, "%s%s", *len > 1 ? "," : "", id);
}

/* Publishes the claimed rows of res in order until one fails, then ends the claim. Returns how
 * many went out, or the error of ending the claim. */
static int publish_claimed(struct order_svc *svc, const PGresult *res)
{
    char done[OUTBOX_BATCH * 24], all[OUTBOX_BATCH * 24];
    const char *params[] = {done, all};
    size_t done_len = 1, all_len = 1;
    PGresult *end = NULL;
    bool failed = false;
    int n = 0, rc;

    strcpy(done, "{");
    strcpy(all, "{");
    for (int i = 0; i < PQntuples(res); i++) {
        ids_add(all, sizeof(all), &all_len, PQgetvalue(res, i, 0));
        /* after a failure, keep the order of events: the rest waits for the next round; an
         * event that can never be an XADD (no field) is passed over, not left to block them */
        failed = failed || sent(xadd(svc, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2))) != 0;
        if (!failed) {
            ids_add(done, sizeof(done), &done_len, PQgetvalue(res, i, 0));
            n++;
        }
    }
    snprintf(done + done_len, sizeof(done) - done_len, "}");
    snprintf(all + all_len, sizeof(all) - all_len, "}");
    rc = ms_migrator_query(&svc->migrator, sql_unclaim, 2, params, &end);
    PQclear(end);
    return rc ? rc : n;
}

/* Has Redis lost its data since this publisher last looked? Reads the epoch key; when it is
 * gone, this publisher writes a new one and, if it is the one that did, marks every event kept
 * in the outbox unpublished, to go out again. 0, or the error that stops this round. */
static int epoch_check(struct order_svc *svc)
{
    char key[160], epoch[40];
    const char *get[] = {"GET", key};
    const char *set[] = {"SET", key, epoch, "NX"};
    redisReply *reply = NULL;
    PGresult *res = NULL;
    bool written;
    int rc;

    snprintf(key, sizeof(key), "%s:epoch", svc->stream);
    rc = ms_redis_call(svc->redis, &reply, 2, get, NULL);
    if (rc == 0 && reply->type == REDIS_REPLY_ERROR)
        rc = MS_EUNAVAIL;
    written = rc == 0 && reply->type == REDIS_REPLY_STRING;
    freeReplyObject(reply);
    if (rc || written)
        return rc;
    ms_uuid4(epoch, sizeof(epoch));
    rc = ms_redis_call(svc->redis, &reply, 4, set, NULL);
    written = rc == 0 && reply->type == REDIS_REPLY_STATUS;
    freeReplyObject(reply);
    if (rc || !written)
        return rc; /* another publisher wrote it first: that one publishes again */
    rc = ms_migrator_query(&svc->migrator,
                           "UPDATE outbox SET published_at = NULL WHERE published_at IS NOT NULL",
                           0, NULL, &res);
    if (rc == 0)
        ms_counter_add(svc->republished, atof(PQcmdTuples(res)));
    PQclear(res);
    return rc;
}

int outbox_publish(struct order_svc *svc)
{
    char claim_s[16], batch[16];
    const char *params[] = {claim_s, batch};
    PGresult *res = NULL;
    int rc = epoch_check(svc);

    snprintf(claim_s, sizeof(claim_s), "%d", OUTBOX_CLAIM_S);
    snprintf(batch, sizeof(batch), "%d", OUTBOX_BATCH);
    if (rc == 0)
        rc = ms_migrator_query(&svc->migrator, sql_claim, 2, params, &res);
    if (rc == 0 && PQntuples(res) > 0)
        rc = publish_claimed(svc, res);
    PQclear(res);
    if (rc > 0)
        ms_counter_add(svc->events_published, rc);
    return rc;
}
