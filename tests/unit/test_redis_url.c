/* Unit: parsing redis:// URLs into host, port and database. */
#include "ms/err.h"
#include "ms/redis.h"
#include "runner.h"

#include <check.h>

START_TEST(test_redis_url_full_form)
{
    char host[64];
    int port = 0, db = -1;

    ck_assert_int_eq(ms_redis_url_parse("redis://127.0.0.1:6380/2", host, sizeof(host), &port, &db),
                     0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_int_eq(port, 6380);
    ck_assert_int_eq(db, 2);
}
END_TEST

START_TEST(test_redis_url_defaults_port_and_db)
{
    char host[64];
    int port = 0, db = -1;

    ck_assert_int_eq(ms_redis_url_parse("redis://cache", host, sizeof(host), &port, &db), 0);
    ck_assert_str_eq(host, "cache");
    ck_assert_int_eq(port, 6379);
    ck_assert_int_eq(db, 0);
    ck_assert_int_eq(ms_redis_url_parse("redis://cache:7000/", host, sizeof(host), &port, &db), 0);
    ck_assert_int_eq(port, 7000);
    ck_assert_int_eq(db, 0);
}
END_TEST

START_TEST(test_redis_url_bare_host_port)
{
    char host[64];
    int port = 0, db = -1;

    ck_assert_int_eq(ms_redis_url_parse("redis-cart:6379", host, sizeof(host), &port, &db), 0);
    ck_assert_str_eq(host, "redis-cart");
    ck_assert_int_eq(port, 6379);
    ck_assert_int_eq(db, 0);
}
END_TEST

START_TEST(test_redis_url_bracketed_ipv6)
{
    char host[64];
    int port = 0, db = -1;

    ck_assert_int_eq(ms_redis_url_parse("redis://[::1]:6390/1", host, sizeof(host), &port, &db), 0);
    ck_assert_str_eq(host, "::1");
    ck_assert_int_eq(port, 6390);
    ck_assert_int_eq(db, 1);
}
END_TEST

static const char *const bad_urls[] = {
    "",
    "redis://",
    "redis://:6379",
    "rediss://host:6379",
    "http://host:6379",
    "redis://host:",
    "redis://host:0",
    "redis://host:65536",
    "redis://host:99999999999999999999",
    "redis://host:-1",
    "redis://host:+5",
    "redis://host:63 79",
    "redis://host:6379/x",
    "redis://host:6379/-1",
    "redis://host:6379/1/2",
    "redis://host:6379?db=1",
    "redis://user:secret@host:6379",
    "redis://ho st:6379",
    "redis://[::1:6379",
    "redis://[]:6379",
};

START_TEST(test_redis_url_rejects_malformed)
{
    char host[64] = "unchanged";
    int port = 1234, db = 5;

    ck_assert_msg(ms_redis_url_parse(bad_urls[_i], host, sizeof(host), &port, &db) == MS_EINVAL,
                  "accepted \"%s\"", bad_urls[_i]);
    ck_assert_int_eq(port, 1234);
    ck_assert_int_eq(db, 5);
}
END_TEST

START_TEST(test_redis_url_rejects_host_longer_than_buffer)
{
    char host[8];
    int port, db;

    ck_assert_int_eq(ms_redis_url_parse("redis://abcdefgh:1", host, sizeof(host), &port, &db),
                     MS_EINVAL);
    ck_assert_int_eq(ms_redis_url_parse("redis://abcdefg:1", host, sizeof(host), &port, &db), 0);
    ck_assert_str_eq(host, "abcdefg");
    ck_assert_int_eq(ms_redis_url_parse(NULL, host, sizeof(host), &port, &db), MS_EINVAL);
}
END_TEST

static Suite *redis_url_suite(void)
{
    Suite *s = suite_create("redis_url");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, test_redis_url_full_form);
    tcase_add_test(tc, test_redis_url_defaults_port_and_db);
    tcase_add_test(tc, test_redis_url_bare_host_port);
    tcase_add_test(tc, test_redis_url_bracketed_ipv6);
    tcase_add_loop_test(tc, test_redis_url_rejects_malformed, 0,
                        (int)(sizeof(bad_urls) / sizeof(bad_urls[0])));
    tcase_add_test(tc, test_redis_url_rejects_host_longer_than_buffer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ms_test_main(redis_url_suite(), true);
}
