/* Products from PostgreSQL behind a Redis cache-aside: the cache holds the exact JSON text sent
 * to clients, so a hit costs one Redis GET and no encoding. Cache failures are counted and
 * otherwise ignored: the cache is an optimisation, never a dependency. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "ms/clock.h"
#include "ms/err.h"
#include "product.h"

/* A read is one local round trip, a millisecond or two. A cache slower than the database it
 * stands in front of only holds the worker: at 200 ms of added Redis latency each product page
 * waited 200 ms, and the instance's workers could serve a few dozen pages a second. So reads
 * slower than CACHE_SLOW_MS (or failed) count as failures of a breaker: after CACHE_SLOW_READS
 * in a row, pages skip the cache (read PostgreSQL, fill nothing) for CACHE_SKIP_MS, then one
 * read tries it again. */
enum { CACHE_SLOW_MS = 50, CACHE_SLOW_READS = 3, CACHE_SKIP_MS = 2000 };

static const char sql_get[] = "SELECT " PRODUCT_COLUMNS " FROM products WHERE id = $1";

/* The optional filters: $1 a category, $4 an array of ids. */
#define LIST_FILTER "($1::text IS NULL OR category = $1) AND ($4::int[] IS NULL OR id = ANY($4))"

/* One row always comes back: the total, then a page's product columns (NULL past the end). */
static const char sql_list[] =
    "SELECT t.total, p.id, p.name, p.description, p.price_cents, p.currency, p.category, "
    "p.image_url "
    "FROM (SELECT count(*) AS total FROM products WHERE " LIST_FILTER ") t "
    "LEFT JOIN LATERAL (SELECT " PRODUCT_COLUMNS " FROM products "
    "WHERE " LIST_FILTER " ORDER BY id LIMIT $2 OFFSET $3) p ON true "
    "ORDER BY p.id";

void product_svc_init(struct product_svc *svc, const char *version)
{
    struct ms_family *cache = ms_counter_family(
        "cache_requests_total", "Cache lookups by result (hit, miss, error).", "cache,result");

    svc->version = version;
    svc->sale_badge = strcmp(version, "v2") == 0;
    svc->cache_hit = ms_series_get(cache, (const char *const[]){"product", "hit"});
    svc->cache_miss = ms_series_get(cache, (const char *const[]){"product", "miss"});
    svc->cache_error = ms_series_get(cache, (const char *const[]){"product", "error"});
    svc->cache_skipped = ms_series_get(cache, (const char *const[]){"product", "skipped"});
    ms_breaker_init(&svc->cache_breaker, &(struct ms_breaker_config){
                                             .failure_threshold = CACHE_SLOW_READS,
                                             .open_ms = CACHE_SKIP_MS,
                                             .half_open_max = 1,
                                         });
}

/* ---- cache ---- */

/* The GET itself: 0 with a malloc'd copy on a hit, MS_ENOTFOUND on a miss, or the Redis error. */
static int cache_read(struct product_svc *svc, const char *key, char **out, size_t *len)
{
    const char *argv[] = {"GET", key};
    redisReply *reply = NULL;
    int rc = ms_redis_call(svc->redis, &reply, 2, argv, NULL);

    if (rc == 0 && reply->type == REDIS_REPLY_STRING) {
        *out = malloc(reply->len + 1);
        rc = *out ? 0 : MS_ENOMEM;
        if (*out) {
            memcpy(*out, reply->str, reply->len);
            (*out)[reply->len] = '\0';
            *len = reply->len;
        }
    } else if (rc == 0) {
        rc = reply->type == REDIS_REPLY_NIL ? MS_ENOTFOUND : MS_EUNAVAIL;
    }
    freeReplyObject(reply);
    return rc;
}

/* cache_read through the breaker, counted by result (skipped: the breaker is open). */
static int cache_get(struct product_svc *svc, const char *key, char **out, size_t *len)
{
    int64_t start = ms_now_ms();
    int rc;

    if (svc->cache_ttl_s == 0)
        return MS_ENOTFOUND;
    if (!ms_breaker_allow(&svc->cache_breaker, start)) {
        ms_counter_inc(svc->cache_skipped);
        return MS_ENOTFOUND;
    }
    rc = cache_read(svc, key, out, len);
    ms_breaker_record(&svc->cache_breaker,
                      (rc == 0 || rc == MS_ENOTFOUND) && ms_now_ms() - start <= CACHE_SLOW_MS,
                      ms_now_ms(), NULL);
    ms_counter_inc(rc == 0              ? svc->cache_hit
                   : rc == MS_ENOTFOUND ? svc->cache_miss
                                        : svc->cache_error);
    return rc;
}

