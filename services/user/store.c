/* Users in PostgreSQL: one statement per verb, the unique index on the email's normal form
 * (ms_email_normalise) deciding who gets an address when sign-ups race. */
#include <stdio.h>
#include <stdlib.h>

#include "ms/err.h"
#include "user.h"

/* The columns every statement returns, in the order row_to_user reads them. */
#define USER_COLUMNS                                                                               \
    "id, email, name, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* A taken address inserts nothing and returns no row, rather than raising an error. */
static const char sql_insert[] = "INSERT INTO users (email, name) VALUES ($1, $2) "
                                 "ON CONFLICT (email) DO NOTHING RETURNING " USER_COLUMNS;
static const char sql_by_id[] = "SELECT " USER_COLUMNS " FROM users WHERE id = $1";
static const char sql_by_email[] = "SELECT " USER_COLUMNS " FROM users WHERE email = $1";

void user_svc_init(struct user_svc *svc)
{
    static const char *const ops[USER_NOPS] = {"create", "get", "find"};
    static const char *const results[USER_NRESULTS] = {"ok", "invalid", "conflict", "not_found",
                                                       "unavailable"};
    struct ms_family *family = ms_counter_family(
        "user_operations_total", "User operations, by operation and result.", "op,result");

    for (size_t op = 0; op < USER_NOPS; op++)
        for (size_t r = 0; r < USER_NRESULTS; r++)
            svc->ops[op][r] = ms_series_get(family, (const char *const[]){ops[op], results[r]});
}

/* The CHECKs bound every text column to its buffer, so nothing is cut. */
static void row_to_user(const PGresult *res, struct user *u)
{
    u->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(u->email, sizeof(u->email), "%s", PQgetvalue(res, 0, 1));
    snprintf(u->name, sizeof(u->name), "%s", PQgetvalue(res, 0, 2));
    snprintf(u->created_at, sizeof(u->created_at), "%s", PQgetvalue(res, 0, 3));
}

/* Runs a statement returning at most one user: 0 with *u filled, MS_ENOTFOUND when no row
 * came back, or the database's error. */
static int query_user(struct user_svc *svc, const char *sql, int n, const char *const *params,
                      struct user *u)
{
    PGresult *res = NULL;
    int rc;

    rc = ms_migrator_query(&svc->migrator, sql, n, params, &res);
    if (rc == 0 && PQntuples(res) == 1)
        row_to_user(res, u);
    else if (rc == 0)
        rc = MS_ENOTFOUND;
    PQclear(res);
    return rc;
}

int user_store_create(struct user_svc *svc, struct user *u)
{
    const char *params[] = {u->email, u->name};
    int rc = query_user(svc, sql_insert, 2, params, u);

    /* An error the database calls a conflict can only be a CHECK failing, which validation
     * rules out: a bug, not the client's 409. */
    if (rc == MS_ECONFLICT)
        return MS_EINTERNAL;
    return rc == MS_ENOTFOUND ? MS_ECONFLICT : rc;
}

int user_store_get(struct user_svc *svc, long long id, struct user *u)
{
    char idbuf[24];
    const char *params[] = {idbuf};

    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    return query_user(svc, sql_by_id, 1, params, u);
}

int user_store_find(struct user_svc *svc, const char *email, struct user *u)
{
    const char *params[] = {email};

    return query_user(svc, sql_by_email, 1, params, u);
}
