/* The product's wire form: query validation and row-to-JSON. */
#ifndef PRODUCT_MODEL_H
#define PRODUCT_MODEL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "ms/req.h"
#include "ms/res.h"
#include "product.h"

enum {
    PRODUCT_LIMIT_DEFAULT = 20,
    PRODUCT_LIMIT_MAX = 100,
    PRODUCT_OFFSET_MAX = 1000000,
    PRODUCT_CATEGORY_MAX = 64,
    PRODUCT_IDS_MAX = 100,
};

/* The columns every product query selects, in the order product_from_row reads them. */
#define PRODUCT_COLUMNS "id, name, description, price_cents, currency, category, image_url"
enum { PRODUCT_NCOLUMNS = 7 };

/* Reads category, ids, limit and offset from the query string: limit defaults to 20 and is
 * capped at 100; ids is a comma-separated list of up to 100 product ids (for clients that need
 * several products in one call). Non-numbers, limit < 1, negative offsets, over-long categories
 * and malformed id lists answer 400. */
int product_query_or_400(struct ms_req *req, struct ms_res *res, struct product_query *q);

/* The product in row `row`, its columns starting at `col`; with "badge":"SALE" when
 * sale_badge. A new reference, NULL on allocation failure. */
json_t *product_from_row(const PGresult *res, int row, int col, bool sale_badge);

#endif
