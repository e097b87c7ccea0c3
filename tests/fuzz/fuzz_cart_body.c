/* Fuzzes the body of POST /cart/{userId}: read as the server reads it (body.h: body_append up
 * to the route's limit, ms_json_parse), then cart_line_from_json_or_400 (services/cart/model.c,
 * compiled in here). It must accept exactly an object with the integer
 * fields product_id (1 to 2147483647) and quantity (1 to 99) and nothing else, and refuse the
 * rest with a 400 envelope. An accepted line serialises in both cart forms (priced and
 * degraded) with the right total.
 *
 * Input: a request body, e.g. {"product_id":1,"quantity":2}. */
#include "../../common/src/server.c"
#include "../../services/cart/model.c"
#include "body.h"
#include "fuzz.h"

static bool int_in(const json_t *v, long long min, long long max)
{
    return json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max;
}

/* A cart of this one line serialises, priced and degraded. */
static void check_cart_json(const struct cart_line *line)
{
    struct cart cart = {.user_id = 7, .n = 1};
    json_t *doc;

    cart.lines[0] = *line;
    cart.lines[0].name = "A \"quoted\" name\n";
    cart.lines[0].price_cents = 2147483647;
    doc = cart_to_json(&cart);
    FUZZ_CHECK(doc != NULL);
    FUZZ_CHECK(json_integer_value(json_object_get(doc, "total_cents")) ==
               2147483647LL * line->quantity);
    json_decref(doc);
    cart.degraded = true;
    doc = cart_to_json(&cart);
    FUZZ_CHECK(doc != NULL && json_is_null(json_object_get(doc, "total_cents")));
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ms_verr e;
    struct ms_req req = {.method = "POST", .request_id = "fuzz"};
    struct ms_res res = {.request_id = req.request_id};
    struct cart_line line = {0};
    const json_t *id, *quantity;
    bool ok;

    req.json = fuzz_read_json_body(data, size, CART_BODY_MAX, &e);
    if (!req.json)
        return 0;
    id = json_object_get(req.json, "product_id");
    quantity = json_object_get(req.json, "quantity");
    ok = json_is_object(req.json) && json_object_size(req.json) == 2 && int_in(id, 1, INT32_MAX) &&
         int_in(quantity, 1, CART_QUANTITY_MAX);
    if (cart_line_from_json_or_400(&req, &res, &line) == 0) {
        FUZZ_CHECK(ok && res.status == 0);
        FUZZ_CHECK(line.product_id == json_integer_value(id));
        FUZZ_CHECK(line.quantity == json_integer_value(quantity));
        FUZZ_CHECK(line.name == NULL);
        check_cart_json(&line);
    } else {
        FUZZ_CHECK(!ok);
        fuzz_check_envelope(&res, MS_EINVAL);
    }
    ms_res_release(&res);
    json_decref(req.json);
    return 0;
}
