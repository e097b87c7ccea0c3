/* The product service's shared state and the verbs its routes use. */
#ifndef PRODUCT_H
#define PRODUCT_H

#include <stdbool.h>
#include <stddef.h>

#include "ms/breaker.h"
#include "ms/metrics.h"
#include "ms/migrator.h"
#include "ms/pg.h"
#include "ms/redis.h"
#include "ms/router.h"

struct product_svc {
    struct ms_pg_pool *pg;       /* the source of truth */
    struct ms_redis_pool *redis; /* cache-aside; optional for serving */
    struct ms_migrator migrator;
    const char *version; /* "v1", "v2": part of every cache key */
    bool sale_badge;     /* v2, the canary, marks every product "SALE" */
    int cache_ttl_s;     /* 0 disables the cache */
    /* open while the cache is slower than the database it saves (store.c): pages skip it */
    struct ms_breaker cache_breaker;
    struct ms_series *cache_hit, *cache_miss, *cache_error, *cache_skipped;
};

/* A validated GET /products query. */
struct product_query {
    const char *category; /* NULL for all; borrowed from the request */
    long long limit;
    long long offset;
    bool by_ids; /* ids holds a PostgreSQL array literal "{1,2,3}" */
    char ids[1200];
};

/* The route table (routes.c). */
extern const struct ms_route product_routes[];
extern const size_t product_routes_len;

/* Sets up metrics and the version-dependent behaviour (store.c). */
void product_svc_init(struct product_svc *svc, const char *version);

/* One product as JSON text, from the cache or PostgreSQL. *out is malloc'd (the caller owns it).
 * 0, MS_ENOTFOUND, MS_EUNAVAIL / MS_ETIMEDOUT when PostgreSQL cannot answer. */
int product_store_get(struct product_svc *svc, long long id, char **out, size_t *len);

/* A page of products, {"items":[...],"total":N}, as JSON text; same contract. */
int product_store_list(struct product_svc *svc, const struct product_query *q, char **out,
                       size_t *len);

#endif
