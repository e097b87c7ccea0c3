/* The frontend service over real HTTP: the page and every file it names, with content types,
 * strong ETags and 304s, caching rules, HEAD, 404s, path-traversal attempts sent byte for byte,
 * the product images the catalog names, the page's settings, the API reference (its page and
 * every OpenAPI document of docs/api, byte for byte), and the probes every service has. */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <netinet/in.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bytes.h"
#include "http.h"
#include "runner.h"

static struct ms_test_service fe;

static void stack_up(void)
{
    ck_assert_int_eq(ms_test_service_start(&fe, "frontend", NULL), 0);
}

static void stack_down(void)
{
    ms_test_service_stop(&fe, SIGTERM, 5000);
}

/* ---- helpers ---- */

/* GET (or HEAD) path with extra headers (NULL-terminated, may be NULL); asserts the status. */
static void fetch(const char *method, const char *path, const char *const *headers, long want,
                  struct ms_test_response *r)
{
    char url[10240]; /* room for a request line over its limit */

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fe.port, path);
    ck_assert_int_eq(ms_test_http(method, url, NULL, headers, 5000, r), 0);
    ck_assert_msg(r->status == want, "%s %s: %ld, expected %ld: %.200s", method, path, r->status,
                  want, r->body);
}

/* Asserts that header name of r is want. */
static void expect_header(const struct ms_test_response *r, const char *name, const char *want)
{
    char *v = ms_test_header(r, name);

    ck_assert_msg(v != NULL, "no %s header in:\n%s", name, r->headers);
    ck_assert_str_eq(v, want);
    free(v);
}

/* The ETag of r (malloc'd), asserted to be a strong tag: quoted, no W/. */
static char *strong_etag(const struct ms_test_response *r)
{
    char *tag = ms_test_header(r, "ETag");
    size_t n = tag ? strlen(tag) : 0;

    ck_assert_msg(tag != NULL, "no ETag in:\n%s", r->headers);
    ck_assert_msg(n > 2 && tag[0] == '"' && tag[n - 1] == '"', "not a strong ETag: %s", tag);
    return tag;
}

/* Sends raw, exactly these bytes (no client normalises the path), and returns the status of
 * the answer (0 when none came). The request must ask for Connection: close. */
static int raw_status(const char *raw)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fe.port)};
    struct timeval tv = {.tv_sec = 5};
    char buf[4096];
    size_t got = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0), status = 0;

    ck_assert_int_ge(fd, 0);
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    ck_assert_int_eq(send(fd, raw, strlen(raw), 0), (ssize_t)strlen(raw));
    while (got < sizeof(buf) - 1 && (n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(fd);
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
        return 0;
    ck_assert_msg(strstr(buf, "<!doctype html>") == NULL && strstr(buf, "use strict") == NULL,
                  "a file came back for %s", raw);
    return status;
}

/* The status of GET target (sent as is) from a raw socket. */
static int raw_get(const char *target)
{
    char req[1024];

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n",
             target);
    return raw_status(req);
}

/* The n-th "/assets/NAME?v=VERSION" reference in the page: NAME and VERSION into the buffers.
 * Returns 0, or -1 when there are fewer. */
static int page_asset(const char *page, int n, char *name, size_t ncap, char *ver, size_t vcap)
{
    regex_t re;
    regmatch_t m[3];
    const char *p = page;
    int rc = -1;

    ck_assert_int_eq(regcomp(&re, "\"/assets/([a-z0-9._-]+)\\?v=([0-9a-f]+)\"", REG_EXTENDED), 0);
    for (int i = 0; regexec(&re, p, 3, m, 0) == 0; i++, p += m[0].rm_eo) {
        if (i < n)
            continue;
        snprintf(name, ncap, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), p + m[1].rm_so);
        snprintf(ver, vcap, "%.*s", (int)(m[2].rm_eo - m[2].rm_so), p + m[2].rm_so);
        rc = 0;
        break;
    }
    regfree(&re);
    return rc;
}

/* The body of GET / (malloc'd). */
static char *page_body(void)
{
    struct ms_test_response r;
    char *body;

    fetch("GET", "/", NULL, 200, &r);
    body = strdup(r.body);
    ms_test_response_free(&r);
    return body;
}

/* ---- the page ---- */

