/* The cart service over real HTTP, against real Redis and the real product service (with its
 * own PostgreSQL and Redis): the API, hostile input, atomic adds under concurrency, the TTL,
 * metrics, and how it degrades when the product service is slow, down or behind an open
 * breaker, and fails fast while its own Redis is down. */
#include <check.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deps.h"
#include "http.h"
#include "ms/clock.h"
#include "proc.h"
#include "runner.h"

static struct ms_test_pg pg;
static struct ms_test_redis product_redis; /* the product service's cache */
static struct ms_test_redis cart_redis;    /* the shared cart's carts */
static struct ms_test_service product;     /* admin on: shared by the API tests */
static struct ms_test_service cart;        /* defaults, on product: shared by the API tests */
static char db_env[256], product_redis_env[256], cart_redis_env[256];

static void start_service(struct ms_test_service *svc, const char *name, const char *const *env)
{
    int rc = ms_test_service_start(svc, name, env);

    ck_assert_msg(rc == 0, "%s did not start; see %s", name, svc->log_path);
}

/* Stops svc with SIGTERM; returns its exit status (0 after a graceful shutdown). */
static int stop_service(struct ms_test_service *svc)
{
    return ms_test_service_stop(svc, SIGTERM, 5000);
}

static void start_product(struct ms_test_service *svc)
{
    start_service(svc, "product",
                  (const char *const[]){db_env, product_redis_env, "ADMIN_ENABLED=true", NULL});
    ck_assert_int_ge(ms_test_wait_status(svc->port, "/ready", 200, 15000), 0);
}

/* A cart on the given Redis and product instance, with up to four more settings. */
static void start_cart(struct ms_test_service *svc, const char *redis_env, int product_port,
                       const char *const *extra)
{
    char product_env[64];
    const char *env[8] = {redis_env, product_env};
    size_t n = 2;

    snprintf(product_env, sizeof(product_env), "PRODUCT_URL=http://127.0.0.1:%d", product_port);
    for (; extra && *extra && n < 7; extra++)
        env[n++] = *extra;
    start_service(svc, "cart", env);
    ck_assert_int_ge(ms_test_wait_status(svc->port, "/ready", 200, 5000), 0);
}

static void env_url(char *buf, size_t cap, const char *name, char *url)
{
    snprintf(buf, cap, "%s=%s", name, url);
    free(url);
}

static void stack_up(void)
{
    ck_assert_int_eq(ms_test_pg_start(&pg), 0);
    ck_assert_int_eq(ms_test_pg_createdb(&pg, "product"), 0);
    ck_assert_int_eq(ms_test_redis_start(&product_redis), 0);
    ck_assert_int_eq(ms_test_redis_start(&cart_redis), 0);
    env_url(db_env, sizeof(db_env), "DATABASE_URL", ms_test_pg_url(&pg, "product"));
    env_url(product_redis_env, sizeof(product_redis_env), "REDIS_URL",
            ms_test_redis_url(&product_redis));
    env_url(cart_redis_env, sizeof(cart_redis_env), "REDIS_URL", ms_test_redis_url(&cart_redis));
    start_product(&product);
    start_cart(&cart, cart_redis_env, product.port, NULL);
}

static void stack_down(void)
{
    stop_service(&cart);
    stop_service(&product);
    ms_test_services_stop_all(); /* what failed tests left running */
    ms_test_redis_stop(&cart_redis);
    ms_test_redis_stop(&product_redis);
    ms_test_pg_stop(&pg);
}

/* A user id no other test touches (each test runs in its own process). */
static long long fresh_user(void)
{
    static int n;

    return (long long)(getpid() % 20000000) * 100 + n++;
}

/* ---- HTTP ---- */

/* Sends method path (body may be NULL) to port, checks the status and returns the body parsed
 * (NULL when empty); the caller decrefs. *seconds, when not NULL, gets the time it took. */
static json_t *call(int port, const char *method, const char *path, const char *body,
                    long want_status, double *seconds)
{
    char url[512];
    struct ms_test_response r;
    json_t *doc = NULL;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    ck_assert_int_eq(ms_test_http(method, url, body, NULL, 5000, &r), 0);
    ck_assert_msg(r.status == want_status, "%s %s %s: status %ld, want %ld; body %s", method, path,
                  body ? body : "", r.status, want_status, r.body);
    if (r.body_len) {
        doc = ms_test_json(&r);
        ck_assert_msg(doc != NULL, "%s %s: body is not JSON: %s", method, path, r.body);
    }
    if (seconds)
        *seconds = r.seconds;
    ms_test_response_free(&r);
    return doc;
}

static json_t *get_cart(int port, long long user, long want_status)
{
    char path[64];

    snprintf(path, sizeof(path), "/cart/%lld", user);
    return call(port, "GET", path, NULL, want_status, NULL);
}

static json_t *add(int port, long long user, long long product_id, long long quantity,
                   long want_status)
{
    char path[64], body[96];

    snprintf(path, sizeof(path), "/cart/%lld", user);
    snprintf(body, sizeof(body), "{\"product_id\":%lld,\"quantity\":%lld}", product_id, quantity);
    return call(port, "POST", path, body, want_status, NULL);
}

static json_t *remove_line(int port, long long user, long long product_id, long want_status)
{
    char path[64];

    snprintf(path, sizeof(path), "/cart/%lld/%lld", user, product_id);
    return call(port, "DELETE", path, NULL, want_status, NULL);
}

static void clear(int port, long long user)
{
    char path[64];

    snprintf(path, sizeof(path), "/cart/%lld", user);
    ck_assert_ptr_null(call(port, "DELETE", path, NULL, 204, NULL));
}

