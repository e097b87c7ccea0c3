/* Fuzzes request routing and path parameters: a method line, then a URL as it arrives (the
 * query, after '?', is dropped as MHD does), decoded by the server's unescape callback and
 * matched over a route table like the services' (every service's routes plus the built-in
 * ones). Checks the match against an independent reference matcher (route, parameters, 404 or
 * 405 and its Allow list), that parameters are whole segments of the decoded path, and runs the
 * path-parameter validators the handlers run (ms_req_id_or_4xx, cart_id_or_400,
 * product_id_or_400, reservation_id_or_400, order_id_valid) against their documented rules.
 *
 * Input: "METHOD\n/url/path?query". */
#include <ctype.h>

#include "../../common/src/server.c"
#include "../../services/cart/model.c"
#include "../../services/inventory/model.c"
#include "../../services/order/model.c"
#include "fuzz.h"

enum { MAX_SEGS = MS_ROUTE_MAX_SEGMENTS };

/* ---- handlers: each runs the parameter checks of the real handler of its route ---- */

static bool all_of(const char *s, const char *chars)
{
    return strspn(s, chars) == strlen(s);
}

/* ms_req_id_or_4xx: not a positive integer: 400; a well-formed id above max: 404. */
static void check_id_or_4xx(struct ms_req *req, struct ms_res *res, const char *name, long long max)
{
    const char *text = ms_req_param(req, name);
    long long id = -1, want;
    bool ok = fuzz_ref_parse_ll(text, &want) && want >= 1;

    if (ms_req_id_or_4xx(req, res, name, max, &id) == 0) {
        FUZZ_CHECK(ok && want <= max && id == want);
    } else {
        fuzz_check_envelope(res, ok ? MS_ENOTFOUND : MS_EINVAL);
        FUZZ_CHECK(!ok || want > max);
    }
    fuzz_res_reset(res);
}

/* An id from 1 to INT32_MAX, else 400 (the cart and inventory writes). */
static void check_int32_id(const char *text, int rc, long long id, struct ms_res *res)
{
    long long want;
    bool ok = fuzz_ref_parse_ll(text, &want) && want >= 1 && want <= INT32_MAX;

    if (rc == 0)
        FUZZ_CHECK(ok && id == want);
    else
        fuzz_check_envelope(res, MS_EINVAL);
    FUZZ_CHECK((rc == 0) == ok);
    fuzz_res_reset(res);
}

static void product_get(struct ms_req *req, struct ms_res *res)
{
    check_id_or_4xx(req, res, "id", INT32_MAX);
}

static void user_get(struct ms_req *req, struct ms_res *res)
{
    check_id_or_4xx(req, res, "id", INT64_MAX);
}

static void inventory_get(struct ms_req *req, struct ms_res *res)
{
    check_id_or_4xx(req, res, "productId", INT32_MAX);
}

static void cart_user(struct ms_req *req, struct ms_res *res)
{
    long long id = 0;
    int rc = cart_id_or_400(req, res, "userId", &id);

    check_int32_id(ms_req_param(req, "userId"), rc, id, res);
}

static void cart_line(struct ms_req *req, struct ms_res *res)
{
    long long id = 0;
    int rc = cart_id_or_400(req, res, "productId", &id);

    check_int32_id(ms_req_param(req, "productId"), rc, id, res);
    cart_user(req, res);
}

static void inventory_put(struct ms_req *req, struct ms_res *res)
{
    long long id = 0;
    int rc = product_id_or_400(req, res, &id);

    check_int32_id(ms_req_param(req, "productId"), rc, id, res);
}

static void reservation_get(struct ms_req *req, struct ms_res *res)
{
    const char *text = ms_req_param(req, "id"), *id = NULL;
    size_t len = strlen(text);
    bool ok = len >= 1 && len <= INVENTORY_RESERVATION_ID_MAX && all_of(text, id_chars);

    if (reservation_id_or_400(req, res, &id) == 0)
        FUZZ_CHECK(ok && id == text);
    else
        fuzz_check_envelope(res, MS_EINVAL);
    FUZZ_CHECK((id != NULL) == ok);
    fuzz_res_reset(res);
}

static void order_get(struct ms_req *req, struct ms_res *res)
{
    const char *id = ms_req_param(req, "id");
    bool ok = strlen(id) == 36;

    for (size_t i = 0; ok && i < 36; i++)
        ok = (i == 8 || i == 13 || i == 18 || i == 23) ? id[i] == '-'
                                                       : isxdigit((unsigned char)id[i]) != 0;
    FUZZ_CHECK(order_id_valid(id) == ok);
    (void)res;
}

static void no_params(struct ms_req *req, struct ms_res *res)
{
    FUZZ_CHECK(req->match.nparams == 0);
    (void)res;
}

