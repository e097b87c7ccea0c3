/* The order service's shared state, its types and the verbs its parts offer each other. */
#ifndef ORDER_H
#define ORDER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ms/http_client.h"
#include "ms/json.h"
#include "ms/metrics.h"
#include "ms/migrator.h"
#include "ms/pg.h"
#include "ms/redis.h"
#include "ms/router.h"
#include "ms/task.h"

enum {
    ORDER_LINES_MAX = 50,
    ORDER_QUANTITY_MAX = 99,
    ORDER_NAME_MAX = 800, /* bytes: the product's 200 characters, each up to 4 bytes of UTF-8 */
    ORDER_PRICE_MAX = 2147483647, /* cents: order_items.unit_price_cents is an integer */
    ORDER_EMAIL_MAX = 254,
    ORDER_IDEM_KEY_MAX = 128,
    ORDER_USER_ID_MAX = 2147483647,
    OUTBOX_BATCH = 100, /* events claimed and published per round */
};

struct order_line {
    long long product_id;
    long long quantity;
    long long unit_price_cents; /* from the product service, never from the client */
    char name[ORDER_NAME_MAX + 1];
};

/* One purchase as the saga builds it up. */
struct checkout {
    long long user_id;
    bool from_cart; /* no items in the request: buy the cart */
    struct order_line lines[ORDER_LINES_MAX];
    size_t nlines;
    char email[ORDER_EMAIL_MAX + 1]; /* from the user service */
    long long total_cents;
    char order_id[40]; /* also the inventory reservation id */
    bool idem_lost;    /* its Idempotency-Key got an order from another request: answer that */
};

/* Results counted by orders_total{result}. */
enum order_result {
    ORDER_CONFIRMED,
    ORDER_INVALID,
    ORDER_NOT_FOUND,
    ORDER_OUT_OF_STOCK,
    ORDER_UNAVAILABLE,
    ORDER_REPLAYED,
    ORDER_RESULT_COUNT,
};

/* Claims of requests that gave up unsure whether PostgreSQL has them (orphans.c). */
enum { IDEM_ORPHANS_MAX = 256 };
struct idem_orphan {
    char key[ORDER_IDEM_KEY_MAX + 1];
    char owner[40];   /* the request's claim id */
    int64_t until_ms; /* monotonic: looked for until then */
};
struct idem_orphans {
    pthread_mutex_t lock; /* guards count and items */
    size_t count;
    struct idem_orphan items[IDEM_ORPHANS_MAX];
};

struct order_svc {
    struct ms_pg_pool *pg;
    struct ms_redis_pool *redis; /* the event stream */
    struct ms_migrator migrator;
    struct ms_upstream *user, *cart, *product, *inventory;
    const char *stream;     /* ORDER_EVENTS_STREAM */
    int idem_claim_ttl_s;   /* IDEMPOTENCY_CLAIM_TTL_S: an older unfinished claim is dead */
    int backorder_retry_s;  /* BACKORDER_RETRY_S: how often backordered orders try again */
    int key_retention_s;    /* IDEMPOTENCY_KEY_RETENTION_S: how long a key is kept */
    int outbox_retention_s; /* OUTBOX_RETENTION_S: how long a published event is kept */
    int stream_maxlen;      /* ORDER_STREAM_MAXLEN: the stream is trimmed to about this */
    struct ms_series *results[ORDER_RESULT_COUNT];
    struct ms_series *cart_clear_failures;
    struct ms_series *reservations_lost; /* orders whose stock was sold before they committed */
    struct ms_series *outbox_pending;    /* events not yet on the stream */
    struct ms_series *events_published;
    struct ms_series *republished;  /* events published again after Redis lost its data */
    struct ms_series *ambiguous[3]; /* inserts without an answer: placed, abandoned, unknown */
    struct ms_series *orphans_left, *orphans_deleted; /* claims left unsure, and deleted */
    struct idem_orphans orphans;
    struct ms_task worker; /* publishes the outbox, finishes reservation commits */
};

/* routes.c */
extern const struct ms_route order_routes[];
extern const size_t order_routes_len;

/* model.c: parsing and validation */
int checkout_from_json(const json_t *body, struct checkout *co, struct ms_verr *e);
int order_id_valid(const char *id);
int idempotency_key_valid(const char *key);
/* A stable digest of the request body and user, so a key reused for another request is
 * told apart from a replay. Writes 16 hex digits and a NUL. */
void request_digest(const json_t *body, char out[17]);

/* upstreams.c: calls to the other services; each returns 0 or an ms_err code with a message
 * for the client in e */
