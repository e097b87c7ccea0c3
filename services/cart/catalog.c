/* The product service as the cart sees it: whether a product exists, and the names and prices
 * of a whole cart in one call. Every call goes through the resilient client (timeouts,
 * retries, the breaker), so a slow or dead product service costs at most its timeout budget. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cart.h"
#include "ms/err.h"

/* "/products?ids=" + 50 ids of up to 10 digits and their commas + "&limit=50". */
enum { PATH_MAX_LEN = 640 };

int catalog_product_check(struct cart_svc *svc, long long product_id)
{
    char path[48];
    struct ms_http_response r;
    int rc;

    snprintf(path, sizeof(path), "/products/%lld", product_id);
    rc = ms_http_request(svc->product, "GET", path, NULL, 0, NULL, true, &r);
    if (rc == 0 && r.status != 200)
        /* anything but a clear "no such product" means we could not verify it */
        rc = r.status == 404 ? MS_ENOTFOUND : MS_EUNAVAIL;
    else if (rc == MS_ETOOBIG) /* an answer over 1 MiB is no product: the upstream is broken */
        rc = MS_EUNAVAIL;
    ms_http_response_free(&r);
    return rc;
}

static int by_product_id(const void *key, const void *line)
{
    long long x = *(const long long *)key;
    long long y = ((const struct cart_line *)line)->product_id;

    return (x > y) - (x < y);
}

/* Gives each line its name and price from the answer's items. 0, or MS_EINTERNAL for an answer of
 * another shape (the cart then degrades rather than show made-up data). Names borrow from doc. */
static int apply_items(struct cart *cart, const json_t *doc)
{
    json_t *items = json_object_get(doc, "items"), *item;
    size_t i;

    if (!json_is_array(items))
        return MS_EINTERNAL;
    json_array_foreach(items, i, item)
    {
        json_int_t id, price;
        const char *name;
        struct cart_line *line;

        /* prices within 32 bits keep the cart's total far from overflowing */
        if (json_unpack(item, "{s:I,s:s,s:I}", "id", &id, "name", &name, "price_cents", &price) ||
            price < 0 || price > INT32_MAX)
            return MS_EINTERNAL;
        line =
            bsearch(&(long long){id}, cart->lines, cart->n, sizeof(cart->lines[0]), by_product_id);
        if (line) {
            line->name = name;
            line->price_cents = price;
        }
    }
    return 0;
}

/* The path asking for every product of the cart at once. */
static void ids_path(const struct cart *cart, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "/products?ids=");

    for (size_t i = 0; i < cart->n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? "," : "",
                                cart->lines[i].product_id);
    if (len < cap)
        snprintf(buf + len, cap - len, "&limit=%zu", cart->n);
}

void catalog_enrich(struct cart_svc *svc, struct cart *cart)
{
    char path[PATH_MAX_LEN];
    struct ms_http_response r;
    int rc;

    if (cart->n == 0)
        return; /* nothing to name: an empty cart never needs the product service */
    ids_path(cart, path, sizeof(path));
    rc = ms_http_request(svc->product, "GET", path, NULL, 0, NULL, true, &r);
    if (rc == 0 && r.status == 200) {
        /* kept until cart_release: the lines' names point into it */
        cart->catalog = json_loadb(r.body, r.body_len, 0, NULL);
        rc = apply_items(cart, cart->catalog);
    }
    cart->degraded = rc != 0 || r.status != 200;
    ms_http_response_free(&r);
}