static void assert_error(json_t *doc, const char *code)
{
    json_t *error = json_object_get(doc, "error");

    ck_assert_ptr_nonnull(error);
    ck_assert_str_eq(json_string_value(json_object_get(error, "code")), code);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(error, "message")));
    json_decref(doc);
}

static json_t *item(json_t *cart_doc, size_t i)
{
    return json_array_get(json_object_get(cart_doc, "items"), i);
}

static json_int_t int_of(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
    return json_integer_value(v);
}

/* Checks line i of a cart: product, quantity and (when name is not NULL) name and price. */
static void assert_line(json_t *doc, size_t i, json_int_t product_id, json_int_t quantity,
                        const char *name, json_int_t price)
{
    json_t *line = item(doc, i);

    ck_assert_ptr_nonnull(line);
    ck_assert_int_eq(int_of(line, "product_id"), product_id);
    ck_assert_int_eq(int_of(line, "quantity"), quantity);
    if (!name)
        return;
    ck_assert_str_eq(json_string_value(json_object_get(line, "name")), name);
    ck_assert_int_eq(int_of(line, "price_cents"), price);
}

static json_int_t price_of(json_int_t product_id)
{
    char path[64];
    json_t *doc;
    json_int_t price;

    snprintf(path, sizeof(path), "/products/%lld", (long long)product_id);
    doc = call(product.port, "GET", path, NULL, 200, NULL);
    price = int_of(doc, "price_cents");
    json_decref(doc);
    return price;
}

/* A metric's value, 0 when the series does not exist yet. */
static double metric(int port, const char *series)
{
    double v = ms_test_metric(port, series);

    return v < 0 ? 0 : v;
}

static double ops(int port, const char *op, const char *result)
{
    char series[128];

    snprintf(series, sizeof(series), "cart_operations_total{op=\"%s\",result=\"%s\"}", op, result);
    return metric(port, series);
}

/* ---- Redis, read directly ---- */

/* Runs one command on the Redis at port; returns its answer as an integer (an integer reply, or
 * a string holding one, as HGET answers). Fails the test on anything else. */
static long long redis_int(int port, const char *fmt, ...)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    redisReply *reply;
    long long v;
    va_list ap;

    ck_assert_msg(c && !c->err, "cannot connect to Redis on %d", port);
    va_start(ap, fmt);
    reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_ptr_nonnull(reply);
    ck_assert_msg(reply->type == REDIS_REPLY_INTEGER || reply->type == REDIS_REPLY_STRING,
                  "%s: reply type %d", fmt, reply->type);
    v = reply->type == REDIS_REPLY_INTEGER ? reply->integer : strtoll(reply->str, NULL, 10);
    freeReplyObject(reply);
    redisFree(c);
    return v;
}

static long long cart_exists(long long user)
{
    return redis_int(cart_redis.port, "EXISTS cart:%lld", user);
}

/* ---- the API ---- */

/* POST /cart/{userId}/checkout with body; want_status checked. */
static void checkout(long long user, const char *body, long want_status)
{
    char path[64];

    snprintf(path, sizeof(path), "/cart/%lld/checkout", user);
    json_decref(call(cart.port, "POST", path, body, want_status, NULL));
}

/* An order takes what it bought out of the cart, once however often it asks, and leaves what it
 * did not buy; a bad request is 400 and changes nothing. */
START_TEST(test_cart_checkout_takes_the_bought_lines_once)
{
    long long user = fresh_user();
    const char *bought = "{\"order_id\":\"o-1\",\"items\":[{\"product_id\":1,\"quantity\":2},"
                         "{\"product_id\":2,\"quantity\":1}]}";
    json_t *doc;

    json_decref(add(cart.port, user, 1, 3, 200));
    json_decref(add(cart.port, user, 2, 1, 200));
    json_decref(add(cart.port, user, 3, 1, 200));
    checkout(user, "{\"order_id\":\"o 1\",\"items\":[{\"product_id\":1,\"quantity\":1}]}", 400);
    checkout(user, "{\"order_id\":\"o-1\",\"items\":[]}", 400);
    checkout(user, "{\"order_id\":\"o-1\",\"items\":[{\"product_id\":1,\"quantity\":0}]}", 400);
    checkout(user, "{\"order_id\":\"o-1\"}", 400);
    checkout(user, bought, 204);
    checkout(user, bought, 204); /* a retry after a lost answer */
    doc = get_cart(cart.port, user, 200);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "items")), 2);
    assert_line(doc, 0, 1, 1, NULL, 0);
    assert_line(doc, 1, 3, 1, NULL, 0);
    json_decref(doc);
}
END_TEST

START_TEST(test_cart_empty_cart_is_200_with_zero_total)
{
    long long user = fresh_user();
    json_t *doc = get_cart(cart.port, user, 200);
    json_t *want = json_pack("{s:I,s:[],s:i,s:b}", "user_id", (json_int_t)user, "items",
                             "total_cents", 0, "degraded", 0);

    ck_assert_msg(json_equal(doc, want), "unexpected empty cart");
    json_decref(want);
    json_decref(doc);
    ck_assert_int_eq(cart_exists(user), 0); /* reading writes nothing */
}
END_TEST

