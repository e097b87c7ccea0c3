/* The user service's shared state, the user type, and the verbs its routes use. */
#ifndef USER_H
#define USER_H

#include <jansson.h>
#include <stddef.h>

#include "ms/email.h"
#include "ms/metrics.h"
#include "ms/migrator.h"
#include "ms/pg.h"
#include "ms/req.h"
#include "ms/res.h"
#include "ms/router.h"

/* Limits in bytes, after trimming; sql/001_users.sql checks the same. Emails: ms/email.h. */
enum {
    USER_EMAIL_MAX = MS_EMAIL_MAX,
    USER_NAME_MAX = 100,
    USER_BODY_MAX = 4096, /* a valid body is far smaller, even with every character \u-escaped */
};

/* The label values of user_operations_total{op,result}. */
enum user_op { USER_OP_CREATE, USER_OP_GET, USER_OP_FIND, USER_NOPS };
enum user_result {
    USER_RESULT_OK,
    USER_RESULT_INVALID,
    USER_RESULT_CONFLICT,
    USER_RESULT_NOT_FOUND,
    USER_RESULT_UNAVAILABLE,
    USER_NRESULTS,
};

struct user_svc {
    struct ms_pg_pool *pg; /* the users table */
    struct ms_migrator migrator;
    struct ms_series *ops[USER_NOPS][USER_NRESULTS]; /* user_operations_total, made at start */
};

struct user {
    long long id;
    char email[USER_EMAIL_MAX + 1]; /* in normal form (ms_email_normalise) */
    char name[USER_NAME_MAX + 1];   /* trimmed */
    char created_at[32];            /* RFC 3339, UTC: "2025-01-31T09:05:00Z" */
};

/* The route table (routes.c). */
extern const struct ms_route user_routes[];
extern const size_t user_routes_len;

/* ---- model.c: validation and the wire form ---- */

/* Reads a POST /users body ({"email","name"}, nothing else) into u->email and u->name,
 * validated and normalised. On bad input answers 400 naming the field and returns nonzero. */
int user_from_json_or_400(const json_t *body, struct ms_res *res, struct user *u);

/* Reads the email query argument, validated and normalised as at sign-up, into email
 * (USER_EMAIL_MAX + 1 bytes). Absent or invalid: answers 400 and returns nonzero. */
int user_email_query_or_400(struct ms_req *req, struct ms_res *res, char *email);

/* {"id","email","name","created_at"}: a new reference, NULL on allocation failure. */
json_t *user_to_json(const struct user *u);

/* ---- store.c: the users table ---- */

/* Creates the user_operations_total series, so every one is exported from the start. */
void user_svc_init(struct user_svc *svc);

/* Inserts u (email in normal form, and name set) and fills in its id and created_at. 0,
 * MS_ECONFLICT when the email is taken (however cased or composed), MS_EUNAVAIL / MS_ETIMEDOUT
 * when PostgreSQL cannot answer. */
int user_store_create(struct user_svc *svc, struct user *u);

/* Reads user id into *u. 0, MS_ENOTFOUND, MS_EUNAVAIL / MS_ETIMEDOUT. */
int user_store_get(struct user_svc *svc, long long id, struct user *u);

/* Reads the user with this email (in normal form); same contract. */
int user_store_find(struct user_svc *svc, const char *email, struct user *u);

#endif
