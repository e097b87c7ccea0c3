/* What a handler reads from its request, and the readers that answer 4xx themselves. */
#include "ms/req.h"

#include <microhttpd.h>
#include <stdint.h>
#include <string.h>

#include "ms/err.h"
#include "ms/json.h"
#include "ms/res.h"

const char *ms_req_param(const struct ms_req *req, const char *name)
{
    return ms_match_param(&req->match, name);
}

const char *ms_req_query(const struct ms_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *ms_req_header(const struct ms_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int ms_req_query_ll_or_400(struct ms_req *req, struct ms_res *res, const char *name, long long def,
                           long long min, long long max, long long *out)
{
    const char *v = ms_req_query(req, name);

    if (!v) {
        *out = def;
        return 0;
    }
    if (ms_parse_ll(v, min, max, out) == 0)
        return 0;
    ms_res_error(res, MS_EINVAL, "query parameter %s must be an integer from %lld to %lld", name,
                 min, max);
    return -1;
}

int ms_req_id_or_4xx(struct ms_req *req, struct ms_res *res, const char *name, long long max,
                     long long *out)
{
    const char *v = ms_req_param(req, name);

    if (ms_parse_ll(v, 1, INT64_MAX, out) != 0) {
        ms_res_error(res, MS_EINVAL, "%s must be a positive integer", name);
        return -1;
    }
    if (*out > max) {
        ms_res_error(res, MS_ENOTFOUND, "no such %s", name);
        return -1;
    }
    return 0;
}

struct arg_scan {
    const char *allowed;
    const char *unknown;  /* the first argument not allowed */
    const char *repeated; /* the first allowed argument given twice */
    const char *bare;     /* the first allowed argument without "=" ("?limit") */
    const char *seen[16]; /* allowed arguments met so far */
    size_t nseen;
};

static bool listed(const char *list, const char *key)
{
    size_t klen = strlen(key);

    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == klen && strncmp(p, key, len) == 0)
            return true;
        p += len;
        p += *p == ',';
    }
    return false;
}

static enum MHD_Result scan_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct arg_scan *scan = cls;

    (void)kind;
    if (!listed(scan->allowed, key)) {
        scan->unknown = scan->unknown ? scan->unknown : key;
        return MHD_YES;
    }
    for (size_t i = 0; i < scan->nseen; i++)
        if (strcmp(scan->seen[i], key) == 0 && !scan->repeated)
            scan->repeated = key;
    if (scan->nseen < sizeof(scan->seen) / sizeof(scan->seen[0]))
        scan->seen[scan->nseen++] = key;
    /* MHD gives "?limit" a NULL value and ms_req_query then reads it as absent, while
     * "?limit=" is an empty value the readers refuse: the two must mean the same */
    if (!value && !scan->bare)
        scan->bare = key;
    return MHD_YES;
}

int ms_req_query_only_or_400(struct ms_req *req, struct ms_res *res, const char *allowed)
{
    struct arg_scan scan = {.allowed = allowed};

    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, scan_arg, &scan);
    if (scan.unknown)
        ms_res_error(res, MS_EINVAL, "unknown query parameter %.64s (expected: %s)", scan.unknown,
                     allowed);
    else if (scan.repeated)
        ms_res_error(res, MS_EINVAL, "query parameter %s is given twice", scan.repeated);
    else if (scan.bare)
        ms_res_error(res, MS_EINVAL, "query parameter %s has no value", scan.bare);
    return scan.unknown || scan.repeated || scan.bare;
}