START_TEST(test_cart_journey_add_again_remove_clear)
{
    long long user = fresh_user();
    json_int_t p1 = price_of(1), p3 = price_of(3);
    json_t *doc;

    doc = add(cart.port, user, 3, 1, 200);
    assert_line(doc, 0, 3, 1, "French Press", p3);
    json_decref(doc);
    doc = add(cart.port, user, 1, 2, 200);
    assert_line(doc, 0, 1, 2, "Cast Iron Skillet", p1); /* product id order, not insertion */
    assert_line(doc, 1, 3, 1, NULL, 0);
    ck_assert_int_eq(int_of(doc, "total_cents"), 2 * p1 + p3);
    ck_assert(json_is_false(json_object_get(doc, "degraded")));
    json_decref(doc);
    doc = add(cart.port, user, 1, 3, 200); /* summed */
    assert_line(doc, 0, 1, 5, NULL, 0);
    json_decref(doc);
    doc = add(cart.port, user, 1, 99, 200); /* capped */
    assert_line(doc, 0, 1, 99, NULL, 0);
    ck_assert_int_eq(int_of(doc, "total_cents"), 99 * p1 + p3);
    json_decref(doc);
    ck_assert_int_eq(redis_int(cart_redis.port, "HLEN cart:%lld", user), 2);
    doc = remove_line(cart.port, user, 3, 200);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "items")), 1);
    assert_line(doc, 0, 1, 99, "Cast Iron Skillet", p1);
    ck_assert_int_eq(int_of(doc, "total_cents"), 99 * p1);
    json_decref(doc);
    assert_error(remove_line(cart.port, user, 3, 404), "not_found");
    clear(cart.port, user);
    ck_assert_int_eq(cart_exists(user), 0);
    doc = get_cart(cart.port, user, 200);
    ck_assert_int_eq(json_array_size(json_object_get(doc, "items")), 0);
    json_decref(doc);
    clear(cart.port, user); /* already empty: still 204 */
}
END_TEST

START_TEST(test_cart_get_orders_items_and_totals_them)
{
    long long user = fresh_user();
    static const json_int_t ids[] = {12, 2, 7};
    json_int_t total = 0;
    json_t *doc;

    for (size_t i = 0; i < 3; i++) {
        json_decref(add(cart.port, user, ids[i], (long long)i + 1, 200));
        total += price_of(ids[i]) * (json_int_t)(i + 1);
    }
    doc = get_cart(cart.port, user, 200);
    ck_assert_int_eq(int_of(doc, "user_id"), user);
    assert_line(doc, 0, 2, 2, NULL, 0);
    assert_line(doc, 1, 7, 3, NULL, 0);
    assert_line(doc, 2, 12, 1, NULL, 0);
    ck_assert_int_eq(int_of(doc, "total_cents"), total);
    ck_assert(json_is_false(json_object_get(doc, "degraded")));
    json_decref(doc);
}
END_TEST

START_TEST(test_cart_add_unknown_product_is_404_and_writes_nothing)
{
    long long user = fresh_user();
    double before = ops(cart.port, "add", "not_found");
    json_t *doc = add(cart.port, user, 9999, 1, 404);

    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "error"), "message")),
                     "product 9999 not found");
    assert_error(doc, "not_found");
    ck_assert_int_eq(cart_exists(user), 0);
    ck_assert_double_eq(ops(cart.port, "add", "not_found"), before + 1);
}
END_TEST

START_TEST(test_cart_remove_absent_line_is_404)
{
    long long user = fresh_user();
    double before = ops(cart.port, "remove", "not_found");

    assert_error(remove_line(cart.port, user, 1, 404), "not_found"); /* no cart at all */
    json_decref(add(cart.port, user, 1, 1, 200));
    assert_error(remove_line(cart.port, user, 2, 404), "not_found");
    ck_assert_int_eq(redis_int(cart_redis.port, "HLEN cart:%lld", user), 1);
    ck_assert_double_eq(ops(cart.port, "remove", "not_found"), before + 2);
}
END_TEST

START_TEST(test_cart_stored_product_unknown_to_catalog_has_null_name)
{
    long long user = fresh_user();
    json_t *doc, *line;

    json_decref(add(cart.port, user, 5, 2, 200));
    ck_assert_int_eq(redis_int(cart_redis.port, "HSET cart:%lld 8888 3", user), 1);
    doc = get_cart(cart.port, user, 200);
    line = item(doc, 1);
    ck_assert_int_eq(int_of(line, "product_id"), 8888);
    ck_assert_int_eq(int_of(line, "quantity"), 3);
    ck_assert(json_is_null(json_object_get(line, "name")));
    ck_assert(json_is_null(json_object_get(line, "price_cents")));
    ck_assert_int_eq(int_of(doc, "total_cents"), 2 * price_of(5));
    ck_assert(json_is_false(json_object_get(doc, "degraded")));
    json_decref(doc);
}
END_TEST

/* Fills a cart with n lines of products the catalog does not have (ids 100000 and up). */
static void fill(long long user, int n)
{
    for (int i = 0; i < n; i++)
        redis_int(cart_redis.port, "HSET cart:%lld %d 1", user, 100000 + i);
}

START_TEST(test_cart_51st_product_is_409_but_existing_lines_still_grow)
{
    long long user = fresh_user();
    double before = ops(cart.port, "add", "conflict");
    json_t *doc;

    fill(user, 49);
    json_decref(add(cart.port, user, 1, 1, 200)); /* the 50th */
    assert_error(add(cart.port, user, 2, 1, 409), "conflict");
    ck_assert_int_eq(redis_int(cart_redis.port, "HLEN cart:%lld", user), 50);
    ck_assert_int_eq(redis_int(cart_redis.port, "HEXISTS cart:%lld 2", user), 0);
    ck_assert_double_eq(ops(cart.port, "add", "conflict"), before + 1);
    doc = add(cart.port, user, 1, 4, 200); /* not a new line: allowed */
    ck_assert_int_eq(json_array_size(json_object_get(doc, "items")), 50);
    assert_line(doc, 0, 1, 5, "Cast Iron Skillet", price_of(1));
    json_decref(doc);
}
END_TEST

