/* Idempotency-Key claims left behind by requests that gave up without knowing whether
 * PostgreSQL has them: a claim whose answer was lost (what was sent into a partition is
 * delivered once it heals, after the request has answered 503), or whose release failed. Left
 * alone, such a claim holds its key "in progress" for IDEMPOTENCY_CLAIM_TTL_S, and every retry
 * of the purchase is told 409 until then. The worker deletes them instead, every tick, for as
 * long as one may still arrive. The delete matches only the claim of the request that gave up
 * (its owner id) and only while no order is linked to it, so it never undoes a retry's claim
 * or an order. Held in memory: a process that dies takes the list with it, and the TTL is
 * then the fallback. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms/clock.h"
#include "order.h"

/* How long past the give-up a late claim is still looked for, in claim TTLs: what a healed
 * partition delivers comes within seconds; the TTL takes over after. */
enum { ORPHAN_LIFE_TTLS = 2 };

/* The lock lives as long as the process: handlers may add to the list until the very end. */
int idem_orphans_init(struct idem_orphans *o)
{
    memset(o, 0, sizeof(*o));
    return pthread_mutex_init(&o->lock, NULL) != 0 ? -1 : 0;
}

void idem_orphan_add(struct order_svc *svc, const char *key, const char *owner)
{
    struct idem_orphans *o = &svc->orphans;
    struct idem_orphan *slot;

    pthread_mutex_lock(&o->lock);
    /* full (a long outage): the oldest goes first, its TTL is nearest */
    if (o->count == IDEM_ORPHANS_MAX)
        memmove(&o->items[0], &o->items[1], (--o->count) * sizeof(o->items[0]));
    slot = &o->items[o->count++];
    snprintf(slot->key, sizeof(slot->key), "%s", key);
    snprintf(slot->owner, sizeof(slot->owner), "%s", owner);
    slot->until_ms = ms_now_ms() + (int64_t)ORPHAN_LIFE_TTLS * svc->idem_claim_ttl_s * 1000;
    pthread_mutex_unlock(&o->lock);
    ms_counter_inc(svc->orphans_left);
}

/* Drops the entries past their life and writes the others as [[key, owner], ...] (a new
 * reference), or NULL when none is left. */
static json_t *orphans_live(struct idem_orphans *o)
{
    int64_t now = ms_now_ms();
    json_t *list = NULL;
    size_t kept = 0;

    pthread_mutex_lock(&o->lock);
    for (size_t i = 0; i < o->count; i++) {
        if (o->items[i].until_ms <= now)
            continue;
        o->items[kept++] = o->items[i];
        if (list == NULL)
            list = json_array();
        json_array_append_new(list, json_pack("[ss]", o->items[i].key, o->items[i].owner));
    }
    o->count = kept;
    pthread_mutex_unlock(&o->lock);
    return list;
}

void idem_orphans_delete(struct order_svc *svc)
{
    json_t *list = orphans_live(&svc->orphans);
    char *text = list ? json_dumps(list, JSON_COMPACT) : NULL;
    const char *params[] = {text};
    PGresult *res = NULL;

    /* one statement for them all, whatever their number; a failure waits for the next tick */
    if (text != NULL &&
        ms_migrator_query(&svc->migrator,
                          "DELETE FROM idempotency_keys i USING jsonb_array_elements($1::jsonb) o "
                          "WHERE i.key = o->>0 AND i.owner = (o->>1)::uuid "
                          "AND i.status = 'in_progress' AND i.order_id IS NULL",
                          1, params, &res) == 0)
        ms_counter_add(svc->orphans_deleted, atof(PQcmdTuples(res)));
    PQclear(res);
    free(text);
    json_decref(list);
}
