/* Notification validation and serialisation: the query, the order events, the rows. */
#include "model.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms/email.h"
#include "ms/err.h"

bool notify_order_id_ok(const char *s)
{
    size_t len = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-");

    return len >= 1 && len <= NOTIFY_ORDER_ID_MAX && len == strlen(s);
}

/* ---- the query ---- */

int notify_query_or_400(struct ms_req *req, struct ms_res *res, struct notify_query *q)
{
    const char *order_id, *user_id;

    *q = (struct notify_query){0};
    if (ms_req_query_only_or_400(req, res, "order_id,user_id"))
        return -1;
    order_id = ms_req_query(req, "order_id");
    user_id = ms_req_query(req, "user_id");
    if (!order_id == !user_id) {
        ms_res_error(res, MS_EINVAL, "give exactly one of order_id or user_id");
        return -1;
    }
    if (order_id && !notify_order_id_ok(order_id)) {
        ms_res_error(res, MS_EINVAL, "order_id must be 1 to %d characters of A-Z a-z 0-9 -",
                     NOTIFY_ORDER_ID_MAX);
        return -1;
    }
    if (user_id && ms_parse_ll(user_id, 1, NOTIFY_USER_ID_MAX, &q->user_id)) {
        ms_res_error(res, MS_EINVAL, "user_id must be an integer from 1 to %d", NOTIFY_USER_ID_MAX);
        return -1;
    }
    q->order_id = order_id;
    return 0;
}

/* ---- the event ---- */

enum { EV_TYPE, EV_ORDER_ID, EV_USER_ID, EV_EMAIL, EV_TOTAL, EV_CREATED_AT, EV_NFIELDS };

static const char *const event_fields[EV_NFIELDS] = {
    "type", "order_id", "user_id", "email", "total_cents", "created_at",
};

static int event_field_index(const redisReply *name)
{
    for (int i = 0; i < EV_NFIELDS; i++)
        if (strlen(event_fields[i]) == name->len &&
            memcmp(event_fields[i], name->str, name->len) == 0)
            return i;
    return -1;
}

/* Finds the value of every known field: each a string without NUL bytes, exactly once.
 * values[] keeps its (non-NULL) defaults where nothing was found; seen[] says what was. */
static int event_values(const redisReply *fields, const char *values[EV_NFIELDS], struct ms_verr *e)
{
    bool seen[EV_NFIELDS] = {false};

    if (fields->type != REDIS_REPLY_ARRAY)
        return ms_verr_set(e, MS_EINVAL, "the entry was deleted before it was read");
    if (fields->elements % 2 != 0)
        return ms_verr_set(e, MS_EINVAL, "the entry's fields do not come in name/value pairs");
    for (size_t i = 0; i < fields->elements; i += 2) {
        const redisReply *name = fields->element[i], *value = fields->element[i + 1];
        int f = name->type == REDIS_REPLY_STRING ? event_field_index(name) : -1;

        if (f < 0)
            continue;
        if (seen[f])
            return ms_verr_set(e, MS_EINVAL, "field %s appears twice", event_fields[f]);
        if (value->type != REDIS_REPLY_STRING || strlen(value->str) != value->len)
            return ms_verr_set(e, MS_EINVAL, "field %s is not a plain string", event_fields[f]);
        values[f] = value->str;
        seen[f] = true;
    }
    for (int f = 0; f < EV_NFIELDS; f++)
        if (!seen[f])
            return ms_verr_set(e, MS_EINVAL, "field %s is missing", event_fields[f]);
    return 0;
}

/* Matches s against pattern, where 'd' is a digit and 'T' is T or t; the rest of s, or NULL. */
static const char *match(const char *s, const char *pattern)
{
    for (; *pattern; s++, pattern++) {
        bool ok = *pattern == 'd'   ? isdigit((unsigned char)*s)
                  : *pattern == 'T' ? (*s == 'T' || *s == 't')
                                    : *s == *pattern;
        if (!ok)
            return NULL;
    }
    return s;
}

static int two_digits(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* RFC 3339 (section 5.6): 2024-05-01T12:30:00Z, with an optional fraction and a Z or an
 * offset. Only the shape and the field ranges are checked; the time is not used. */
static bool rfc3339_ok(const char *s)
{
    const char *p = match(s, "dddd-dd-ddTdd:dd:dd");
    int month, day;

    if (!p)
        return false;
    month = two_digits(s + 5);
    day = two_digits(s + 8);
    if (month < 1 || month > 12 || day < 1 || day > 31 || two_digits(s + 11) > 23 ||
        two_digits(s + 14) > 59 || two_digits(s + 17) > 60)
        return false;
    if (*p == '.' && isdigit((unsigned char)p[1]))
        for (p++; isdigit((unsigned char)*p);)
            p++;
    if (*p == 'Z' || *p == 'z')
        return p[1] == '\0';
    p = (*p == '+' || *p == '-') ? match(p + 1, "dd:dd") : NULL;
    return p && *p == '\0' && two_digits(p - 5) <= 23 && two_digits(p - 2) <= 59;
}

/* The order service's event types: a backorder's confirmation is order.filled. */
static int event_kind(const char *type, enum notify_kind *kind)
{
    if (strcmp(type, "order.confirmed") == 0 || strcmp(type, "order.filled") == 0)
        *kind = NOTIFY_CONFIRMED;
    else if (strcmp(type, "order.backordered") == 0)
        *kind = NOTIFY_BACKORDERED;
    else
        return -1;
    return 0;
}

int order_event_parse(const redisReply *fields, struct order_event *ev, struct ms_verr *e)
{
    const char *v[EV_NFIELDS] = {"", "", "", "", "", ""};
    char normal[MS_EMAIL_MAX + 1];
    long long total;

    if (event_values(fields, v, e))
        return MS_EINVAL;
    if (event_kind(v[EV_TYPE], &ev->kind))
        return ms_verr_set(e, MS_EINVAL, "type is not an order event this service knows");
    if (!notify_order_id_ok(v[EV_ORDER_ID]))
        return ms_verr_set(e, MS_EINVAL, "order_id must be 1 to %d characters of A-Z a-z 0-9 -",
                           NOTIFY_ORDER_ID_MAX);
    if (ms_parse_ll(v[EV_USER_ID], 1, NOTIFY_USER_ID_MAX, &ev->user_id))
        return ms_verr_set(e, MS_EINVAL, "user_id must be an integer from 1 to %d",
                           NOTIFY_USER_ID_MAX);
    /* the user service's rule (ms/email.h): an address it accepted is never dropped here */
    if (ms_email_normalise(v[EV_EMAIL], normal, e))
        return MS_EINVAL;
    if (ms_parse_ll(v[EV_TOTAL], 0, INT64_MAX, &total))
        return ms_verr_set(e, MS_EINVAL, "total_cents must be a non-negative integer");
    if (!rfc3339_ok(v[EV_CREATED_AT]))
        return ms_verr_set(e, MS_EINVAL, "created_at must be an RFC 3339 time");
    ev->order_id = v[EV_ORDER_ID];
    ev->email = v[EV_EMAIL];
    return 0;
}

/* ---- rows ---- */

json_t *notification_from_row(const PGresult *res, int row)
{
    return json_pack("{s:s,s:I,s:s,s:s,s:s,s:s}", "order_id", PQgetvalue(res, row, 0), "user_id",
                     (json_int_t)atoll(PQgetvalue(res, row, 1)), "email", PQgetvalue(res, row, 2),
                     "channel", PQgetvalue(res, row, 3), "status", PQgetvalue(res, row, 4),
                     "created_at", PQgetvalue(res, row, 5));
}