START_TEST(test_cart_ttl_is_set_and_refreshed_by_every_write)
{
    long long user = fresh_user();
    long long ttl;

    json_decref(add(cart.port, user, 1, 1, 200));
    ttl = redis_int(cart_redis.port, "TTL cart:%lld", user);
    ck_assert_int_gt(ttl, 604800 - 10);
    ck_assert_int_le(ttl, 604800);
    json_decref(add(cart.port, user, 2, 1, 200));
    ck_assert_int_eq(redis_int(cart_redis.port, "EXPIRE cart:%lld 100", user), 1);
    json_decref(add(cart.port, user, 1, 1, 200));
    ck_assert_int_gt(redis_int(cart_redis.port, "TTL cart:%lld", user), 604800 - 10);
    ck_assert_int_eq(redis_int(cart_redis.port, "EXPIRE cart:%lld 100", user), 1);
    json_decref(remove_line(cart.port, user, 2, 200));
    ck_assert_int_gt(redis_int(cart_redis.port, "TTL cart:%lld", user), 604800 - 10);
}
END_TEST

START_TEST(test_cart_ttl_follows_cart_ttl_s)
{
    struct ms_test_service short_lived;
    long long user = fresh_user();
    long long ttl;

    start_cart(&short_lived, cart_redis_env, product.port,
               (const char *const[]){"CART_TTL_S=120", NULL});
    json_decref(add(short_lived.port, user, 1, 1, 200));
    ttl = redis_int(cart_redis.port, "TTL cart:%lld", user);
    ck_assert_int_gt(ttl, 110);
    ck_assert_int_le(ttl, 120);
    ck_assert_int_eq(stop_service(&short_lived), 0);
}
END_TEST

/* ---- concurrency ---- */

struct adder {
    pthread_barrier_t *start;
    long long user;
    long long product_id;
    long status;
};

static void *add_thread(void *arg)
{
    struct adder *a = arg;
    char url[128], body[96];
    struct ms_test_response r;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/cart/%lld", cart.port, a->user);
    snprintf(body, sizeof(body), "{\"product_id\":%lld,\"quantity\":1}", a->product_id);
    pthread_barrier_wait(a->start);
    ms_test_http("POST", url, body, NULL, 10000, &r);
    a->status = r.status;
    ms_test_response_free(&r);
    return NULL;
}

/* Runs n adds of quantity 1 at once, the i-th of product ids[i % nids]. */
static void add_concurrently(long long user, const long long *ids, size_t nids, struct adder *a,
                             size_t n)
{
    pthread_t threads[32];
    pthread_barrier_t start;

    ck_assert_uint_le(n, 32);
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (size_t i = 0; i < n; i++) {
        a[i] = (struct adder){.start = &start, .user = user, .product_id = ids[i % nids]};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, add_thread, &a[i]), 0);
    }
    for (size_t i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
}

START_TEST(test_cart_20_concurrent_adds_count_exactly_20)
{
    long long user = fresh_user();
    static const long long id = 4;
    struct adder a[20];
    json_t *doc;

    add_concurrently(user, &id, 1, a, 20);
    for (size_t i = 0; i < 20; i++)
        ck_assert_int_eq(a[i].status, 200);
    ck_assert_int_eq(redis_int(cart_redis.port, "HGET cart:%lld 4", user), 20);
    doc = get_cart(cart.port, user, 200);
    assert_line(doc, 0, 4, 20, NULL, 0);
    json_decref(doc);
}
END_TEST

START_TEST(test_cart_concurrent_adds_never_pass_50_products)
{
    long long user = fresh_user();
    static const long long ids[] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct adder a[8];
    int ok = 0, conflict = 0;

    fill(user, 49);
    add_concurrently(user, ids, 8, a, 8);
    for (size_t i = 0; i < 8; i++) {
        ok += a[i].status == 200;
        conflict += a[i].status == 409;
    }
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(conflict, 7);
    ck_assert_int_eq(redis_int(cart_redis.port, "HLEN cart:%lld", user), 50);
}
END_TEST

/* ---- hostile input ---- */

START_TEST(test_cart_hostile_user_and_product_ids_are_400_and_change_nothing)
{
    static const char *const bad[] = {
        "abc",
        "0",
        "-1",
        "2147483648",
        "99999999999999999999",
        "1.5",
        "1e3",
        "%2B1",
        "1%20",
        "%201",
        "0x10",
        "%2A",
        "cart%3A1",
        "1%3B%20DEL%20cart",
        "1%0D%0AFLUSHALL",
        "%27%20OR%201%3D1--",
        "%E2%82%AC",
    };
    long long keeper = fresh_user();
    long long keys_before;
    double before = ops(cart.port, "get", "invalid") + ops(cart.port, "add", "invalid") +
                    ops(cart.port, "remove", "invalid") + ops(cart.port, "clear", "invalid");
    char path[128];
    size_t n = sizeof(bad) / sizeof(bad[0]);

    json_decref(add(cart.port, keeper, 1, 1, 200));
    keys_before = redis_int(cart_redis.port, "DBSIZE");
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/cart/%s", bad[i]);
        assert_error(call(cart.port, "GET", path, NULL, 400, NULL), "invalid_argument");
        assert_error(call(cart.port, "POST", path, "{\"product_id\":1,\"quantity\":1}", 400, NULL),
                     "invalid_argument");
        assert_error(call(cart.port, "DELETE", path, NULL, 400, NULL), "invalid_argument");
        snprintf(path, sizeof(path), "/cart/%s/1", bad[i]);
        assert_error(call(cart.port, "DELETE", path, NULL, 400, NULL), "invalid_argument");
        snprintf(path, sizeof(path), "/cart/%lld/%s", keeper, bad[i]);
        assert_error(call(cart.port, "DELETE", path, NULL, 400, NULL), "invalid_argument");
    }
    ck_assert_int_eq(redis_int(cart_redis.port, "DBSIZE"), keys_before);
    ck_assert_int_eq(redis_int(cart_redis.port, "HGET cart:%lld 1", keeper), 1);
    ck_assert_double_eq(ops(cart.port, "get", "invalid") + ops(cart.port, "add", "invalid") +
                            ops(cart.port, "remove", "invalid") +
                            ops(cart.port, "clear", "invalid"),
                        before + 5.0 * (double)n);
}
END_TEST

