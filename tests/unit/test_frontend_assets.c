/* The storefront's file rules (services/frontend/assets.c, compiled in here, over a table of its
 * own): exact look-up only, content types by extension, and If-None-Match matching. */
#include <check.h>
#include <string.h>

#include "../../services/frontend/assets.c"
#include "runner.h"

static const unsigned char page[] = "<!doctype html>";
static const unsigned char script[] = "\"use strict\";";

const struct frontend_asset frontend_assets[] = {
    {"/index.html", page, sizeof(page) - 1, "\"aaaa000011112222\"", "aaaa000011112222"},
    {"/assets/app.js", script, sizeof(script) - 1, "\"bbbb000011112222\"", "bbbb000011112222"},
};
const size_t frontend_assets_len = sizeof(frontend_assets) / sizeof(frontend_assets[0]);

#define PAGE_TAG "\"aaaa000011112222\""

START_TEST(test_assets_find_exact_path)
{
    const struct frontend_asset *a = frontend_asset_find("/assets/app.js");

    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->path, "/assets/app.js");
    ck_assert_ptr_eq(frontend_asset_find("/index.html"), &frontend_assets[0]);
}
END_TEST

/* Only the exact key: no normalising, no prefix, no case folding, nothing from a disk. */
START_TEST(test_assets_find_nothing_else)
{
    static const char *const misses[] = {
        "/assets/../index.html",
        "/assets/./app.js",
        "//assets/app.js",
        "/assets/app.js/",
        "/assets/APP.JS",
        "/assets/app",
        "/assets/app.js ",
        "assets/app.js",
        "/assets/",
        "/",
        "",
        "/etc/passwd",
        "/index.html%00",
        "/assets/app.jsx",
    };

    for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++)
        ck_assert_msg(frontend_asset_find(misses[i]) == NULL, "%s found", misses[i]);
    ck_assert_ptr_null(frontend_asset_find(NULL));
}
END_TEST

START_TEST(test_assets_content_types)
{
    ck_assert_str_eq(frontend_content_type("/index.html"), "text/html; charset=utf-8");
    ck_assert_str_eq(frontend_content_type("/assets/style.css"), "text/css; charset=utf-8");
    ck_assert_str_eq(frontend_content_type("/assets/app.js"), "text/javascript; charset=utf-8");
    ck_assert_str_eq(frontend_content_type("/images/products/a.svg"), "image/svg+xml");
    ck_assert_str_eq(frontend_content_type("/config.json"), "application/json");
    ck_assert_str_eq(frontend_content_type("/assets/logo.PNG"), "image/png");
}
END_TEST

/* No extension, an unknown one, or a dot only in a directory name: never guessed. */
START_TEST(test_assets_unknown_type_is_octet_stream)
{
    ck_assert_str_eq(frontend_content_type("/assets/README"), "application/octet-stream");
    ck_assert_str_eq(frontend_content_type("/assets/x.exe"), "application/octet-stream");
    ck_assert_str_eq(frontend_content_type("/v1.js/readme"), "application/octet-stream");
    ck_assert_str_eq(frontend_content_type("/assets/app.js.bak"), "application/octet-stream");
}
END_TEST

START_TEST(test_etag_matches_same_tag)
{
    ck_assert(frontend_etag_matches(PAGE_TAG, PAGE_TAG));
}
END_TEST

START_TEST(test_etag_matches_weak_form)
{
    ck_assert(frontend_etag_matches("W/" PAGE_TAG, PAGE_TAG));
}
END_TEST

START_TEST(test_etag_matches_in_list)
{
    ck_assert(frontend_etag_matches("\"x\", W/\"y\"," PAGE_TAG, PAGE_TAG));
    ck_assert(frontend_etag_matches("  \"x\" ,\t" PAGE_TAG "  ", PAGE_TAG));
}
END_TEST

START_TEST(test_etag_matches_star)
{
    ck_assert(frontend_etag_matches("*", PAGE_TAG));
    ck_assert(frontend_etag_matches(" * ", PAGE_TAG));
}
END_TEST

START_TEST(test_etag_other_tags_do_not_match)
{
    ck_assert(!frontend_etag_matches(NULL, PAGE_TAG));
    ck_assert(!frontend_etag_matches("", PAGE_TAG));
    ck_assert(!frontend_etag_matches("\"bbbb000011112222\"", PAGE_TAG));
    ck_assert(!frontend_etag_matches("\"aaaa00001111222\"", PAGE_TAG));   /* a prefix */
    ck_assert(!frontend_etag_matches("\"aaaa0000111122223\"", PAGE_TAG)); /* longer */
    ck_assert(!frontend_etag_matches("\"AAAA000011112222\"", PAGE_TAG));  /* case matters */
}
END_TEST

/* A malformed header is no match (the client gets the whole file), never a false 304. */
START_TEST(test_etag_malformed_lists_do_not_match)
{
    ck_assert(!frontend_etag_matches("aaaa000011112222", PAGE_TAG));     /* unquoted */
    ck_assert(!frontend_etag_matches("\"aaaa000011112222", PAGE_TAG));   /* unclosed */
    ck_assert(!frontend_etag_matches("\"x\"junk, " PAGE_TAG, PAGE_TAG)); /* junk after a tag */
    ck_assert(!frontend_etag_matches("*, " PAGE_TAG "x", PAGE_TAG));
    ck_assert(!frontend_etag_matches("w/" PAGE_TAG, PAGE_TAG)); /* W/ is case-sensitive */
}
END_TEST

static Suite *frontend_assets_suite(void)
{
    Suite *s = suite_create("frontend_assets");
    TCase *files = tcase_create("files"), *tags = tcase_create("etags");

    tcase_add_test(files, test_assets_find_exact_path);
    tcase_add_test(files, test_assets_find_nothing_else);
    tcase_add_test(files, test_assets_content_types);
    tcase_add_test(files, test_assets_unknown_type_is_octet_stream);
    suite_add_tcase(s, files);
    tcase_add_test(tags, test_etag_matches_same_tag);
    tcase_add_test(tags, test_etag_matches_weak_form);
    tcase_add_test(tags, test_etag_matches_in_list);
    tcase_add_test(tags, test_etag_matches_star);
    tcase_add_test(tags, test_etag_other_tags_do_not_match);
    tcase_add_test(tags, test_etag_malformed_lists_do_not_match);
    suite_add_tcase(s, tags);
    return s;
}

int main(void)
{
    return ms_test_main(frontend_assets_suite(), true);
}
