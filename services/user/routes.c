/* The user service's route table and its handlers. */
#include <stdint.h>
#include <stdio.h>

#include "ms/err.h"
#include "user.h"

/* Counts a finished operation in user_operations_total by its answer. A 500 is a bug and has
 * no result of its own; http_requests_total counts it. */
static void count(struct ms_req *req, enum user_op op, const struct ms_res *res)
{
    struct user_svc *svc = req->svc;
    enum user_result result;

    switch (res->status) {
    case 200:
    case 201:
        result = USER_RESULT_OK;
        break;
    case 400:
        result = USER_RESULT_INVALID;
        break;
    case 404:
        result = USER_RESULT_NOT_FOUND;
        break;
    case 409:
        result = USER_RESULT_CONFLICT;
        break;
    case 503:
        result = USER_RESULT_UNAVAILABLE;
        break;
    default:
        return;
    }
    ms_counter_inc(svc->ops[op][result]);
}

/* POST /users {"email","name"}: signs a user up; 409 when the email is taken. */
static void create_user(struct ms_req *req, struct ms_res *res)
{
    struct user u;
    char location[48];
    int rc;

    if (user_from_json_or_400(req->json, res, &u))
        goto out;
    rc = user_store_create(req->svc, &u);
    if (rc) {
        if (rc == MS_ECONFLICT)
            ms_res_error(res, rc, "a user with this email already exists");
        else
            ms_res_error(res, rc, "cannot create the user: %s", ms_strerror(rc));
        goto out;
    }
    snprintf(location, sizeof(location), "/users/%lld", u.id);
    ms_res_json_new(res, 201, user_to_json(&u));
    ms_res_header(res, "Location", location);
out:
    count(req, USER_OP_CREATE, res);
}

/* GET /users/{id}: one user. */
static void get_user(struct ms_req *req, struct ms_res *res)
{
    struct user u;
    long long id;
    int rc;

    if (ms_req_id_or_4xx(req, res, "id", INT64_MAX, &id))
        goto out;
    rc = user_store_get(req->svc, id, &u);
    if (rc == MS_ENOTFOUND)
        ms_res_error(res, rc, "user %lld not found", id);
    else if (rc)
        ms_res_error(res, rc, "cannot read user %lld: %s", id, ms_strerror(rc));
    else
        ms_res_json_new(res, 200, user_to_json(&u));
out:
    count(req, USER_OP_GET, res);
}

/* GET /users?email=: the user with this email, in any case (how the storefront signs in). */
static void find_user(struct ms_req *req, struct ms_res *res)
{
    char email[USER_EMAIL_MAX + 1];
    struct user u;
    int rc;

    if (user_email_query_or_400(req, res, email))
        goto out;
    rc = user_store_find(req->svc, email, &u);
    if (rc == MS_ENOTFOUND)
        ms_res_error(res, rc, "no user with this email");
    else if (rc)
        ms_res_error(res, rc, "cannot find the user: %s", ms_strerror(rc));
    else
        ms_res_json_new(res, 200, user_to_json(&u));
out:
    count(req, USER_OP_FIND, res);
}

const struct ms_route user_routes[] = {
    {"POST", "/users", create_user, USER_BODY_MAX, MS_ROUTE_JSON},
    {"GET", "/users", find_user, 0, 0},
    {"GET", "/users/{id}", get_user, 0, 0},
};
const size_t user_routes_len = sizeof(user_routes) / sizeof(user_routes[0]);