/* Bodies the handler refuses, field by field. */
static const char *const bad_fields[] = {
    "{}",
    "{\"product_id\":1}",
    "{\"quantity\":1}",
    "{\"product_id\":null,\"quantity\":1}",
    "{\"product_id\":\"1\",\"quantity\":1}",
    "{\"product_id\":1.5,\"quantity\":1}",
    "{\"product_id\":true,\"quantity\":1}",
    "{\"product_id\":[1],\"quantity\":1}",
    "{\"product_id\":{\"$gt\":0},\"quantity\":1}",
    "{\"product_id\":1,\"quantity\":\"2\"}",
    "{\"product_id\":1,\"quantity\":0}",
    "{\"product_id\":1,\"quantity\":-1}",
    "{\"product_id\":1,\"quantity\":100}",
    "{\"product_id\":1,\"quantity\":1000000}",
    "{\"product_id\":1,\"quantity\":9223372036854775807}",
    "{\"product_id\":1,\"quantity\":2.0}",
    "{\"product_id\":0,\"quantity\":1}",
    "{\"product_id\":-1,\"quantity\":1}",
    "{\"product_id\":2147483648,\"quantity\":1}",
    "{\"product_id\":\"1; DROP TABLE products;--\",\"quantity\":1}",
    "{\"product_id\":\"1\\r\\nFLUSHALL\",\"quantity\":1}",
    "{\"product_id\":1,\"quantity\":1,\"price_cents\":0}",
    "{\"product_id\":1,\"quantity\":1,\"user_id\":2}",
    "[1,1]",
    "[]",
};

/* Bodies refused before the handler: not JSON, or numbers JSON cannot hold. */
static const char *const bad_documents[] = {
    "",
    "{",
    "{\"product_id\":1,\"quantity\":1",
    "{product_id:1,quantity:1}",
    "{'product_id':1,'quantity':1}",
    "{\"product_id\":1,\"quantity\":1}{}",
    "{\"product_id\":1,\"product_id\":2,\"quantity\":1}",
    "{\"product_id\":1,\"quantity\":99999999999999999999999}",
    "{\"product_id\":1,\"quantity\":1e400}",
    "{\"product_id\":1,\"quantity\":NaN}",
    "{\"product_id\":1,\"quantity\":1,\"x\":\"\xff\xfe\"}",
    "\"product_id\"",
    "42",
    "null",
};

static void post_all_400(long long user, const char *const *bodies, size_t n)
{
    char path[64];

    snprintf(path, sizeof(path), "/cart/%lld", user);
    for (size_t i = 0; i < n; i++)
        assert_error(call(cart.port, "POST", path, bodies[i], 400, NULL), "invalid_argument");
}

START_TEST(test_cart_hostile_bodies_are_400_and_write_nothing)
{
    long long user = fresh_user();
    size_t nfields = sizeof(bad_fields) / sizeof(bad_fields[0]);
    double before = ops(cart.port, "add", "invalid");
    json_t *doc;

    post_all_400(user, bad_fields, nfields);
    post_all_400(user, bad_documents, sizeof(bad_documents) / sizeof(bad_documents[0]));
    ck_assert_int_eq(cart_exists(user), 0);
    /* the handler counts what it refuses; the dispatcher answers unparsable bodies itself */
    ck_assert_double_eq(ops(cart.port, "add", "invalid"), before + (double)nfields);
    doc = call(product.port, "GET", "/products", NULL, 200, NULL);
    ck_assert_int_eq(int_of(doc, "total"), 27);
    json_decref(doc);
}
END_TEST

START_TEST(test_cart_oversized_body_is_413_and_writes_nothing)
{
    long long user = fresh_user();
    char path[64], body[2048];
    json_t *doc;

    snprintf(path, sizeof(path), "/cart/%lld", user);
    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    memcpy(body, "{\"product_id\":\"", 15);
    memcpy(body + sizeof(body) - 17, "\",\"quantity\":1}", 16);
    doc = call(cart.port, "POST", path, body, 413, NULL);
    assert_error(doc, "payload_too_large");
    ck_assert_int_eq(cart_exists(user), 0);
}
END_TEST

