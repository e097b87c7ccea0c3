/* The cart service's shared state, its types, and the verbs its routes use. */
#ifndef CART_H
#define CART_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ms/http_client.h"
#include "ms/metrics.h"
#include "ms/redis.h"
#include "ms/router.h"

enum {
    CART_QUANTITY_MAX = 99, /* per line: adding more is capped here */
    CART_LINES_MAX = 50,    /* distinct products in one cart */
    CART_BODY_MAX = 1024,   /* a POST body; a valid one is under 60 bytes */
};

/* The labels of cart_operations_total{op,result}. */
enum cart_op { CART_OP_GET, CART_OP_ADD, CART_OP_REMOVE, CART_OP_CLEAR, CART_OP_N };

enum cart_result {
    CART_RESULT_OK,
    CART_RESULT_DEGRADED,
    CART_RESULT_INVALID,
    CART_RESULT_NOT_FOUND,
    CART_RESULT_CONFLICT,
    CART_RESULT_UNAVAILABLE,
    CART_RESULT_N,
};

struct cart_svc {
    struct ms_redis_pool *redis; /* the carts: the service is unready without it */
    struct ms_upstream *product; /* names and prices: the cart degrades without them */
    char ttl_s[16];              /* CART_TTL_S as text, the argument every write passes */
    struct ms_series *ops[CART_OP_N][CART_RESULT_N]; /* cached at start-up */
};

struct cart_line {
    long long product_id;
    int quantity;
    const char *name;      /* from the catalog (borrowed from cart.catalog); NULL if unknown */
    long long price_cents; /* meaningful only when name is set */
};

struct cart {
    long long user_id;
    size_t n;
    struct cart_line lines[CART_LINES_MAX]; /* in product_id order */
    json_t *catalog; /* owned: the product service's answer the names point into, or NULL */
    bool degraded;   /* the product service could not answer: no names, prices or total */
};

/* The route table (routes.c). */
extern const struct ms_route cart_routes[];
extern const size_t cart_routes_len;

/* Caches the metric series and the TTL text (store.c). */
void cart_svc_init(struct cart_svc *svc, int ttl_s);

/* Counts one operation in cart_operations_total. */
void cart_count(struct cart_svc *svc, enum cart_op op, enum cart_result result);

/* Releases what a cart owns (its catalog answer). Safe on a zeroed cart. */
void cart_release(struct cart *cart);

/* ---- Redis (store.c): the verbs with an out fill it with the cart as it is afterwards, read
 * in the same atomic step as the write, lines in product id order. Every verb returns
 * MS_EUNAVAIL / MS_ETIMEDOUT when Redis cannot answer, MS_EINTERNAL when what it holds is not
 * a cart. ---- */

int cart_store_get(struct cart_svc *svc, long long user_id, struct cart *out);

/* Adds line->quantity of line->product_id, the line capped at CART_QUANTITY_MAX, and refreshes
 * the cart's TTL. MS_ECONFLICT when the product is new and the cart already holds
 * CART_LINES_MAX products (nothing written). */
int cart_store_add(struct cart_svc *svc, long long user_id, const struct cart_line *line,
                   struct cart *out);

/* Removes one line and refreshes the TTL. MS_ENOTFOUND when the line is absent. */
int cart_store_remove(struct cart_svc *svc, long long user_id, long long product_id,
                      struct cart *out);

/* What an order bought from a cart: its id (1..64 of A-Z a-z 0-9 -) and its lines. */
struct cart_checkout {
    char order_id[65];
    size_t n;
    struct cart_line lines[CART_LINES_MAX];
};

/* Takes what order co bought out of the cart: each line's quantity drops by what was bought,
 * and a line left at zero goes; lines added meanwhile stay. Once per order (a marker key
 * remembers it for a day), so a repeated call after a lost answer takes nothing twice. */
int cart_store_checkout(struct cart_svc *svc, long long user_id, const struct cart_checkout *co);

/* Deletes the whole cart; 0 also when it was already empty. */
int cart_store_clear(struct cart_svc *svc, long long user_id);

/* ---- the product service (catalog.c) ---- */

/* Does the product exist? 0, MS_ENOTFOUND, or MS_EUNAVAIL / MS_ETIMEDOUT when the product
 * service cannot say (down, slow, 5xx, breaker open). */
int catalog_product_check(struct cart_svc *svc, long long product_id);

/* Fills in every line's name and price with one call to the product service. When it cannot
 * answer, marks the cart degraded instead: never an error, and never longer than the
 * upstream's timeout budget. */
void catalog_enrich(struct cart_svc *svc, struct cart *cart);

#endif
