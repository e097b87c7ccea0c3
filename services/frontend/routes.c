/* The storefront's route table: the page, its versioned assets, the product images, the page's
 * settings, and the browsable API reference (the page and the OpenAPI documents of docs/api).
 * Every file comes from the embedded table, with its ETag and caching rule. */
#include <stdio.h>
#include <string.h>

#include "assets.h"
#include "frontend.h"
#include "ms/err.h"
#include "ms/req.h"
#include "ms/res.h"

/* How long a browser may keep a file without asking again: always ask for the page (a 304 is
 * cheap), a year for the exact asset version the page names, a day for the unversioned product
 * images. */
#define CACHE_REVALIDATE "no-cache"
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define CACHE_DAY "public, max-age=86400"

/* The page runs only its own files: no inline script or style, no other origin, no framing. */
#define PAGE_CSP                                                                                   \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/* Answers the file at path with its ETag: 304 when If-None-Match names it, else 200. Both carry
 * the bytes: MHD sends no body on a 304 (nor for HEAD) but a Content-Length of the full one, as
 * RFC 9110 asks of a 304 that has one. A path not in the table: 404. */
static const struct frontend_asset *answer_file(struct ms_req *req, struct ms_res *res,
                                                const char *path, const char *cache)
{
    const struct frontend_asset *a = frontend_asset_find(path);
    int status;

    if (!a) {
        ms_res_error(res, MS_ENOTFOUND, "no such file");
        return NULL;
    }
    status = frontend_etag_matches(ms_req_header(req, "If-None-Match"), a->etag) ? 304 : 200;
    ms_res_body_copy(res, status, frontend_content_type(a->path), (const char *)a->data, a->len);
    ms_res_header(res, "ETag", a->etag);
    ms_res_header(res, "Cache-Control", cache);
    ms_res_header(res, "X-Content-Type-Options", "nosniff");
    return a;
}

/* Joins prefix and the route's {name} into buf; NULL when it cannot fit (then it is no file). */
static const char *file_path(struct ms_req *req, const char *prefix, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s%s", prefix, ms_req_param(req, "name"));

    return n > 0 && (size_t)n < cap ? buf : NULL;
}

/* A page (path an .html file of the table), revalidated on every visit so a new build shows at
 * once, under the page's CSP. */
static void answer_page(struct ms_req *req, struct ms_res *res, const char *path)
{
    if (answer_file(req, res, path, CACHE_REVALIDATE)) {
        ms_res_header(res, "Content-Security-Policy", PAGE_CSP);
        ms_res_header(res, "Referrer-Policy", "no-referrer");
    }
}

/* GET / and /index.html: the shop. */
static void serve_page(struct ms_req *req, struct ms_res *res)
{
    answer_page(req, res, "/index.html");
}

/* GET /api.html: the API reference, rendered from the documents below by its own script. */
static void serve_api_page(struct ms_req *req, struct ms_res *res)
{
    answer_page(req, res, "/api.html");
}

/* GET /api/{name}: one OpenAPI document, revalidated (they change with the code). */
static void serve_api_document(struct ms_req *req, struct ms_res *res)
{
    char buf[128];

    answer_file(req, res, file_path(req, "/api/", buf, sizeof(buf)), CACHE_REVALIDATE);
}

/* GET /assets/{name}: with ?v= naming the current version (as the page does) cacheable for a
 * year; without it, or with an old version, the current bytes but revalidated. */
static void serve_asset(struct ms_req *req, struct ms_res *res)
{
    const struct frontend_asset *a;
    const char *v = ms_req_query(req, "v");
    char buf[128];

    a = frontend_asset_find(file_path(req, "/assets/", buf, sizeof(buf)));
    answer_file(req, res, a ? a->path : NULL,
                a && v && strcmp(v, a->version) == 0 ? CACHE_IMMUTABLE : CACHE_REVALIDATE);
}

/* GET /images/products/{name}: the pictures the catalog's image_url names. */
static void serve_image(struct ms_req *req, struct ms_res *res)
{
    char buf[128];

    answer_file(req, res, file_path(req, "/images/products/", buf, sizeof(buf)), CACHE_DAY);
}

/* GET /config.json: the page's settings (timeouts), from this process's environment. */
static void serve_config(struct ms_req *req, struct ms_res *res)
{
    const struct frontend_svc *svc = req->svc;

    ms_res_body_copy(res, 200, MS_CONTENT_TYPE_JSON, svc->config_json, svc->config_len);
    ms_res_header(res, "Cache-Control", "no-store");
}

const struct ms_route frontend_routes[] = {
    {"GET", "/", serve_page, 0, 0},
    {"GET", "/index.html", serve_page, 0, 0},
    {"GET", "/assets/{name}", serve_asset, 0, 0},
    {"GET", "/images/products/{name}", serve_image, 0, 0},
    {"GET", "/config.json", serve_config, 0, 0},
    {"GET", "/api.html", serve_api_page, 0, 0},
    {"GET", "/api/{name}", serve_api_document, 0, 0},
};
const size_t frontend_routes_len = sizeof(frontend_routes) / sizeof(frontend_routes[0]);