START_TEST(test_cart_over_long_string_field_is_400)
{
    long long user = fresh_user();
    char path[64], body[1000];

    snprintf(path, sizeof(path), "/cart/%lld", user);
    memset(body, 'a', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    memcpy(body, "{\"product_id\":\"", 15);
    memcpy(body + sizeof(body) - 17, "\",\"quantity\":1}", 16);
    assert_error(call(cart.port, "POST", path, body, 400, NULL), "invalid_argument");
    ck_assert_int_eq(cart_exists(user), 0);
}
END_TEST

START_TEST(test_cart_unknown_paths_and_methods)
{
    struct ms_test_response r;
    char url[128];
    char *allow;

    assert_error(call(cart.port, "GET", "/cart", NULL, 404, NULL), "not_found");
    assert_error(call(cart.port, "GET", "/cart/1/2/3", NULL, 404, NULL), "not_found");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/cart/1", cart.port);
    ck_assert_int_eq(ms_test_http("PUT", url, "{}", NULL, 5000, &r), 0);
    ck_assert_int_eq(r.status, 405);
    allow = ms_test_header(&r, "Allow");
    ck_assert_ptr_nonnull(allow);
    ck_assert_ptr_nonnull(strstr(allow, "POST"));
    ck_assert_ptr_nonnull(strstr(allow, "DELETE"));
    free(allow);
    ms_test_response_free(&r);
}
END_TEST

/* ---- metrics, readiness, tracing ---- */

START_TEST(test_cart_metrics_count_operations_by_result)
{
    long long user = fresh_user();
    double get_ok = ops(cart.port, "get", "ok"), add_ok = ops(cart.port, "add", "ok");
    double remove_ok = ops(cart.port, "remove", "ok"), clear_ok = ops(cart.port, "clear", "ok");
    struct ms_test_response r;

    json_decref(add(cart.port, user, 1, 1, 200));
    json_decref(add(cart.port, user, 2, 1, 200));
    json_decref(get_cart(cart.port, user, 200));
    json_decref(remove_line(cart.port, user, 1, 200));
    clear(cart.port, user);
    ck_assert_double_eq(ops(cart.port, "add", "ok"), add_ok + 2);
    ck_assert_double_eq(ops(cart.port, "get", "ok"), get_ok + 1);
    ck_assert_double_eq(ops(cart.port, "remove", "ok"), remove_ok + 1);
    ck_assert_double_eq(ops(cart.port, "clear", "ok"), clear_ok + 1);
    ck_assert_int_eq(ms_test_get(cart.port, "/metrics", &r), 0);
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE cart_operations_total counter"));
    ck_assert_ptr_nonnull(
        strstr(r.body, "cart_operations_total{op=\"clear\",result=\"unavailable\"} "));
    ck_assert_ptr_nonnull(strstr(r.body, "circuit_breaker_state{upstream=\"product\"} 0"));
    ck_assert_ptr_nonnull(
        strstr(r.body, "upstream_requests_total{upstream=\"product\",outcome=\"success\"} "));
    ck_assert_ptr_nonnull(strstr(r.body, "http_requests_total{service=\"cart\",method=\"POST\","
                                         "route=\"/cart/{userId}\",code=\"200\"} "));
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_cart_ready_depends_on_redis_only)
{
    json_t *doc = call(cart.port, "GET", "/ready", NULL, 200, NULL);
    json_t *checks = json_object_get(doc, "checks");

    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(checks, "redis"), "status")),
                     "up");
    ck_assert(json_is_true(json_object_get(json_object_get(checks, "redis"), "critical")));
    ck_assert_int_eq(json_object_size(checks), 1);
    json_decref(doc);
}
END_TEST

