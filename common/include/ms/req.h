/* The request a handler sees: method, matched route and its parameters, query, headers,
 * the body (parsed when the route takes JSON), trace context and the service's context. */
#ifndef MS_REQ_H
#define MS_REQ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ms/router.h"
#include "ms/trace.h"

struct MHD_Connection;
struct ms_res;
struct ms_server;

struct ms_req {
    const char *method;    /* borrowed from MHD for the request's life */
    const char *url;       /* the decoded path as received, borrowed */
    const char *route;     /* the matched pattern, or "unmatched": a bounded metrics label */
    struct ms_match match; /* parameters point into path_copy */
    char *path_copy;       /* owned */
    char *body;            /* owned, NUL-terminated, at most body_max bytes */
    size_t body_len;
    size_t body_cap;
    size_t body_max;
    bool body_too_big;
    json_t *json;          /* owned: the parsed body on MS_ROUTE_JSON routes */
    struct ms_trace trace; /* values borrowed from MHD, except the request id below */
    char request_id[72];
    void *svc; /* the service's context given to ms_server_new */
    struct ms_server *server;
    struct MHD_Connection *conn;
};

/* A path parameter of the matched route ("id" for /products/{id}), or NULL. */
const char *ms_req_param(const struct ms_req *req, const char *name);

/* A query-string argument (decoded), or NULL when absent. */
const char *ms_req_query(const struct ms_req *req, const char *name);

/* A request header (case-insensitive name), or NULL. */
const char *ms_req_header(const struct ms_req *req, const char *name);

/* Refuses a query string with an argument not in allowed (comma-separated, e.g.
 * "order_id,user_id"), an argument given twice, or one without a value ("?limit", which would
 * otherwise read as absent while "?limit=" is refused): answers 400 naming it and returns
 * nonzero.
 * For endpoints where a misspelt filter must not silently match everything. */
int ms_req_query_only_or_400(struct ms_req *req, struct ms_res *res, const char *allowed);

/* Reads query argument name as an integer in [min, max], def when absent. On a bad value
 * answers 400 naming the argument and returns nonzero. */
int ms_req_query_ll_or_400(struct ms_req *req, struct ms_res *res, const char *name, long long def,
                           long long min, long long max, long long *out);

/* Reads path parameter name as an integer id in [1, max]. Not a positive integer: answers 400;
 * a well-formed id above max cannot exist: answers 404. Either way returns nonzero. */
int ms_req_id_or_4xx(struct ms_req *req, struct ms_res *res, const char *name, long long max,
                     long long *out);

#endif