START_TEST(test_page_is_html_revalidated_with_strong_etag)
{
    struct ms_test_response r, again;
    char *tag, *tag2;

    fetch("GET", "/", NULL, 200, &r);
    expect_header(&r, "Content-Type", "text/html; charset=utf-8");
    expect_header(&r, "Cache-Control", "no-cache");
    expect_header(&r, "X-Content-Type-Options", "nosniff");
    ck_assert_ptr_nonnull(strstr(r.body, "<!doctype html>"));
    tag = strong_etag(&r);
    fetch("GET", "/index.html", NULL, 200, &again);
    tag2 = strong_etag(&again);
    ck_assert_str_eq(tag, tag2);
    ck_assert_int_eq(again.body_len, r.body_len);
    free(tag);
    free(tag2);
    ms_test_response_free(&r);
    ms_test_response_free(&again);
}
END_TEST

/* The page may run only its own files: a CSP without inline script and framing refused. */
START_TEST(test_page_has_content_security_policy)
{
    struct ms_test_response r;
    char *csp;

    fetch("GET", "/", NULL, 200, &r);
    csp = ms_test_header(&r, "Content-Security-Policy");
    ck_assert_ptr_nonnull(csp);
    ck_assert_ptr_nonnull(strstr(csp, "default-src 'self'"));
    ck_assert_ptr_nonnull(strstr(csp, "script-src 'self';"));
    ck_assert_ptr_nonnull(strstr(csp, "frame-ancestors 'none'"));
    ck_assert_ptr_null(strstr(csp, "unsafe-inline"));
    free(csp);
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_page_if_none_match_gives_304_without_body)
{
    struct ms_test_response r, nm;
    char *tag, hdr[128], len[32];

    fetch("GET", "/", NULL, 200, &r);
    tag = strong_etag(&r);
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", tag);
    fetch("GET", "/", (const char *const[]){hdr, NULL}, 304, &nm);
    ck_assert_int_eq(nm.body_len, 0);
    expect_header(&nm, "ETag", tag);
    expect_header(&nm, "Cache-Control", "no-cache");
    /* a 304's Content-Length, when sent, is that of the full answer (RFC 9110 8.6) */
    snprintf(len, sizeof(len), "%zu", r.body_len);
    expect_header(&nm, "Content-Length", len);
    ms_test_response_free(&nm);
    snprintf(hdr, sizeof(hdr), "If-None-Match: \"0000\", W/%s", tag);
    fetch("GET", "/", (const char *const[]){hdr, NULL}, 304, &nm);
    ms_test_response_free(&nm);
    fetch("GET", "/", (const char *const[]){"If-None-Match: *", NULL}, 304, &nm);
    ms_test_response_free(&nm);
    free(tag);
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_page_other_etag_gives_the_file)
{
    struct ms_test_response r;

    fetch("GET", "/", (const char *const[]){"If-None-Match: \"0123456789abcdef\"", NULL}, 200, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<!doctype html>"));
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_head_has_the_headers_of_get_and_no_body)
{
    struct ms_test_response get, head;
    char *t1, *t2, len[32];

    fetch("GET", "/", NULL, 200, &get);
    fetch("HEAD", "/", NULL, 200, &head);
    ck_assert_int_eq(head.body_len, 0);
    snprintf(len, sizeof(len), "%zu", get.body_len);
    expect_header(&head, "Content-Length", len);
    expect_header(&head, "Content-Type", "text/html; charset=utf-8");
    t1 = strong_etag(&get);
    t2 = strong_etag(&head);
    ck_assert_str_eq(t1, t2);
    free(t1);
    free(t2);
    ms_test_response_free(&get);
    ms_test_response_free(&head);
}
END_TEST

START_TEST(test_page_refuses_other_methods)
{
    struct ms_test_response r;

    fetch("POST", "/", NULL, 405, &r);
    expect_header(&r, "Allow", "GET, HEAD");
    ms_test_response_free(&r);
}
END_TEST

/* ---- the page's assets ---- */

/* Each asset the page names exists at exactly the version named, with its content type, an
 * ETag equal to that version, and a year of caching; there are a stylesheet and a script. */
START_TEST(test_every_asset_of_the_page_is_served_immutable)
{
    char *page = page_body(), name[64], ver[64], path[160], tag[80];
    int n = 0, css = 0, js = 0;

    for (; page_asset(page, n, name, sizeof(name), ver, sizeof(ver)) == 0; n++) {
        struct ms_test_response r;
        const char *ext = strrchr(name, '.');

        snprintf(path, sizeof(path), "/assets/%s?v=%s", name, ver);
        fetch("GET", path, NULL, 200, &r);
        ck_assert_int_gt(r.body_len, 0);
        expect_header(&r, "Cache-Control", "public, max-age=31536000, immutable");
        snprintf(tag, sizeof(tag), "\"%s\"", ver);
        expect_header(&r, "ETag", tag);
        ck_assert_ptr_nonnull(ext);
        if (strcmp(ext, ".css") == 0) {
            expect_header(&r, "Content-Type", "text/css; charset=utf-8");
            css++;
        } else if (strcmp(ext, ".js") == 0) {
            expect_header(&r, "Content-Type", "text/javascript; charset=utf-8");
            js++;
        } else if (strcmp(ext, ".svg") == 0) {
            expect_header(&r, "Content-Type", "image/svg+xml");
        }
        ms_test_response_free(&r);
    }
    ck_assert_int_ge(css, 1);
    ck_assert_int_ge(js, 1);
    free(page);
}
END_TEST

/* Without ?v=, or with a version that is not the current one, the bytes are the current ones
 * but must be revalidated: an old page can never pin a stale file for a year. */
START_TEST(test_asset_without_current_version_is_revalidated)
{
    char *page = page_body(), name[64], ver[64], path[160];
    struct ms_test_response r, nm;
    char hdr[128], *tag;

    ck_assert_int_eq(page_asset(page, 0, name, sizeof(name), ver, sizeof(ver)), 0);
    snprintf(path, sizeof(path), "/assets/%s", name);
    fetch("GET", path, NULL, 200, &r);
    expect_header(&r, "Cache-Control", "no-cache");
    tag = strong_etag(&r);
    ms_test_response_free(&r);
    snprintf(path, sizeof(path), "/assets/%s?v=0000000000000000", name);
    fetch("GET", path, NULL, 200, &r);
    expect_header(&r, "Cache-Control", "no-cache");
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", tag);
    fetch("GET", path, (const char *const[]){hdr, NULL}, 304, &nm);
    ms_test_response_free(&nm);
    ms_test_response_free(&r);
    free(tag);
    free(page);
}
END_TEST

START_TEST(test_unknown_files_are_404)
{
    static const char *const paths[] = {
        "/assets/nope.js", "/assets/app.js.map",        "/assets",          "/assets/",
        "/nope",           "/images/products/nope.svg", "/images/products", "/favicon.ico",
        "/index.htm",      "/assets/app.js/index.html", "/config",
    };
    struct ms_test_response r;

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        fetch("GET", paths[i], NULL, 404, &r);
        expect_header(&r, "Content-Type", "application/json");
        ck_assert_ptr_nonnull(strstr(r.body, "\"not_found\""));
        ms_test_response_free(&r);
    }
}
END_TEST

