/* Fuzzes the inventory bodies: read as the server reads them (body.h: body_append up to the
 * route's limit, ms_json_parse), then both validators of services/inventory/model.c (compiled
 * in here) on every document that fits their route. stock_level_or_400 (PUT
 * /inventory/{productId}) must accept exactly {"available": 0 to 1000000}; reservation_or_400
 * (POST /inventory/reservations) exactly {"reservation_id","items"}: an id of 1 to 64 of
 * [A-Za-z0-9._:-] and 1 to 50 items {"product_id": 1 to 2147483647, "quantity": 1 to 1000},
 * each product once, which come out sorted by product. Refusals are 400 envelopes; an accepted
 * reservation serialises and its JSON form is accepted again as the same reservation.
 *
 * Input: a request body, e.g. {"available":10} or
 * {"reservation_id":"r-1","items":[{"product_id":2,"quantity":1}]}. */
#include "../../common/src/server.c"
#include "../../services/inventory/model.c"
#include "body.h"
#include "fuzz.h"

/* The body limits of the two routes (services/inventory/routes.c). */
enum { STOCK_BODY_MAX = 1024, RESERVATION_BODY_MAX = 16384 };

static bool int_in(const json_t *v, long long min, long long max)
{
    return json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max;
}

static void check_stock(struct ms_req *req)
{
    struct ms_res res = {.request_id = req->request_id};
    long long available = -1;
    const json_t *v = json_object_get(req->json, "available");
    bool ok = json_is_object(req->json) && json_object_size(req->json) == 1 &&
              int_in(v, 0, INVENTORY_AVAILABLE_MAX);

    if (stock_level_or_400(req, &res, &available) == 0) {
        FUZZ_CHECK(ok && res.status == 0 && available == json_integer_value(v));
    } else {
        FUZZ_CHECK(!ok);
        fuzz_check_envelope(&res, MS_EINVAL);
    }
    ms_res_release(&res);
}

/* The documented rule, with the expected reservation (items in input order) in *want. */
static bool ref_reservation(const json_t *body, struct reservation *want)
{
    const char *id = json_string_value(json_object_get(body, "reservation_id"));
    const json_t *items = json_object_get(body, "items");
    size_t n = json_array_size(items);

    if (!json_is_object(body) || json_object_size(body) != 2 || !id || strlen(id) < 1 ||
        strlen(id) > INVENTORY_RESERVATION_ID_MAX || strspn(id, id_chars) != strlen(id) ||
        !json_is_array(items) || n < 1 || n > INVENTORY_ITEMS_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(items, i);
        const json_t *product = json_object_get(item, "product_id");
        if (!json_is_object(item) || json_object_size(item) != 2 ||
            !int_in(product, 1, INT32_MAX) ||
            !int_in(json_object_get(item, "quantity"), 1, INVENTORY_QUANTITY_MAX))
            return false;
        want->items[i].product_id = json_integer_value(product);
        want->items[i].quantity = json_integer_value(json_object_get(item, "quantity"));
        for (size_t j = 0; j < i; j++)
            if (want->items[j].product_id == want->items[i].product_id)
                return false;
    }
    snprintf(want->id, sizeof(want->id), "%s", id);
    want->nitems = n;
    return true;
}

/* got holds want's items, sorted by product. */
static void check_items(const struct reservation *got, const struct reservation *want)
{
    FUZZ_CHECK(got->nitems == want->nitems && strcmp(got->id, want->id) == 0);
    FUZZ_CHECK(got->status == RESERVATION_HELD);
    for (size_t i = 0; i < got->nitems; i++) {
        bool found = false;
        FUZZ_CHECK(i == 0 || got->items[i - 1].product_id < got->items[i].product_id);
        for (size_t j = 0; j < want->nitems; j++)
            found = found || (want->items[j].product_id == got->items[i].product_id &&
                              want->items[j].quantity == got->items[i].quantity);
        FUZZ_CHECK(found);
    }
}

static void check_reservation(struct ms_req *req)
{
    struct ms_res res = {.request_id = req->request_id};
    struct reservation got, want, again;
    struct ms_req back = *req;
    bool ok = ref_reservation(req->json, &want);

    if (reservation_or_400(req, &res, &got) != 0) {
        FUZZ_CHECK(!ok);
        fuzz_check_envelope(&res, MS_EINVAL);
        ms_res_release(&res);
        return;
    }
    FUZZ_CHECK(ok && res.status == 0);
    check_items(&got, &want);
    /* the answer's form, less its status, is the same request again */
    back.json = reservation_to_json(&got);
    FUZZ_CHECK(back.json != NULL && json_object_del(back.json, "status") == 0);
    FUZZ_CHECK(reservation_or_400(&back, &res, &again) == 0);
    check_items(&again, &want);
    json_decref(back.json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ms_verr e;
    struct ms_req req = {.method = "POST", .request_id = "fuzz"};

    req.json = fuzz_read_json_body(data, size, RESERVATION_BODY_MAX, &e);
    if (!req.json)
        return 0;
    if (size <= STOCK_BODY_MAX)
        check_stock(&req);
    check_reservation(&req);
    json_decref(req.json);
    return 0;
}