int user_email_get(struct order_svc *svc, struct checkout *co, struct ms_verr *e);
int cart_lines_get(struct order_svc *svc, struct checkout *co, struct ms_verr *e);
int lines_price(struct order_svc *svc, struct checkout *co, struct ms_verr *e);
int stock_reserve(struct order_svc *svc, const struct checkout *co, struct ms_verr *e);
int stock_commit(struct order_svc *svc, const char *order_id);
int stock_release(struct order_svc *svc, const char *order_id);
/* Takes the lines order_id bought (items, borrowed: [{"product_id","quantity"}]) out of the
 * user's cart, once per order whatever the retries. 0, MS_EINVAL when the cart service refuses
 * the request (retrying cannot help), else the transport's error. */
int cart_take_bought(struct order_svc *svc, long long user_id, const char *order_id, json_t *items);

/* store.c: orders, idempotency keys and the outbox in PostgreSQL */
/* Writes the order, its lines and the key's link in one statement (its event waits for its
 * stock: order_mark_reservation). 0 once it is
 * stored, with *json (malloc'd) the order's document as order_document_get would read it, or
 * NULL if that could not be made; MS_ECONFLICT when idem_key already has an order (another
 * request with the key bought first); else the error. Nothing is stored unless it returns 0. */
int order_insert(struct order_svc *svc, const struct checkout *co, const char *idem_key,
                 char **json, size_t *len);
/* Records order id's reservation as committed (no longer backordered), with its event
 * order.confirmed (order.filled for a backorder), or as lost, with order.backordered: the order
 * is backordered until a later commit takes restocked stock. Each change and its event are one
 * statement; a repeated call changes and announces nothing. */
int order_mark_reservation(struct order_svc *svc, const char *id, bool committed);
/* Decides the fate of order id whose insert got no answer: 1 it was placed, 0 it never will
 * be (a tombstone now stops a late insert), or the error when PostgreSQL cannot say. */
int order_fate(struct order_svc *svc, const char *id);
/* Records that order id's lines are out of its cart. */
int order_mark_cart_cleared(struct order_svc *svc, const char *id);
/* Finishes, a batch at a time, the cart clears that failed when their orders were placed. */
void order_carts_clear(struct order_svc *svc);
/* Records that reservation id must be released, for the worker to send. */
int order_release_later(struct order_svc *svc, const char *id);
/* Sends up to a batch of the recorded releases; those inventory took are forgotten. */
void order_releases_send(struct order_svc *svc);
int order_document_get(struct order_svc *svc, const char *id, char **json, size_t *len);
int order_list_for_user(struct order_svc *svc, long long user_id, char **json, size_t *len);

/* orphans.c: claims of requests that gave up unsure whether PostgreSQL has them */
int idem_orphans_init(struct idem_orphans *o);
/* Records that the request owner gave up on key's claim without knowing whether it exists. */
void idem_orphan_add(struct order_svc *svc, const char *key, const char *owner);
/* The worker's round: deletes every recorded claim that exists by now and has no order. */
void idem_orphans_delete(struct order_svc *svc);

struct idem_answer {
    int status;
    char *body; /* malloc'd; the caller frees */
};
/* Claims key for this request (0), owner being its random id, or finds it answered (1,
 * *prior filled), or owned by a request still running (MS_ECONFLICT), or used for a different
 * request (MS_EINVAL). */
int idem_claim(struct order_svc *svc, const char *key, const char *digest, const char *owner,
               struct idem_answer *prior);
/* The key's answer without claiming it: 1 (*prior filled), 2 still in progress, MS_ENOTFOUND,
 * MS_EINVAL (another request), or the database's error. */
int idem_lookup(struct order_svc *svc, const char *key, const char *digest,
                struct idem_answer *prior);
/* Record the answer / drop the claim, only while owner still holds it: a request whose claim
 * was taken over changes nothing. */
int idem_finish(struct order_svc *svc, const char *key, const char *owner, int status,
                const char *body);
int idem_forget(struct order_svc *svc, const char *key, const char *owner);

/* saga.c: the purchase, start to finish; *json receives the order document (malloc'd).
 * idem_key (may be NULL) is linked to the order when it is written. */
int checkout_run(struct order_svc *svc, struct checkout *co, const char *idem_key, char **json,
                 size_t *len, struct ms_verr *e);
void order_count(struct order_svc *svc, int rc);
void order_results_init(struct order_svc *svc);

/* outbox.c: one round of the outbox publisher. How many events went out, or an error. */
int outbox_publish(struct order_svc *svc);

/* worker.c: publishes the outbox to the stream and finishes reservation commits */
/* Commits order id's reservation and records the outcome; a failure that may pass is left for
 * the worker's next look. backordered: the order already lost its stock once and this is
 * another try, after a possible restock. */
void order_stock_commit(struct order_svc *svc, const char *id, bool backordered);
int worker_start(struct order_svc *svc);
void worker_wake(struct order_svc *svc);
void worker_stop(struct order_svc *svc);

#endif