/* Traversal attempts, sent byte for byte (curl would squash the dots): every one is a 404 and
 * never a file. The files live in a table inside the binary, so there is nothing to reach. */
START_TEST(test_path_traversal_is_404)
{
    static const char *const targets[] = {
        "/assets/../index.html",
        "/assets/%2e%2e/index.html",
        "/assets/..%2findex.html",
        "/assets/%2e%2e%2f%2e%2e%2fCMakeLists.txt",
        "/assets/..%5c..%5cmain.c",
        "/images/products/../../index.html",
        "/images/products/..%2f..%2fassets%2fapp.js",
        "/../../../../etc/passwd",
        "/assets/../../../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/assets/%252e%252e/index.html",
        "/assets/app.js%00.html",
        "/index.html%00",
        "/./index.html",
        "/assets/./style.css",
        "/assets//etc/passwd",
        "/assets/.%2e/.%2e/main.c",
        "/assets/%c0%ae%c0%ae/index.html",
        "/assets/main.c",
        "/assets/frontend_assets.c",
    };

    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        int status = raw_get(targets[i]);
        ck_assert_msg(status == 404, "GET %s: %d, expected 404", targets[i], status);
    }
}
END_TEST

/* An absolute-form target (a proxy-style request) is no way around the table either. */
START_TEST(test_absolute_form_target_is_no_way_in)
{
    int status = raw_get("http://shop/../../etc/passwd");

    ck_assert_msg(status == 404 || status == 400, "absolute-form traversal: %d", status);
}
END_TEST

/* ---- product images ---- */

/* Every image_url of the seed catalog (services/product/sql) is a picture the frontend serves,
 * so the catalog grid never shows a broken image. */
