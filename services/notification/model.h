/* The notification's wire forms: the query, the order.confirmed event, and row-to-JSON. */
#ifndef NOTIFICATION_MODEL_H
#define NOTIFICATION_MODEL_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "ms/json.h"
#include "ms/req.h"
#include "ms/res.h"
#include "notification.h"

/* The columns every list query selects, in the order notification_from_row reads them;
 * created_at as RFC 3339 in UTC. */
#define NOTIFY_COLUMNS                                                                             \
    "order_id, user_id, email, channel, status, "                                                  \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* Is s an order id: 1 to 64 characters of A-Z a-z 0-9 and '-'? */
bool notify_order_id_ok(const char *s);

/* Reads GET /notifications' query: exactly one of order_id (an order id) or user_id (1 to
 * 2147483647), no other or repeated parameter. Anything else answers 400 and returns nonzero. */
int notify_query_or_400(struct ms_req *req, struct ms_res *res, struct notify_query *q);

/* Validates a stream entry's fields (the flat field/value array of XREADGROUP, or nil for an
 * entry deleted since delivery) as an order.confirmed event: type, order_id, user_id, email,
 * total_cents and created_at (RFC 3339), each exactly once; other fields are ignored so the
 * producer can add some. 0 with ev borrowing from fields, or MS_EINVAL with the reason in e
 * (which never quotes the values). */
int order_event_parse(const redisReply *fields, struct order_event *ev, struct ms_verr *e);

/* The notification in row `row` (NOTIFY_COLUMNS). A new reference, NULL on allocation
 * failure. */
json_t *notification_from_row(const PGresult *res, int row);

#endif
