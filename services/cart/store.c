/* Carts in Redis: one hash per user, cart:{userId}, product id -> quantity. Every write is one
 * Lua script, which Redis runs alone, so concurrent adds never lose an update and each answer
 * is the cart exactly as that write left it. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cart.h"
#include "ms/err.h"
#include "ms/json.h"

/* ARGV: product id, quantity to add, the cap per line, the most lines, the TTL in seconds.
 * Answers 0 when the product is new and the cart is full (nothing written), else the cart. */
static const char add_script[] =
    "local old = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if not old and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end\n"
    "local q = math.min(tonumber(ARGV[3]), (tonumber(old) or 0) + tonumber(ARGV[2]))\n"
    "redis.call('HSET', KEYS[1], ARGV[1], q)\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[5])\n"
    "return redis.call('HGETALL', KEYS[1])\n";

/* ARGV: product id, the TTL. Answers 0 when the line was absent, else the cart left. */
static const char remove_script[] =
    "if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
    "return redis.call('HGETALL', KEYS[1])\n";

/* KEYS: the cart, the order's marker. ARGV: the cart's TTL, the marker's TTL, then product id
 * and quantity bought, pair by pair. Takes the order's lines out once: with the marker there,
 * nothing changes. */
static const char checkout_script[] =
    "if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end\n"
    "for i = 3, #ARGV, 2 do\n"
    "  if redis.call('HINCRBY', KEYS[1], ARGV[i], -tonumber(ARGV[i + 1])) <= 0 then\n"
    "    redis.call('HDEL', KEYS[1], ARGV[i])\n"
    "  end\n"
    "end\n"
    "redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])\n"
    "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end\n"
    "return 1\n";

/* How long a checkout's marker is kept: the order's worker finishes a clear well within it. */
#define CHECKOUT_MARKER_TTL_S "86400"

static const char *const op_names[CART_OP_N] = {"get", "add", "remove", "clear"};
static const char *const result_names[CART_RESULT_N] = {"ok",        "degraded", "invalid",
                                                        "not_found", "conflict", "unavailable"};

void cart_svc_init(struct cart_svc *svc, int ttl_s)
{
    struct ms_family *ops = ms_counter_family(
        "cart_operations_total", "Cart operations, by operation and result.", "op,result");

    snprintf(svc->ttl_s, sizeof(svc->ttl_s), "%d", ttl_s);
    for (int op = 0; op < CART_OP_N; op++)
        for (int r = 0; r < CART_RESULT_N; r++)
            svc->ops[op][r] =
                ms_series_get(ops, (const char *const[]){op_names[op], result_names[r]});
}

void cart_count(struct cart_svc *svc, enum cart_op op, enum cart_result result)
{
    ms_counter_inc(svc->ops[op][result]);
}

void cart_release(struct cart *cart)
{
    json_decref(cart->catalog);
    cart->catalog = NULL;
}

static int by_product_id(const void *a, const void *b)
{
    long long x = ((const struct cart_line *)a)->product_id;
    long long y = ((const struct cart_line *)b)->product_id;

    return (x > y) - (x < y);
}

static bool is_text(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING;
}

/* An error reply: a Redis that is loading, busy, out of memory or a read-only replica is an
 * outage (503, retry later); anything else (WRONGTYPE, a script error) is a bug. */
static int reply_error(const redisReply *r)
{
    static const char *const transient[] = {"LOADING",  "BUSY",       "OOM",
                                            "READONLY", "MASTERDOWN", "TRYAGAIN"};

    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
        if (strncmp(r->str, transient[i], strlen(transient[i])) == 0)
            return MS_EUNAVAIL;
    return MS_EINTERNAL;
}

/* An HGETALL answer (field, value, field, value...) into out, in product id order.
 * MS_EINTERNAL when the reply is an error or the hash holds something that is not a cart. */
static int cart_from_reply(const redisReply *reply, long long user_id, struct cart *out)
{
    long long id, quantity;

    *out = (struct cart){.user_id = user_id};
    if (reply->type == REDIS_REPLY_ERROR)
        return reply_error(reply);
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0 ||
        reply->elements / 2 > CART_LINES_MAX)
        return MS_EINTERNAL;
    for (size_t i = 0; i < reply->elements; i += 2) {
        const redisReply *field = reply->element[i], *value = reply->element[i + 1];

        if (!is_text(field) || !is_text(value) || ms_parse_ll(field->str, 1, INT32_MAX, &id) ||
            ms_parse_ll(value->str, 1, CART_QUANTITY_MAX, &quantity))
            return MS_EINTERNAL;
        out->lines[out->n++] = (struct cart_line){.product_id = id, .quantity = (int)quantity};
    }
    qsort(out->lines, out->n, sizeof(out->lines[0]), by_product_id);
    return 0;
}