START_TEST(test_every_catalog_image_is_served)
{
    FILE *f = fopen(MS_SOURCE_DIR "/services/product/sql/002_seed_catalog.sql", "r");
    char line[1024], path[256];
    regex_t re;
    regmatch_t m[2];
    int n = 0;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(regcomp(&re, "'(/images/products/[a-z0-9-]+\\.svg)'", REG_EXTENDED), 0);
    while (fgets(line, sizeof(line), f)) {
        struct ms_test_response r;

        if (regexec(&re, line, 2, m, 0) != 0)
            continue;
        snprintf(path, sizeof(path), "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
        fetch("GET", path, NULL, 200, &r);
        expect_header(&r, "Content-Type", "image/svg+xml");
        expect_header(&r, "Cache-Control", "public, max-age=86400");
        ck_assert_ptr_nonnull(strstr(r.body, "<svg"));
        free(strong_etag(&r));
        ms_test_response_free(&r);
        n++;
    }
    regfree(&re);
    fclose(f);
    ck_assert_int_eq(n, 27);
}
END_TEST

/* ---- settings and probes ---- */

START_TEST(test_config_json_has_the_default_timeouts)
{
    struct ms_test_response r;
    json_t *doc;

    fetch("GET", "/config.json", NULL, 200, &r);
    expect_header(&r, "Content-Type", "application/json");
    expect_header(&r, "Cache-Control", "no-store");
    doc = ms_test_json(&r);
    ck_assert_ptr_nonnull(doc);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "api_timeout_ms")), 5000);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "checkout_timeout_ms")), 20000);
    json_decref(doc);
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_config_json_follows_the_environment)
{
    struct ms_test_service other;
    struct ms_test_response r;
    json_t *doc;

    ck_assert_int_eq(ms_test_service_start(&other, "frontend",
                                           (const char *const[]){"API_TIMEOUT_MS=1234",
                                                                 "CHECKOUT_TIMEOUT_MS=4321", NULL}),
                     0);
    ck_assert_int_eq(ms_test_get(other.port, "/config.json", &r), 0);
    doc = ms_test_json(&r);
    ck_assert_ptr_nonnull(doc);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "api_timeout_ms")), 1234);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "checkout_timeout_ms")), 4321);
    json_decref(doc);
    ms_test_response_free(&r);
    ck_assert_int_eq(ms_test_service_stop(&other, SIGTERM, 5000), 0);
}
END_TEST

START_TEST(test_invalid_timeout_exits_2_naming_the_variable)
{
    char text[512];

    ck_assert_int_eq(ms_test_config_error("frontend",
                                          (const char *const[]){"API_TIMEOUT_MS=soon", NULL}, text,
                                          sizeof(text)),
                     2);
    ck_assert_ptr_nonnull(strstr(text, "API_TIMEOUT_MS"));
    ck_assert_int_eq(ms_test_config_error("frontend",
                                          (const char *const[]){"CHECKOUT_TIMEOUT_MS=0", NULL},
                                          text, sizeof(text)),
                     2);
    ck_assert_ptr_nonnull(strstr(text, "CHECKOUT_TIMEOUT_MS"));
}
END_TEST

START_TEST(test_probes_like_every_service)
{
    struct ms_test_response r;
    char *id;

    fetch("GET", "/health", NULL, 200, &r);
    ms_test_response_free(&r);
    fetch("GET", "/ready", NULL, 200, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"ready\""));
    expect_header(&r, "x-service-version", "v1");
    id = ms_test_header(&r, "x-request-id");
    ck_assert_ptr_nonnull(id);
    free(id);
    ms_test_response_free(&r);
}
END_TEST

/* 200s and 304s of the asset route are counted under its pattern, never the file name. */
START_TEST(test_metrics_count_files_by_route_pattern)
{
    const char *ok = "http_requests_total{service=\"frontend\",method=\"GET\","
                     "route=\"/assets/{name}\",code=\"200\"}";
    const char *nm = "http_requests_total{service=\"frontend\",method=\"GET\","
                     "route=\"/assets/{name}\",code=\"304\"}";
    char *page = page_body(), name[64], ver[64], path[160], hdr[128];
    double ok0 = ms_test_metric(fe.port, ok), nm0 = ms_test_metric(fe.port, nm);
    struct ms_test_response r;

    ck_assert_int_eq(page_asset(page, 0, name, sizeof(name), ver, sizeof(ver)), 0);
    snprintf(path, sizeof(path), "/assets/%s?v=%s", name, ver);
    snprintf(hdr, sizeof(hdr), "If-None-Match: \"%s\"", ver);
    fetch("GET", path, NULL, 200, &r);
    ms_test_response_free(&r);
    fetch("GET", path, (const char *const[]){hdr, NULL}, 304, &r);
    ms_test_response_free(&r);
    fetch("GET", path, (const char *const[]){hdr, NULL}, 304, &r);
    ms_test_response_free(&r);
    ck_assert_double_eq(ms_test_metric(fe.port, ok), (ok0 < 0 ? 0 : ok0) + 1);
    ck_assert_double_eq(ms_test_metric(fe.port, nm), (nm0 < 0 ? 0 : nm0) + 2);
    fetch("GET", "/metrics", NULL, 200, &r);
    ck_assert_ptr_null(strstr(r.body, name));
    ms_test_response_free(&r);
    free(page);
}
END_TEST

