/* Fuzzes the body of POST /orders: read as the server reads it (body.h: body_append up to the
 * route's limit, ms_json_parse), then checkout_from_json (services/order/model.c, compiled in
 * here). It must accept exactly {"user_id"} (buy the cart)
 * or {"user_id","items"} with user_id 1 to 2147483647 and, unless items is null, 1 to 50 lines
 * {"product_id": 1 to 2147483647, "quantity": 1 to 99}, each product once, kept in request
 * order. request_digest (the Idempotency-Key's request fingerprint) must be 16 hex digits and
 * the same for the same document whatever the order of its keys.
 *
 * Input: a request body, e.g. {"user_id":1,"items":[{"product_id":2,"quantity":1}]}. */
#include "../../common/src/server.c"
#include "../../services/order/model.c"
#include "body.h"
#include "fuzz.h"

enum { ORDER_BODY_MAX = 16384 }; /* the route's limit (services/order/routes.c) */

static bool int_in(const json_t *v, long long min, long long max)
{
    return json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max;
}

/* The documented rule, with the expected checkout in *want. */
static bool ref_checkout(const json_t *body, struct checkout *want)
{
    const json_t *user = json_object_get(body, "user_id"), *items = json_object_get(body, "items");
    size_t n = json_array_size(items);

    memset(want, 0, sizeof(*want));
    if (!json_is_object(body) || !int_in(user, 1, ORDER_USER_ID_MAX) ||
        json_object_size(body) != 1u + (items != NULL))
        return false;
    want->user_id = json_integer_value(user);
    want->from_cart = !items || json_is_null(items);
    if (want->from_cart)
        return true;
    if (!json_is_array(items) || n < 1 || n > ORDER_LINES_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(items, i),
                     *product = json_object_get(item, "product_id");
        if (!json_is_object(item) || json_object_size(item) != 2 ||
            !int_in(product, 1, INT32_MAX) ||
            !int_in(json_object_get(item, "quantity"), 1, ORDER_QUANTITY_MAX))
            return false;
        want->lines[i].product_id = json_integer_value(product);
        want->lines[i].quantity = json_integer_value(json_object_get(item, "quantity"));
        for (size_t j = 0; j < i; j++)
            if (want->lines[j].product_id == want->lines[i].product_id)
                return false;
    }
    want->nlines = n;
    return true;
}

/* A deep copy of v with every object's keys inserted in reverse order. */
static json_t *reversed(const json_t *v)
{
    json_t *out;

    if (json_is_array(v)) {
        out = json_array();
        for (size_t i = 0; out && i < json_array_size(v); i++)
            FUZZ_CHECK(json_array_append_new(out, reversed(json_array_get(v, i))) == 0);
    } else if (json_is_object(v)) {
        const char *keys[64];
        size_t n = 0;
        const char *key;
        json_t *value;
        out = json_object();
        json_object_foreach((json_t *)v, key, value)
        {
            (void)value;
            if (n < 64)
                keys[n++] = key;
        }
        if (n == 64)
            return json_deep_copy(v); /* too many keys to bother: order kept */
        while (out && n-- > 0)
            FUZZ_CHECK(json_object_set_new(out, keys[n], reversed(json_object_get(v, keys[n]))) ==
                       0);
    } else {
        out = json_deep_copy(v);
    }
    FUZZ_CHECK(out != NULL);
    return out;
}

static void check_digest(const json_t *body)
{
    char a[17], b[17];
    json_t *other = reversed(body);

    request_digest(body, a);
    request_digest(other, b);
    FUZZ_CHECK(strlen(a) == 16 && strspn(a, "0123456789abcdef") == 16);
    FUZZ_CHECK(strcmp(a, b) == 0);
    json_decref(other);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ms_verr e;
    json_t *body = fuzz_read_json_body(data, size, ORDER_BODY_MAX, &e);
    struct checkout co, want;
    bool ok;

    if (!body)
        return 0;
    ok = ref_checkout(body, &want);
    e.msg[0] = '\0';
    if (checkout_from_json(body, &co, &e) == 0) {
        FUZZ_CHECK(ok && co.user_id == want.user_id && co.from_cart == want.from_cart);
        FUZZ_CHECK(co.nlines == want.nlines);
        for (size_t i = 0; i < co.nlines; i++)
            FUZZ_CHECK(co.lines[i].product_id == want.lines[i].product_id &&
                       co.lines[i].quantity == want.lines[i].quantity);
    } else {
        struct ms_res res = {.request_id = "fuzz"};
        FUZZ_CHECK(!ok && e.msg[0] != '\0');
        ms_res_error(&res, MS_EINVAL, "%s", e.msg);
        fuzz_check_envelope(&res, MS_EINVAL);
        ms_res_release(&res);
    }
    check_digest(body);
    json_decref(body);
    return 0;
}