/* Fills the cache without waiting for Redis's answer: a page read from PostgreSQL is not
 * delayed by a slow cache (at 200 ms of Redis latency a miss cost two round trips, past the
 * callers' 500 ms). A fill Redis refuses is not seen; the next read misses again. */
static void cache_put(struct product_svc *svc, const char *key, const char *text, size_t len)
{
    char ttl[16];
    const char *argv[] = {"SET", key, text, "EX", ttl};
    size_t lens[] = {3, strlen(key), len, 2, 0};

    if (svc->cache_ttl_s == 0 || ms_breaker_state_get(&svc->cache_breaker) != MS_BREAKER_CLOSED)
        return; /* a cache being skipped is not filled either */
    lens[4] = (size_t)snprintf(ttl, sizeof(ttl), "%d", svc->cache_ttl_s);
    if (ms_redis_send_noreply(svc->redis, 5, argv, lens) != 0)
        ms_counter_inc(svc->cache_error);
}

/* ---- database ---- */

static int query(struct product_svc *svc, const char *sql, int n, const char *const *params,
                 PGresult **out)
{
    return ms_migrator_query(&svc->migrator, sql, n, params, out);
}

static int dump_new(json_t *doc, char **out, size_t *len)
{
    *out = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (!*out)
        return MS_ENOMEM;
    *len = strlen(*out);
    return 0;
}

static int load_one(struct product_svc *svc, long long id, char **out, size_t *len)
{
    char idbuf[24];
    const char *params[] = {idbuf};
    PGresult *res = NULL;
    int rc;

    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    rc = query(svc, sql_get, 1, params, &res);
    if (rc == 0)
        rc = PQntuples(res) == 1 ? dump_new(product_from_row(res, 0, 0, svc->sale_badge), out, len)
                                 : MS_ENOTFOUND;
    PQclear(res);
    return rc;
}

static json_t *page_from_result(const PGresult *res, bool sale_badge)
{
    json_t *items = json_array();
    int rows = PQntuples(res);

    for (int i = 0; items && i < rows; i++)
        if (!PQgetisnull(res, i, 1))
            json_array_append_new(items, product_from_row(res, i, 1, sale_badge));
    return json_pack("{s:o,s:I}", "items", items, "total",
                     (json_int_t)(rows ? atoll(PQgetvalue(res, 0, 0)) : 0));
}

static int load_page(struct product_svc *svc, const struct product_query *q, char **out,
                     size_t *len)
{
    char limit[24], offset[24];
    const char *params[] = {q->category, limit, offset, q->by_ids ? q->ids : NULL};
    PGresult *res = NULL;
    int rc;

    snprintf(limit, sizeof(limit), "%lld", q->limit);
    snprintf(offset, sizeof(offset), "%lld", q->offset);
    rc = query(svc, sql_list, 4, params, &res);
    if (rc == 0)
        rc = dump_new(page_from_result(res, svc->sale_badge), out, len);
    PQclear(res);
    return rc;
}

/* ---- the verbs ---- */

int product_store_get(struct product_svc *svc, long long id, char **out, size_t *len)
{
    char key[64];
    int rc;

    snprintf(key, sizeof(key), "product:%s:item:%lld", svc->version, id);
    if (cache_get(svc, key, out, len) == 0)
        return 0;
    rc = load_one(svc, id, out, len);
    if (rc == 0)
        cache_put(svc, key, *out, *len);
    return rc;
}

int product_store_list(struct product_svc *svc, const struct product_query *q, char **out,
                       size_t *len)
{
    char key[1400];
    int rc;

    /* the category goes last and unquoted is safe: nothing follows it in the key */
    snprintf(key, sizeof(key), "product:%s:list:%lld:%lld:%s:%s%s", svc->version, q->limit,
             q->offset, q->by_ids ? q->ids : "*", q->category ? "c=" : "all",
             q->category ? q->category : "");
    if (cache_get(svc, key, out, len) == 0)
        return 0;
    rc = load_page(svc, q, out, len);
    if (rc == 0)
        cache_put(svc, key, *out, *len);
    return rc;
}