/* ---- the API reference ---- */

/* The body of GET path (malloc'd), asserted to be a 200. */
static char *body_of(const char *path)
{
    struct ms_test_response r;
    char *body;

    fetch("GET", path, NULL, 200, &r);
    body = strdup(r.body);
    ms_test_response_free(&r);
    return body;
}

/* The bytes of file path into b. */
static void read_file(const char *path, struct ms_test_bytes *b)
{
    FILE *f = fopen(path, "rb");
    char buf[4096];
    size_t n;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        ck_assert_int_eq(ms_test_bytes_add(b, buf, n), 0);
    fclose(f);
}

/* The API page is a page like the shop's: HTML, revalidated, under the same CSP, and every
 * script and stylesheet it names is served at the version it names. */
START_TEST(test_api_page_is_served_under_the_csp_with_its_assets)
{
    struct ms_test_response r;
    char *csp, name[64], ver[64], path[160];
    int n = 0;

    fetch("GET", "/api.html", NULL, 200, &r);
    expect_header(&r, "Content-Type", "text/html; charset=utf-8");
    expect_header(&r, "Cache-Control", "no-cache");
    csp = ms_test_header(&r, "Content-Security-Policy");
    ck_assert_ptr_nonnull(csp);
    ck_assert_ptr_nonnull(strstr(csp, "script-src 'self';"));
    ck_assert_ptr_null(strstr(csp, "unsafe-inline"));
    ck_assert_ptr_nonnull(strstr(r.body, "/assets/yaml.js?v="));
    ck_assert_ptr_nonnull(strstr(r.body, "/assets/apidoc.js?v="));
    ck_assert_ptr_null(strstr(r.body, "<script>")); /* no inline script: the CSP forbids it */
    for (; page_asset(r.body, n, name, sizeof(name), ver, sizeof(ver)) == 0; n++) {
        struct ms_test_response a;

        snprintf(path, sizeof(path), "/assets/%s?v=%s", name, ver);
        fetch("GET", path, NULL, 200, &a);
        expect_header(&a, "Cache-Control", "public, max-age=31536000, immutable");
        ms_test_response_free(&a);
    }
    ck_assert_int_ge(n, 4); /* style.css, apidoc.css, yaml.js, apidoc.js */
    free(csp);
    ms_test_response_free(&r);
}
END_TEST

/* Serves docs/api/name and asserts it is the file, byte for byte, as YAML, and listed on page. */
static void expect_document(const char *page, const char *name)
{
    struct ms_test_bytes want = {0};
    struct ms_test_response r;
    char path[512], link[300];

    snprintf(path, sizeof(path), "%s/docs/api/%s", MS_SOURCE_DIR, name);
    read_file(path, &want);
    snprintf(path, sizeof(path), "/api/%s", name);
    fetch("GET", path, NULL, 200, &r);
    expect_header(&r, "Content-Type", "application/yaml; charset=utf-8");
    expect_header(&r, "Cache-Control", "no-cache");
    ck_assert_msg(r.body_len == want.len && memcmp(r.body, want.data, want.len) == 0,
                  "%s is not docs/api/%s as it is now", path, name);
    snprintf(link, sizeof(link), "href=\"/api/%s\"", name);
    ck_assert_msg(strstr(page, link) != NULL, "the API page does not list %s", name);
    ms_test_bytes_free(&want);
    ms_test_response_free(&r);
}

/* Every document of docs/api is served as it is in the repository (one copy, embedded at build
 * time) and listed on the page; one per service and the shared one at least. */
