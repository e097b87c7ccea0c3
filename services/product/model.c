/* Product validation and serialisation. */
#include "model.h"

#include <stdlib.h>
#include <string.h>

#include "ms/err.h"

int product_query_or_400(struct ms_req *req, struct ms_res *res, struct product_query *q)
{
    const char *category = ms_req_query(req, "category");

    if (ms_req_query_ll_or_400(req, res, "limit", PRODUCT_LIMIT_DEFAULT, 1, INT32_MAX,
                               &q->limit) ||
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
    return 0;
}

json_t *product_from_row(const PGresult *res, int row, int col, bool sale_badge)
{
    json_t *p = json_pack(
        "{s:I,s:s,s:s,s:I,s:s,s:s,s:s}", "id", (json_int_t)atoll(PQgetvalue(res, row, col)),
        "name", PQgetvalue(res, row, col + 1), "description", PQgetvalue(res, row, col + 2),
        "price_cents", (json_int_t)atoll(PQgetvalue(res, row, col + 3)), "currency",
        PQgetvalue(res, row, col + 4), "category", PQgetvalue(res, row, col + 5), "image_url",
        PQgetvalue(res, row, col + 6));

    if (p && sale_badge)
        json_object_set_new(p, "badge", json_string("SALE"));
    return p;
}