START_TEST(test_cart_forwards_request_id_to_the_product_service)
{
    long long user = fresh_user();
    char url[128], header[96], want[96];
    struct ms_test_response r;

    json_decref(add(cart.port, user, 6, 1, 200));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/cart/%lld", cart.port, user);
    snprintf(header, sizeof(header), "x-request-id: cart-trace-%lld", user);
    ck_assert_int_eq(ms_test_http("GET", url, NULL, (const char *const[]){header, NULL}, 5000, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    ms_test_response_free(&r);
    snprintf(want, sizeof(want), "\"request_id\":\"cart-trace-%lld\"", user);
    ck_assert_msg(ms_test_log_has(product.log_path,
                                  (const char *const[]){want, "\"route\":\"/products\"", NULL},
                                  3000),
                  "the product service never saw request id cart-trace-%lld", user);
}
END_TEST

/* ---- the product service slow, down, failing ---- */

static void set_faults(int port, const char *spec)
{
    json_decref(call(port, "PUT", "/admin/faults", spec, 200, NULL));
}

/* Checks that doc is user's degraded cart holding exactly product_id x quantity. */
static void assert_degraded(json_t *doc, json_int_t product_id, json_int_t quantity)
{
    json_t *line = item(doc, 0);

    ck_assert(json_is_true(json_object_get(doc, "degraded")));
    ck_assert(json_is_null(json_object_get(doc, "total_cents")));
    ck_assert_int_eq(json_array_size(json_object_get(doc, "items")), 1);
    ck_assert_int_eq(int_of(line, "product_id"), product_id);
    ck_assert_int_eq(int_of(line, "quantity"), quantity);
    ck_assert_int_eq(json_object_size(line), 2); /* no name, no price */
    json_decref(doc);
}

static json_t *timed_get(int port, long long user, double *seconds)
{
    char path[64];

    snprintf(path, sizeof(path), "/cart/%lld", user);
    return call(port, "GET", path, NULL, 200, seconds);
}

START_TEST(test_cart_slow_product_degrades_within_the_timeout)
{
    struct ms_test_service slow, fast_cart, retrying_cart;
    long long user = fresh_user();
    double seconds, degraded;
    json_t *doc;

    start_product(&slow);
    start_cart(&fast_cart, cart_redis_env, slow.port,
               (const char *const[]){"PRODUCT_TIMEOUT_MS=200", "PRODUCT_RETRIES=0", NULL});
    start_cart(
        &retrying_cart, cart_redis_env, slow.port,
        (const char *const[]){"PRODUCT_TIMEOUT_MS=200", "PRODUCT_BREAKER_FAILURES=100", NULL});
    json_decref(add(fast_cart.port, user, 8, 2, 200));
    set_faults(slow.port, "{\"delay_ms\":1000,\"delay_percent\":100}");
    degraded = ops(fast_cart.port, "get", "degraded");
    assert_degraded(timed_get(fast_cart.port, user, &seconds), 8, 2);
    ck_assert_double_lt(seconds, 0.5);
    ck_assert_double_eq(ops(fast_cart.port, "get", "degraded"), degraded + 1);
    ck_assert_double_ge(
        metric(fast_cart.port, "upstream_requests_total{upstream=\"product\",outcome=\"timeout\"}"),
        1);
    /* with the default 2 retries the budget is 3 x 200 ms plus at most 75 ms of backoff */
    assert_degraded(timed_get(retrying_cart.port, user, &seconds), 8, 2);
    ck_assert_double_lt(seconds, 0.9);
    /* an add cannot verify the product: 503 with Retry-After, nothing written */
    assert_error(add(fast_cart.port, user, 9, 1, 503), "unavailable");
    ck_assert_int_eq(redis_int(cart_redis.port, "HEXISTS cart:%lld 9", user), 0);
    json_decref(call(slow.port, "DELETE", "/admin/faults", NULL, 200, NULL));
    doc = timed_get(fast_cart.port, user, NULL);
    ck_assert(json_is_false(json_object_get(doc, "degraded")));
    json_decref(doc);
    ck_assert_int_eq(stop_service(&retrying_cart), 0);
    ck_assert_int_eq(stop_service(&fast_cart), 0);
    ck_assert_int_eq(stop_service(&slow), 0);
}
END_TEST

START_TEST(test_cart_product_stopped_degrades_reads_and_refuses_adds)
{
    struct ms_test_service doomed, svc;
    long long user = fresh_user();
    double seconds;

    start_product(&doomed);
    start_cart(&svc, cart_redis_env, doomed.port, NULL);
    json_decref(add(svc.port, user, 10, 3, 200));
    json_decref(add(svc.port, user, 11, 1, 200));
    ck_assert_int_eq(stop_service(&doomed), 0);
    json_decref(remove_line(svc.port, user, 11, 200)); /* writes need Redis only */
    assert_degraded(timed_get(svc.port, user, &seconds), 10, 3);
    ck_assert_double_lt(seconds, 0.5);
    assert_error(add(svc.port, user, 10, 1, 503), "unavailable");
    ck_assert_int_eq(redis_int(cart_redis.port, "HGET cart:%lld 10", user), 3);
    ck_assert_double_eq(ops(svc.port, "add", "unavailable"), 1);
    clear(svc.port, user);
    /* the product service is not a readiness dependency */
    ms_sleep_ms(1100);
    json_decref(call(svc.port, "GET", "/ready", NULL, 200, NULL));
    ck_assert_int_eq(stop_service(&svc), 0);
}
END_TEST

static const char *const breaker_state = "circuit_breaker_state{upstream=\"product\"}";
static const char *const product_503s = "http_requests_total{service=\"product\",method=\"GET\","
                                        "route=\"/products\",code=\"503\"}";

START_TEST(test_cart_breaker_opens_after_failures_and_closes_after_recovery)
{
    struct ms_test_service failing, svc;
    long long user = fresh_user();
    double seen, seconds;
    json_t *doc;

    start_product(&failing);
    start_cart(&svc, cart_redis_env, failing.port,
               (const char *const[]){"PRODUCT_RETRIES=0", "PRODUCT_BREAKER_FAILURES=3",
                                     "PRODUCT_BREAKER_OPEN_MS=1500", NULL});
    json_decref(add(svc.port, user, 14, 1, 200));
    set_faults(failing.port, "{\"abort_status\":503,\"abort_percent\":100}");
    for (int i = 0; i < 2; i++)
        assert_degraded(timed_get(svc.port, user, NULL), 14, 1);
    ck_assert_double_eq(metric(svc.port, breaker_state), 0);
    assert_degraded(timed_get(svc.port, user, NULL), 14, 1); /* the third failure opens it */
    ck_assert_double_eq(metric(svc.port, breaker_state), 1);
    seen = metric(failing.port, product_503s);
    ck_assert_double_eq(seen, 3);
    /* while open, no call reaches the product service: fast degraded reads, fast 503 adds */
    for (int i = 0; i < 5; i++) {
        assert_degraded(timed_get(svc.port, user, &seconds), 14, 1);
        ck_assert_double_lt(seconds, 0.1);
    }
    assert_error(add(svc.port, user, 14, 1, 503), "unavailable");
    ck_assert_double_eq(metric(failing.port, product_503s), seen);
    ck_assert_double_ge(
        metric(svc.port, "upstream_requests_total{upstream=\"product\",outcome=\"rejected\"}"), 6);
    /* recovery: after open_ms one trial call goes through and closes it */
    json_decref(call(failing.port, "DELETE", "/admin/faults", NULL, 200, NULL));
    ms_sleep_ms(1600);
    doc = timed_get(svc.port, user, NULL);
    ck_assert(json_is_false(json_object_get(doc, "degraded")));
    json_decref(doc);
    ck_assert_double_eq(metric(svc.port, breaker_state), 0);
    ck_assert_double_eq(
        metric(svc.port, "circuit_breaker_transitions_total{upstream=\"product\",to=\"open\"}"), 1);
    ck_assert_double_eq(
        metric(svc.port, "circuit_breaker_transitions_total{upstream=\"product\",to=\"closed\"}"),
        1);
    ck_assert_int_eq(stop_service(&svc), 0);
    ck_assert_int_eq(stop_service(&failing), 0);
}
END_TEST

/* ---- the cart's own Redis down ---- */

/* Sends method path and checks for a quick 503 with Retry-After and the envelope. */
static void assert_fast_503(int port, const char *method, const char *path, const char *body)
{
    char url[128];
    struct ms_test_response r;
    char *retry;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    ck_assert_int_eq(ms_test_http(method, url, body, NULL, 5000, &r), 0);
    ck_assert_msg(r.status == 503, "%s %s: status %ld", method, path, r.status);
    ck_assert_double_lt(r.seconds, 0.5);
    retry = ms_test_header(&r, "Retry-After");
    ck_assert_ptr_nonnull(retry);
    free(retry);
    assert_error(ms_test_json(&r), "unavailable");
    ms_test_response_free(&r);
}

START_TEST(test_cart_redis_killed_503_fast_then_recovers_by_itself)
{
    struct ms_test_redis own;
    struct ms_test_service svc;
    char env[256], path[64], line[64];
    long long user = fresh_user();
    double unavailable;

    ck_assert_int_eq(ms_test_redis_start(&own), 0);
    env_url(env, sizeof(env), "REDIS_URL", ms_test_redis_url(&own));
    start_cart(&svc, env, product.port, NULL);
    json_decref(add(svc.port, user, 1, 1, 200));
    unavailable = ops(svc.port, "get", "unavailable");
    ck_assert_int_eq(ms_test_redis_crash(&own), 0);
    snprintf(path, sizeof(path), "/cart/%lld", user);
    snprintf(line, sizeof(line), "/cart/%lld/1", user);
    for (int round = 0; round < 2; round++) { /* a second round: still fast, no hang */
        assert_fast_503(svc.port, "GET", path, NULL);
        assert_fast_503(svc.port, "POST", path, "{\"product_id\":1,\"quantity\":1}");
        assert_fast_503(svc.port, "DELETE", line, NULL);
        assert_fast_503(svc.port, "DELETE", path, NULL);
    }
    ck_assert_double_eq(ops(svc.port, "get", "unavailable"), unavailable + 2);
    ck_assert_double_eq(ops(svc.port, "clear", "unavailable"), 2);
    ck_assert_int_ge(ms_test_wait_status(svc.port, "/ready", 503, 3000), 0);
    ck_assert_int_eq(ms_test_redis_restart(&own), 0);
    ck_assert_int_ge(ms_test_wait_status(svc.port, path, 200, 10000), 0);
    ck_assert_int_ge(ms_test_wait_status(svc.port, "/ready", 200, 5000), 0);
    json_decref(add(svc.port, user, 1, 1, 200));
    ck_assert_int_eq(stop_service(&svc), 0);
    ms_test_redis_stop(&own);
}
END_TEST

/* ---- configuration ---- */

START_TEST(test_cart_invalid_config_exits_2_naming_the_variable)
{
    static const char *const bad[] = {"CART_TTL_S=0", "CART_TTL_S=week", "PRODUCT_TIMEOUT_MS=-5",
                                      "PRODUCT_RETRIES=lots"};
    char text[512];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(
            ms_test_config_error("cart", (const char *const[]){bad[i], NULL}, text, sizeof(text)),
            2);
        ck_assert_msg(strncmp(text, bad[i], strcspn(bad[i], "=")) == 0, "%s: %s", bad[i], text);
    }
}
END_TEST

static Suite *cart_suite(void)
{
    Suite *s = suite_create("cart");
    TCase *api = tcase_create("api");
    TCase *ops_case = tcase_create("operations");

    tcase_add_unchecked_fixture(api, stack_up, stack_down);
    tcase_set_timeout(api, 60);
    tcase_add_test(api, test_cart_empty_cart_is_200_with_zero_total);
    tcase_add_test(api, test_cart_checkout_takes_the_bought_lines_once);
    tcase_add_test(api, test_cart_journey_add_again_remove_clear);
    tcase_add_test(api, test_cart_get_orders_items_and_totals_them);
    tcase_add_test(api, test_cart_add_unknown_product_is_404_and_writes_nothing);
    tcase_add_test(api, test_cart_remove_absent_line_is_404);
    tcase_add_test(api, test_cart_stored_product_unknown_to_catalog_has_null_name);
    tcase_add_test(api, test_cart_51st_product_is_409_but_existing_lines_still_grow);
    tcase_add_test(api, test_cart_ttl_is_set_and_refreshed_by_every_write);
    tcase_add_test(api, test_cart_ttl_follows_cart_ttl_s);
    tcase_add_test(api, test_cart_20_concurrent_adds_count_exactly_20);
    tcase_add_test(api, test_cart_concurrent_adds_never_pass_50_products);
    tcase_add_test(api, test_cart_hostile_user_and_product_ids_are_400_and_change_nothing);
    tcase_add_test(api, test_cart_hostile_bodies_are_400_and_write_nothing);
    tcase_add_test(api, test_cart_oversized_body_is_413_and_writes_nothing);
    tcase_add_test(api, test_cart_over_long_string_field_is_400);
    tcase_add_test(api, test_cart_unknown_paths_and_methods);
    tcase_add_test(api, test_cart_metrics_count_operations_by_result);
    tcase_add_test(api, test_cart_ready_depends_on_redis_only);
    tcase_add_test(api, test_cart_forwards_request_id_to_the_product_service);
    tcase_add_test(api, test_cart_slow_product_degrades_within_the_timeout);
    tcase_add_test(api, test_cart_product_stopped_degrades_reads_and_refuses_adds);
    tcase_add_test(api, test_cart_breaker_opens_after_failures_and_closes_after_recovery);
    tcase_add_test(api, test_cart_redis_killed_503_fast_then_recovers_by_itself);
    tcase_set_timeout(ops_case, 30);
    tcase_add_test(ops_case, test_cart_invalid_config_exits_2_naming_the_variable);
    suite_add_tcase(s, api);
    suite_add_tcase(s, ops_case);
    return s;
}

int main(void)
{
    return ms_test_main(cart_suite(), true);
}
