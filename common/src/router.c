/* The router: patterns are split into segments once, at registration; a request path is split
 * in place and compared segment by segment against each route. Tables are small (a dozen
 * routes), so a linear scan beats any cleverer structure in both speed and clarity. */
#include "ms/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms/err.h"

struct segment {
    const char *text; /* literal text, or the parameter name; points into pattern_copy */
    bool is_param;
};

struct compiled_route {
    struct ms_route route;
    char *pattern_copy;
    struct segment segs[MS_ROUTE_MAX_SEGMENTS];
    size_t nsegs;
};

struct ms_router {
    struct compiled_route routes[MS_ROUTE_MAX];
    size_t nroutes;
};

struct ms_router *ms_router_new(void)
{
    return calloc(1, sizeof(struct ms_router));
}

void ms_router_free(struct ms_router *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nroutes; i++)
        free(r->routes[i].pattern_copy);
    free(r);
}

/* Splits s in place at '/', skipping empty segments. Returns the count, or -1 if over max. */
static int split_path(char *s, char **segs, int max)
{
    int n = 0;
    char *save = NULL;

    for (char *tok = strtok_r(s, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (n == max)
            return -1;
        segs[n++] = tok;
    }
    return n;
}

static int compile_segment(char *text, struct segment *seg, size_t *nparams)
{
    size_t len = strlen(text);

    if (text[0] != '{') {
        if (strchr(text, '{') || strchr(text, '}'))
            return MS_EINVAL;
        *seg = (struct segment){.text = text, .is_param = false};
        return 0;
    }
    if (len < 3 || text[len - 1] != '}' || ++*nparams > MS_ROUTE_MAX_PARAMS)
        return MS_EINVAL;
    text[len - 1] = '\0';
    *seg = (struct segment){.text = text + 1, .is_param = true};
    return strpbrk(seg->text, "{}") ? MS_EINVAL : 0;
}

static int compile(struct compiled_route *c, const struct ms_route *route)
{
    char *segs[MS_ROUTE_MAX_SEGMENTS];
    size_t nparams = 0;
    int n;

    if (!route->pattern || route->pattern[0] != '/' || !route->method || !route->handler)
        return MS_EINVAL;
    c->pattern_copy = strdup(route->pattern);
    if (!c->pattern_copy)
        return MS_ENOMEM;
    n = split_path(c->pattern_copy, segs, MS_ROUTE_MAX_SEGMENTS);
    if (n < 0)
        return MS_EINVAL;
    for (int i = 0; i < n; i++)
        if (compile_segment(segs[i], &c->segs[i], &nparams))
            return MS_EINVAL;
    c->nsegs = (size_t)n;
    c->route = *route;
    return 0;
}

static bool same_shape(const struct compiled_route *a, const struct compiled_route *b)
{
    if (a->nsegs != b->nsegs || strcmp(a->route.method, b->route.method) != 0)
        return false;
    for (size_t i = 0; i < a->nsegs; i++) {
        if (a->segs[i].is_param != b->segs[i].is_param)
            return false;
        if (!a->segs[i].is_param && strcmp(a->segs[i].text, b->segs[i].text) != 0)
            return false;
    }
    return true;
}

int ms_router_add(struct ms_router *r, const struct ms_route *route)
{
    struct compiled_route *c;
    int rc;

    if (r->nroutes == MS_ROUTE_MAX)
        return MS_ETOOBIG;
    c = &r->routes[r->nroutes];
    memset(c, 0, sizeof(*c));
    rc = compile(c, route);
    for (size_t i = 0; rc == 0 && i < r->nroutes; i++)
        if (same_shape(&r->routes[i], c))
            rc = MS_EINVAL;
    if (rc) {
        free(c->pattern_copy);
        c->pattern_copy = NULL;
        return rc;
    }
    r->nroutes++;
    return 0;
}

/* How well the path fits the route: -1 for no match, else the number of literal segments. */
static int path_score(const struct compiled_route *c, char *const *segs, size_t n)
{
    int literals = 0;

    if (c->nsegs != n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (c->segs[i].is_param)
            continue;
        if (strcmp(c->segs[i].text, segs[i]) != 0)
            return -1;
        literals++;
    }
    return literals;
}

static bool method_matches(const char *route_method, const char *method)
{
    if (strcmp(route_method, method) == 0)
        return true;
    return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

static bool allow_has(const char *allow, const char *method)
{
    size_t mlen = strlen(method);

    for (const char *p = allow; *p;) {
        size_t len = strcspn(p, ",");
        if (len == mlen && strncmp(p, method, mlen) == 0)
            return true;
        p += len;
        p += strspn(p, ", ");
    }
    return false;
}

/* Appends method to the comma-separated Allow list unless it is there already (several
 * patterns may match one path). */
static void allow_add(char *allow, size_t cap, const char *method)
{
    size_t len = strlen(allow), mlen = strlen(method);

    if (allow_has(allow, method) || len + mlen + 3 > cap)
        return;
    if (len) {
        allow[len++] = ',';
        allow[len++] = ' ';
    }
    memcpy(allow + len, method, mlen + 1); /* on every match, so no snprintf */
}

static void bind_params(const struct compiled_route *c, char *const *segs, struct ms_match *m)
{
    m->route = &c->route;
    m->nparams = 0;
    for (size_t i = 0; i < c->nsegs; i++)
        if (c->segs[i].is_param)
            m->params[m->nparams++] = (struct ms_param){.name = c->segs[i].text, .value = segs[i]};
}

enum ms_match_result ms_router_match(const struct ms_router *r, const char *method, char *path,
                                     struct ms_match *m)
{
    char *segs[MS_ROUTE_MAX_SEGMENTS];
    const struct compiled_route *best = NULL;
    int best_score = -1, n;
    bool path_known = false;

    memset(m, 0, sizeof(*m));
    n = split_path(path, segs, MS_ROUTE_MAX_SEGMENTS);
    for (size_t i = 0; n >= 0 && i < r->nroutes; i++) {
        const struct compiled_route *c = &r->routes[i];
        int score = path_score(c, segs, (size_t)n);

        if (score < 0)
            continue;
        path_known = true;
        allow_add(m->allow, sizeof(m->allow), c->route.method);
        if (strcmp(c->route.method, "GET") == 0)
            allow_add(m->allow, sizeof(m->allow), "HEAD");
        if (method_matches(c->route.method, method) && score > best_score) {
            best = c;
            best_score = score;
        }
    }
    if (best) {
        bind_params(best, segs, m);
        return MS_MATCH_OK;
    }
    return path_known ? MS_MATCH_BAD_METHOD : MS_MATCH_NOT_FOUND;
}

const char *ms_match_param(const struct ms_match *m, const char *name)
{
    for (size_t i = 0; i < m->nparams; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return m->params[i].value;
    return NULL;
}
