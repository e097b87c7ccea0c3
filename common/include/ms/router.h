/* Method + path-pattern routing ("/products/{id}"), with 404 and 405 (and its Allow list)
 * decided here, so handlers only ever see requests meant for them. */
#ifndef MS_ROUTER_H
#define MS_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

struct ms_req;
struct ms_res;

typedef void (*ms_handler_fn)(struct ms_req *req, struct ms_res *res);

enum {
    MS_ROUTE_MAX_SEGMENTS = 16, /* a path with more segments matches nothing */
    MS_ROUTE_MAX_PARAMS = 8,
    MS_ROUTE_MAX = 64,
};

/* Route flags. */
enum {
    MS_ROUTE_JSON = 1 << 0,  /* the body must be a JSON document, parsed before the handler */
    MS_ROUTE_INFRA = 1 << 1, /* health, readiness, metrics, admin: no fault injection, and its
                                 access lines are logged at debug so probes do not flood logs */
};

/* One row of a service's route table. */
struct ms_route {
    const char *method;  /* "GET", "POST", ... (HEAD is served by GET routes) */
    const char *pattern; /* literal segments and {name} parameters */
    ms_handler_fn handler;
    size_t body_max; /* largest body accepted; 0 means the server's default limit */
    unsigned flags;
};

struct ms_param {
    const char *name;  /* borrowed from the route's pattern copy */
    const char *value; /* points into the caller's path buffer */
};

enum ms_match_result { MS_MATCH_OK, MS_MATCH_NOT_FOUND, MS_MATCH_BAD_METHOD };

struct ms_match {
    const struct ms_route *route;
    struct ms_param params[MS_ROUTE_MAX_PARAMS];
    size_t nparams;
    char allow[96]; /* on MS_MATCH_BAD_METHOD: "GET, HEAD, POST" */
};

struct ms_router;

/* An empty router. NULL on allocation failure. */
struct ms_router *ms_router_new(void);
void ms_router_free(struct ms_router *r);

/* Adds a route; the route struct is copied, its strings must outlive the router (they are
 * normally literals in a static table). MS_EINVAL for a malformed pattern (not starting with
 * '/', an unclosed or empty {}, too many segments or parameters) or a duplicate method+pattern;
 * MS_ETOOBIG past MS_ROUTE_MAX routes. */
int ms_router_add(struct ms_router *r, const struct ms_route *route);

/* Matches method and path. path is modified in place (split at '/'), and the parameter values
 * in m point into it, so it must be a private copy that outlives m. Empty segments are
 * ignored ("/products/" is "/products"). Literal segments win over parameters when two
 * patterns match the same path. */
enum ms_match_result ms_router_match(const struct ms_router *r, const char *method, char *path,
                                     struct ms_match *m);

/* The value of parameter name in m, or NULL. */
const char *ms_match_param(const struct ms_match *m, const char *name);

#endif
