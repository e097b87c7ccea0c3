/* The product service's route table and its handlers. */
#include <stdint.h>

#include "model.h"
#include "ms/err.h"
#include "product.h"

/* GET /products?category=&limit=&offset=: a page of the catalog in id order. */
static void list_products(struct ms_req *req, struct ms_res *res)
{
    struct product_query q;
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (product_query_or_400(req, res, &q))
        return;
    rc = product_store_list(req->svc, &q, &text, &len);
    if (rc) {
        ms_res_error(res, rc, "cannot list products: %s", ms_strerror(rc));
        return;
    }
    ms_res_body_new(res, 200, MS_CONTENT_TYPE_JSON, text, len);
}

/* GET /products/{id}: one product. */
static void get_product(struct ms_req *req, struct ms_res *res)
{
    long long id;
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (ms_req_id_or_4xx(req, res, "id", INT32_MAX, &id))
        return;
    rc = product_store_get(req->svc, id, &text, &len);
    if (rc == MS_ENOTFOUND) {
        ms_res_error(res, rc, "product %lld not found", id);
        return;
    }
    if (rc) {
        ms_res_error(res, rc, "cannot read product %lld: %s", id, ms_strerror(rc));
        return;
    }
    ms_res_body_new(res, 200, MS_CONTENT_TYPE_JSON, text, len);
}

const struct ms_route product_routes[] = {
    {"GET", "/products", list_products, 0, 0},
    {"GET", "/products/{id}", get_product, 0, 0},
};
const size_t product_routes_len = sizeof(product_routes) / sizeof(product_routes[0]);
