/* Notifications in PostgreSQL: recording one per order (idempotently) and listing them. */
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "ms/err.h"
#include "notification.h"

/* The unique order_id turns a redelivered or republished event into a no-op. */
static const char sql_record[] =
    "INSERT INTO notifications (order_id, user_id, email, channel, status) "
    "VALUES ($1, $2, $3, 'email', 'sent') ON CONFLICT (order_id) DO NOTHING";

/* The same for an order that waits for stock; its unique order_id does the same. */
static const char sql_record_backorder[] =
    "INSERT INTO backorder_notices (order_id, user_id, email) VALUES ($1, $2, $3) "
    "ON CONFLICT (order_id) DO NOTHING";

/* Exactly one of $1 (order) and $2 (user) is set; 100 is the page size the API promises.
 * Backorder notices show as status "backordered". */
static const char sql_list[] =
    "SELECT " NOTIFY_COLUMNS " FROM ("
    "SELECT order_id, user_id, email, channel, status, created_at, id FROM notifications "
    "UNION ALL SELECT order_id, user_id, email, 'email', 'backordered', created_at, id "
    "FROM backorder_notices) n "
    "WHERE ($1::text IS NULL OR order_id = $1) AND ($2::bigint IS NULL OR user_id = $2) "
    "ORDER BY created_at DESC, id DESC LIMIT 100";

void notification_svc_init(struct notification_svc *svc, const struct notify_stream *stream)
{
    static const char *const names[NOTIFY_RESULT_COUNT] = {"sent", "duplicate", "invalid", "error"};
    struct ms_family *results = ms_counter_family(
        "notifications_total", "Order events handled, by result (sent, duplicate, invalid, error).",
        "result");
    struct ms_family *pending =
        ms_gauge_family("notification_stream_pending",
                        "Stream entries delivered to the group and not yet acknowledged.", NULL);

    svc->stream = *stream;
    for (int i = 0; i < NOTIFY_RESULT_COUNT; i++)
        svc->results[i] = ms_series_get(results, (const char *const[]){names[i]});
    svc->pending = ms_series_only(pending);
}

static int query(struct notification_svc *svc, const char *sql, int n, const char *const *params,
                 PGresult **out)
{
    return ms_migrator_query(&svc->migrator, sql, n, params, out);
}

int notification_store_record(struct notification_svc *svc, const struct order_event *ev,
                              bool *inserted)
{
    char user_id[24];
    const char *params[] = {ev->order_id, user_id, ev->email};
    PGresult *res = NULL;
    int rc;

    snprintf(user_id, sizeof(user_id), "%lld", ev->user_id);
    rc = query(svc, ev->kind == NOTIFY_BACKORDERED ? sql_record_backorder : sql_record, 3, params,
               &res);
    if (rc == 0)
        *inserted = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    return rc;
}

int notification_store_list(struct notification_svc *svc, const struct notify_query *q,
                            json_t **out)
{
    char user_id[24];
    const char *params[] = {q->order_id, q->order_id ? NULL : user_id};
    json_t *items = NULL;
    PGresult *res = NULL;
    int rc;

    snprintf(user_id, sizeof(user_id), "%lld", q->user_id);
    *out = NULL;
    rc = query(svc, sql_list, 2, params, &res);
    if (rc)
        goto out;
    items = json_array();
    for (int i = 0; items && i < PQntuples(res); i++)
        if (json_array_append_new(items, notification_from_row(res, i)))
            goto out; /* *out stays NULL: MS_ENOMEM */
    *out = json_pack("{s:o}", "items", items);
    items = NULL; /* stolen by "o", even on failure */
out:
    json_decref(items);
    PQclear(res);
    if (rc == 0 && !*out)
        rc = MS_ENOMEM;
    return rc;
}