/* Every service's table and the built-in routes, as one service's router would hold them. */
static const struct ms_route routes[] = {
    {"GET", "/health", no_params, 0, MS_ROUTE_INFRA},
    {"GET", "/ready", no_params, 0, MS_ROUTE_INFRA},
    {"GET", "/metrics", no_params, 0, MS_ROUTE_INFRA},
    {"GET", "/admin/faults", no_params, 0, MS_ROUTE_INFRA},
    {"PUT", "/admin/faults", no_params, 4096, MS_ROUTE_INFRA | MS_ROUTE_JSON},
    {"DELETE", "/admin/faults", no_params, 0, MS_ROUTE_INFRA},
    {"GET", "/products", no_params, 0, 0},
    {"GET", "/products/{id}", product_get, 0, 0},
    {"POST", "/users", no_params, 4096, MS_ROUTE_JSON},
    {"GET", "/users", no_params, 0, 0},
    {"GET", "/users/{id}", user_get, 0, 0},
    {"GET", "/cart/{userId}", cart_user, 0, 0},
    {"POST", "/cart/{userId}", cart_user, 1024, MS_ROUTE_JSON},
    {"DELETE", "/cart/{userId}", cart_user, 0, 0},
    {"DELETE", "/cart/{userId}/{productId}", cart_line, 0, 0},
    {"GET", "/inventory/{productId}", inventory_get, 0, 0},
    {"PUT", "/inventory/{productId}", inventory_put, 1024, MS_ROUTE_JSON},
    {"POST", "/inventory/reservations", no_params, 16384, MS_ROUTE_JSON},
    {"GET", "/inventory/reservations/{id}", reservation_get, 0, 0},
    {"POST", "/inventory/reservations/{id}/commit", reservation_get, 0, 0},
    {"POST", "/inventory/reservations/{id}/release", reservation_get, 0, 0},
    {"POST", "/orders", no_params, 16384, MS_ROUTE_JSON},
    {"GET", "/orders", no_params, 0, 0},
    {"GET", "/orders/{id}", order_get, 0, 0},
    {"GET", "/notifications", no_params, 0, 0},
};
enum { NROUTES = sizeof(routes) / sizeof(routes[0]) };

/* ---- the reference matcher: a plain reading of the documented rules ---- */

struct segs {
    char *v[MAX_SEGS + 1];
    size_t n;
    bool too_many;
};

/* Splits s in place at '/', ignoring empty segments. */
static void split(char *s, struct segs *out)
{
    out->n = 0;
    out->too_many = false;
    for (char *p = s; *p;) {
        size_t len = strcspn(p, "/");
        if (len > 0) {
            if (out->n == MAX_SEGS) {
                out->too_many = true;
                return;
            }
            out->v[out->n++] = p;
        }
        p += len;
        if (*p)
            *p++ = '\0';
    }
}

/* -1 when pattern does not fit the path, else its number of literal segments. */
static int ref_score(const char *pattern, const struct segs *path)
{
    char copy[128];
    struct segs pat;
    int literals = 0;

    snprintf(copy, sizeof(copy), "%s", pattern);
    split(copy, &pat);
    if (path->too_many || pat.n != path->n)
        return -1;
    for (size_t i = 0; i < pat.n; i++) {
        if (pat.v[i][0] == '{')
            continue;
        if (strcmp(pat.v[i], path->v[i]) != 0)
            return -1;
        literals++;
    }
    return literals;
}