static void cart_key(char *buf, size_t cap, long long user_id)
{
    snprintf(buf, cap, "cart:%lld", user_id);
}

/* Runs a one-key command (HGETALL, DEL) on the user's cart. */
static int key_command(struct cart_svc *svc, const char *cmd, long long user_id, redisReply **reply)
{
    char key[32];
    const char *argv[] = {cmd, key};

    cart_key(key, sizeof(key), user_id);
    return ms_redis_call(svc->redis, reply, 2, argv, NULL);
}

/* Runs script on the user's cart with nargs (at most 5) arguments. The script answers 0 when
 * it refused to write (that gives the code refused), else the cart as it left it. */
static int run_script(struct cart_svc *svc, const char *script, long long user_id, int nargs,
                      const char *const *args, int refused, struct cart *out)
{
    char key[32];
    const char *argv[9] = {"EVAL", script, "1", key};
    redisReply *reply = NULL;
    int rc;

    assert(nargs <= 5);
    cart_key(key, sizeof(key), user_id);
    for (int i = 0; i < nargs; i++)
        argv[4 + i] = args[i];
    rc = ms_redis_call(svc->redis, &reply, 4 + nargs, argv, NULL);
    if (rc == 0)
        rc = reply->type == REDIS_REPLY_INTEGER ? refused : cart_from_reply(reply, user_id, out);
    freeReplyObject(reply);
    return rc;
}

int cart_store_get(struct cart_svc *svc, long long user_id, struct cart *out)
{
    redisReply *reply = NULL;
    int rc = key_command(svc, "HGETALL", user_id, &reply);

    if (rc == 0)
        rc = cart_from_reply(reply, user_id, out);
    freeReplyObject(reply);
    return rc;
}

int cart_store_add(struct cart_svc *svc, long long user_id, const struct cart_line *line,
                   struct cart *out)
{
    char id[24], quantity[16], quantity_max[16], lines_max[16];

    snprintf(id, sizeof(id), "%lld", line->product_id);
    snprintf(quantity, sizeof(quantity), "%d", line->quantity);
    snprintf(quantity_max, sizeof(quantity_max), "%d", CART_QUANTITY_MAX);
    snprintf(lines_max, sizeof(lines_max), "%d", CART_LINES_MAX);
    return run_script(svc, add_script, user_id, 5,
                      (const char *const[]){id, quantity, quantity_max, lines_max, svc->ttl_s},
                      MS_ECONFLICT, out);
}

int cart_store_remove(struct cart_svc *svc, long long user_id, long long product_id,
                      struct cart *out)
{
    char id[24];

    snprintf(id, sizeof(id), "%lld", product_id);
    return run_script(svc, remove_script, user_id, 2, (const char *const[]){id, svc->ttl_s},
                      MS_ENOTFOUND, out);
}

int cart_store_clear(struct cart_svc *svc, long long user_id)
{
    redisReply *reply = NULL;
    int rc = key_command(svc, "DEL", user_id, &reply);

    if (rc == 0 && reply->type != REDIS_REPLY_INTEGER)
        rc = reply->type == REDIS_REPLY_ERROR ? reply_error(reply) : MS_EINTERNAL;
    freeReplyObject(reply);
    return rc;
}

int cart_store_checkout(struct cart_svc *svc, long long user_id, const struct cart_checkout *co)
{
    char key[32], marker[128], ids[CART_LINES_MAX][24], counts[CART_LINES_MAX][16];
    const char *argv[7 + 2 * CART_LINES_MAX] = {"EVAL",     checkout_script,      "2", key, marker,
                                                svc->ttl_s, CHECKOUT_MARKER_TTL_S};
    redisReply *reply = NULL;
    int argc = 7, rc;

    cart_key(key, sizeof(key), user_id);
    snprintf(marker, sizeof(marker), "%s:checkout:%s", key, co->order_id);
    for (size_t i = 0; i < co->n; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%lld", co->lines[i].product_id);
        snprintf(counts[i], sizeof(counts[i]), "%d", co->lines[i].quantity);
        argv[argc++] = ids[i];
        argv[argc++] = counts[i];
    }
    rc = ms_redis_call(svc->redis, &reply, argc, argv, NULL);
    if (rc == 0 && reply->type != REDIS_REPLY_INTEGER)
        rc = reply->type == REDIS_REPLY_ERROR ? reply_error(reply) : MS_EINTERNAL;
    freeReplyObject(reply);
    return rc;
}
