/* What a purchase request may say, and the checks on ids and keys. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms/err.h"
#include "order.h"

static int line_from_json(const json_t *item, size_t index, struct order_line *line,
                          struct ms_verr *e)
{
    struct ms_verr inner;

    if (ms_json_object_with_keys(item, "product_id,quantity", &inner) ||
        ms_json_int(item, "product_id", 1, INT32_MAX, &line->product_id, &inner) ||
        ms_json_int(item, "quantity", 1, ORDER_QUANTITY_MAX, &line->quantity, &inner)) {
        snprintf(e->msg, sizeof(e->msg), "items[%zu]: %.150s", index, inner.msg);
        return MS_EINVAL;
    }
    return 0;
}

static int lines_from_json(const json_t *items, struct checkout *co, struct ms_verr *e)
{
    size_t n = json_array_size(items);

    if (!json_is_array(items) || n == 0 || n > ORDER_LINES_MAX) {
        snprintf(e->msg, sizeof(e->msg), "items must be an array of 1 to %d lines",
                 ORDER_LINES_MAX);
        return MS_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (line_from_json(json_array_get(items, i), i, &co->lines[i], e))
            return MS_EINVAL;
        for (size_t j = 0; j < i; j++) {
            if (co->lines[j].product_id == co->lines[i].product_id) {
                snprintf(e->msg, sizeof(e->msg), "product %lld appears twice in items",
                         co->lines[i].product_id);
                return MS_EINVAL;
            }
        }
    }
    co->nlines = n;
    return 0;
}

int checkout_from_json(const json_t *body, struct checkout *co, struct ms_verr *e)
{
    const json_t *items;

    memset(co, 0, sizeof(*co));
    if (ms_json_object_with_keys(body, "user_id,items", e) ||
        ms_json_int(body, "user_id", 1, ORDER_USER_ID_MAX, &co->user_id, e))
        return MS_EINVAL;
    items = json_object_get(body, "items");
    co->from_cart = items == NULL || json_is_null(items);
    return co->from_cart ? 0 : lines_from_json(items, co, e);
}

int order_id_valid(const char *id)
{
    static const char hex[] = "0123456789abcdefABCDEF";

    if (!id || strlen(id) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? id[i] != '-' : !strchr(hex, id[i]))
            return 0;
    }
    return 1;
}

int idempotency_key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;

    if (n == 0 || n > ORDER_IDEM_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
            return 0;
    return 1;
}

void request_digest(const json_t *body, char out[17])
{
    /* sorted keys make {"a":1,"b":2} and {"b":2,"a":1} the same request */
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

    for (const char *p = text ? text : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    free(text);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}