static bool ref_method_matches(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

/* Is method one of the comma-and-space separated list? */
static bool listed_in(const char *allow, const char *method)
{
    char copy[sizeof(((struct ms_match *)0)->allow)];
    char *save = NULL;

    snprintf(copy, sizeof(copy), "%s", allow);
    for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
        if (strcmp(tok, method) == 0)
            return true;
    return false;
}

/* The Allow list holds exactly the methods of the routes fitting the path (HEAD with GET),
 * each once. */
static void check_allow(const struct ms_match *m, const struct segs *path)
{
    char copy[sizeof(m->allow)];
    char *save = NULL;
    size_t listed = 0, want = 0;
    const char *seen[NROUTES + 1];

    for (size_t i = 0; i < NROUTES; i++) {
        const char *methods[2] = {routes[i].method,
                                  strcmp(routes[i].method, "GET") == 0 ? "HEAD" : NULL};
        if (ref_score(routes[i].pattern, path) < 0)
            continue;
        for (size_t k = 0; k < 2 && methods[k]; k++) {
            bool dup = false;
            for (size_t j = 0; j < want; j++)
                dup = dup || strcmp(seen[j], methods[k]) == 0;
            if (!dup && want <= NROUTES)
                seen[want++] = methods[k];
            FUZZ_CHECK(listed_in(m->allow, methods[k]));
        }
    }
    snprintf(copy, sizeof(copy), "%s", m->allow);
    for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
        listed++;
    FUZZ_CHECK(listed == want);
}

/* The route the rules pick for method and path: the method-matching route with the most
 * literal segments, the first in table order on a tie (the router keeps the first best). */
static const struct ms_route *ref_match(const char *method, const struct segs *path)
{
    const struct ms_route *best = NULL;
    int best_score = -1;

    for (size_t i = 0; i < NROUTES; i++) {
        int score = ref_score(routes[i].pattern, path);
        if (score > best_score && ref_method_matches(routes[i].method, method)) {
            best = &routes[i];
            best_score = score;
        }
    }
    return best;
}

/* Parameters: the pattern's names, in order, each bound to the whole path segment at its
 * position, pointing into the caller's buffer. */
static void check_params(const struct ms_match *m, const char *buf, size_t len, const char *decoded,
                         const struct segs *path)
{
    char copy[128];
    struct segs pat;
    size_t k = 0;

    snprintf(copy, sizeof(copy), "%s", m->route->pattern);
    split(copy, &pat);
    for (size_t i = 0; i < pat.n; i++) {
        const struct ms_param *p;
        size_t off, vlen;
        if (pat.v[i][0] != '{')
            continue;
        FUZZ_CHECK(k < m->nparams);
        p = &m->params[k++];
        vlen = strlen(p->value);
        FUZZ_CHECK(strncmp(p->name, pat.v[i] + 1, strlen(p->name)) == 0);
        FUZZ_CHECK(pat.v[i][strlen(p->name) + 1] == '}');
        FUZZ_CHECK(p->value >= buf && p->value + vlen <= buf + len);
        FUZZ_CHECK(vlen > 0 && !strchr(p->value, '/'));
        FUZZ_CHECK(strcmp(p->value, path->v[i]) == 0);
        off = (size_t)(p->value - buf);
        FUZZ_CHECK(memcmp(decoded + off, p->value, vlen) == 0);
        FUZZ_CHECK(off > 0 && decoded[off - 1] == '/');
        FUZZ_CHECK(decoded[off + vlen] == '/' || decoded[off + vlen] == '\0');
        FUZZ_CHECK(ms_match_param(m, p->name) == p->value);
    }
    FUZZ_CHECK(k == m->nparams);
}

static struct ms_router *router(void)
{
    static struct ms_router *r;

    if (!r) {
        r = ms_router_new();
        FUZZ_CHECK(r != NULL);
        for (size_t i = 0; i < NROUTES; i++)
            FUZZ_CHECK(ms_router_add(r, &routes[i]) == 0);
    }
    return r;
}

static void route_one(const char *method, char *decoded)
{
    size_t len = strlen(decoded);
    char *buf = strdup(decoded), *ref_buf = strdup(decoded);
    struct ms_req req = {.method = method, .url = decoded, .request_id = "fuzz"};
    struct ms_res res = {.request_id = req.request_id};
    struct segs path;
    const struct ms_route *want;
    enum ms_match_result rc;

    FUZZ_CHECK(buf && ref_buf);
    split(ref_buf, &path);
    want = ref_match(method, &path);
    rc = ms_router_match(router(), method, buf, &req.match);
    check_allow(&req.match, &path);
    if (rc == MS_MATCH_OK) {
        FUZZ_CHECK(want && req.match.route);
        FUZZ_CHECK(strcmp(req.match.route->pattern, want->pattern) == 0);
        FUZZ_CHECK(strcmp(req.match.route->method, want->method) == 0);
        FUZZ_CHECK(req.match.route->handler == want->handler);
        check_params(&req.match, buf, len, decoded, &path);
        req.route = req.match.route->pattern;
        req.match.route->handler(&req, &res);
        FUZZ_CHECK(res.status == 0 && res.body == NULL);
    } else {
        FUZZ_CHECK(!want && !req.match.route && req.match.nparams == 0);
        FUZZ_CHECK((rc == MS_MATCH_BAD_METHOD) == (req.match.allow[0] != '\0'));
        FUZZ_CHECK(!listed_in(req.match.allow, method));
    }
    ms_res_release(&res);
    free(ref_buf);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    char *nl = strchr(text, '\n');
    const char *method = nl ? text : "GET";
    char *url = nl ? nl + 1 : text;
    size_t len;

    if (nl)
        *nl = '\0';
    url[strcspn(url, "?")] = '\0';
    len = unescape(NULL, NULL, url);
    FUZZ_CHECK(len == strlen(url));
    route_one(method, url);
    free(text);
    return 0;
}
