/* The cart's wire form: path and body validation, and the cart as JSON. */
#ifndef CART_MODEL_H
#define CART_MODEL_H

#include <jansson.h>

#include "cart.h"
#include "ms/req.h"
#include "ms/res.h"

/* Reads path parameter name as an id from 1 to 2147483647; anything else (letters, signs,
 * spaces, Redis or SQL metacharacters, larger numbers) answers 400 and returns nonzero. */
int cart_id_or_400(struct ms_req *req, struct ms_res *res, const char *name, long long *out);

/* Reads the POST body {"product_id":1..2147483647,"quantity":1..99}; other fields, types or
 * ranges answer 400 naming the field and return nonzero. */
int cart_line_from_json_or_400(struct ms_req *req, struct ms_res *res, struct cart_line *line);

/* Reads {"order_id","items":[{"product_id","quantity"}]} (1..CART_LINES_MAX items) into co;
 * else 400 and nonzero. */
int cart_checkout_from_json_or_400(struct ms_req *req, struct ms_res *res,
                                   struct cart_checkout *co);

/* {"user_id","items":[{"product_id","quantity","name","price_cents"}],"total_cents","degraded"};
 * a degraded cart's items carry product_id and quantity only, and its total is null. A new
 * reference, NULL on allocation failure. */
json_t *cart_to_json(const struct cart *cart);

#endif
