/* Product validation and serialisation. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms/err.h"
#include "ms/json.h"

/* "3,1,2" into the array literal "{3,1,2}"; every id a positive int, no empty entries.
 * 0 or MS_EINVAL. */
static int ids_to_array(const char *text, char *out, size_t cap)
{
    size_t len = 1, n = 0;
    char id_text[16];
    long long id;

    out[0] = '{';
    for (const char *p = text;; p++) {
        size_t span = strcspn(p, ",");
        if (span == 0 || span >= sizeof(id_text) || ++n > PRODUCT_IDS_MAX)
            return MS_EINVAL;
        memcpy(id_text, p, span);
        id_text[span] = '\0';
        if (ms_parse_ll(id_text, 1, INT32_MAX, &id))
            return MS_EINVAL;
        len += (size_t)snprintf(out + len, cap - len, "%s%lld", n > 1 ? "," : "", id);
        p += span;
        if (*p == '\0')
            break;
    }
    if (len + 2 > cap)
        return MS_EINVAL;
    memcpy(out + len, "}", 2);
    return 0;
}

int product_query_or_400(struct ms_req *req, struct ms_res *res, struct product_query *q)
{
    const char *ids = ms_req_query(req, "ids");
    const char *category = ms_req_query(req, "category");

    /* a misspelt filter would otherwise list everything, and a repeated one is ambiguous */
    if (ms_req_query_only_or_400(req, res, "ids,category,limit,offset") ||
        ms_req_query_ll_or_400(req, res, "limit", PRODUCT_LIMIT_DEFAULT, 1, INT32_MAX, &q->limit) ||
        ms_req_query_ll_or_400(req, res, "offset", 0, 0, PRODUCT_OFFSET_MAX, &q->offset))
        return -1;
    if (q->limit > PRODUCT_LIMIT_MAX)
        q->limit = PRODUCT_LIMIT_MAX;
    if (category && strlen(category) > PRODUCT_CATEGORY_MAX) {
        ms_res_error(res, MS_EINVAL, "category must be at most %d characters",
                     PRODUCT_CATEGORY_MAX);
        return -1;
    }
    q->category = (category && *category) ? category : NULL;
    q->by_ids = ids != NULL;
    if (ids && ids_to_array(ids, q->ids, sizeof(q->ids))) {
        ms_res_error(res, MS_EINVAL, "ids must be 1 to %d comma-separated product ids",
                     PRODUCT_IDS_MAX);
        return -1;
    }
    return 0;
}

json_t *product_from_row(const PGresult *res, int row, int col, bool sale_badge)
{
    json_t *p = json_pack(
        "{s:I,s:s,s:s,s:I,s:s,s:s,s:s}", "id", (json_int_t)atoll(PQgetvalue(res, row, col)), "name",
        PQgetvalue(res, row, col + 1), "description", PQgetvalue(res, row, col + 2), "price_cents",
        (json_int_t)atoll(PQgetvalue(res, row, col + 3)), "currency", PQgetvalue(res, row, col + 4),
        "category", PQgetvalue(res, row, col + 5), "image_url", PQgetvalue(res, row, col + 6));

    if (p && sale_badge)
        json_object_set_new(p, "badge", json_string("SALE"));
    return p;
}