START_TEST(test_every_api_document_is_served_and_listed)
{
    static const char *const needed[] = {"common.yaml",       "product.yaml",   "user.yaml",
                                         "cart.yaml",         "inventory.yaml", "order.yaml",
                                         "notification.yaml", "frontend.yaml"};
    char *page = body_of("/api.html");
    DIR *dir = opendir(MS_SOURCE_DIR "/docs/api");
    struct dirent *e;
    size_t count = 0, len;

    ck_assert_ptr_nonnull(dir);
    while ((e = readdir(dir)) != NULL) {
        len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0) {
            expect_document(page, e->d_name);
            count++;
        }
    }
    closedir(dir);
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
        ck_assert_msg(strstr(page, needed[i]) != NULL, "no %s on the API page", needed[i]);
    ck_assert_uint_ge(count, sizeof(needed) / sizeof(needed[0]));
    free(page);
}
END_TEST

START_TEST(test_unknown_api_documents_are_404)
{
    struct ms_test_response r;

    fetch("GET", "/api/no-such.yaml", NULL, 404, &r);
    expect_header(&r, "Content-Type", "application/json");
    ms_test_response_free(&r);
    fetch("GET", "/api/index.html", NULL, 404, &r);
    ms_test_response_free(&r);
    ck_assert_int_eq(raw_get("/api/../index.html"), 404);
    ck_assert_int_eq(raw_get("/api/%2e%2e%2fapi.html"), 404);
}
END_TEST

/* The limits on a request's head are the common server's, the same for every service: the
 * hostile cases check them at their exact bounds on the six services of the stack, and this
 * checks the frontend, which that stack does not run. */
START_TEST(test_heads_over_the_limits_get_414_and_431_like_every_service)
{
    static char pads[120][24];
    const char *headers[121];
    char path[9100];
    struct ms_test_response r;

    for (int i = 0; i < 120; i++) {
        snprintf(pads[i], sizeof(pads[i]), "X-Pad-%d: b", i);
        headers[i] = pads[i];
    }
    headers[120] = NULL;
    fetch("GET", "/", headers, 431, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"headers_too_large\""));
    ck_assert_ptr_nonnull(strstr(r.body, "more than 100 header fields"));
    ms_test_response_free(&r);
    snprintf(path, sizeof(path), "/?pad=");
    memset(path + 6, 'a', 9000);
    path[9006] = '\0';
    fetch("GET", path, NULL, 414, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"uri_too_long\""));
    ms_test_response_free(&r);
}
END_TEST

static Suite *frontend_suite(void)
{
    Suite *s = suite_create("frontend");
    TCase *page = tcase_create("page"), *files = tcase_create("files"), *api = tcase_create("api"),
          *ops = tcase_create("operations");

    tcase_add_unchecked_fixture(page, stack_up, stack_down);
    tcase_add_test(page, test_page_is_html_revalidated_with_strong_etag);
    tcase_add_test(page, test_page_has_content_security_policy);
    tcase_add_test(page, test_page_if_none_match_gives_304_without_body);
    tcase_add_test(page, test_page_other_etag_gives_the_file);
    tcase_add_test(page, test_head_has_the_headers_of_get_and_no_body);
    tcase_add_test(page, test_page_refuses_other_methods);
    suite_add_tcase(s, page);

    tcase_add_unchecked_fixture(files, stack_up, stack_down);
    tcase_add_test(files, test_every_asset_of_the_page_is_served_immutable);
    tcase_add_test(files, test_asset_without_current_version_is_revalidated);
    tcase_add_test(files, test_unknown_files_are_404);
    tcase_add_test(files, test_path_traversal_is_404);
    tcase_add_test(files, test_absolute_form_target_is_no_way_in);
    tcase_add_test(files, test_every_catalog_image_is_served);
    suite_add_tcase(s, files);

    tcase_add_unchecked_fixture(api, stack_up, stack_down);
    tcase_add_test(api, test_api_page_is_served_under_the_csp_with_its_assets);
    tcase_add_test(api, test_every_api_document_is_served_and_listed);
    tcase_add_test(api, test_unknown_api_documents_are_404);
    suite_add_tcase(s, api);

    tcase_add_unchecked_fixture(ops, stack_up, stack_down);
    tcase_add_test(ops, test_config_json_has_the_default_timeouts);
    tcase_add_test(ops, test_config_json_follows_the_environment);
    tcase_add_test(ops, test_invalid_timeout_exits_2_naming_the_variable);
    tcase_add_test(ops, test_probes_like_every_service);
    tcase_add_test(ops, test_metrics_count_files_by_route_pattern);
    tcase_add_test(ops, test_heads_over_the_limits_get_414_and_431_like_every_service);
    suite_add_tcase(s, ops);
    return s;
}

int main(void)
{
    return ms_test_main(frontend_suite(), true);
}
