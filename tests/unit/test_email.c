/* The one email rule (ms/email.h): what is valid, and the normal form that makes one address
 * one account however it is cased or composed (issue 14 row 9). */
#include <check.h>
#include <string.h>

#include "ms/email.h"
#include "ms/err.h"
#include "runner.h"

struct normal_case {
    const char *in;
    const char *normal;
};

static void assert_normal(const char *in, const char *want)
{
    char out[MS_EMAIL_MAX + 1];
    struct ms_verr e = {{0}};

    ck_assert_msg(ms_email_normalise(in, out, &e) == 0, "%s refused: %s", in, e.msg);
    ck_assert_str_eq(out, want);
    ck_assert(ms_email_valid(in));
}

static void assert_refused(const char *in, const char *reason)
{
    char out[MS_EMAIL_MAX + 1];
    struct ms_verr e = {{0}};

    ck_assert_msg(ms_email_normalise(in, out, &e) == MS_EINVAL, "%s accepted", in);
    ck_assert_msg(strstr(e.msg, reason) != NULL, "%s: %s", in, e.msg);
    ck_assert(!ms_email_valid(in));
}

START_TEST(test_case_and_composition_give_one_normal_form)
{
    static const struct normal_case cases[] = {
        {"ada@example.com", "ada@example.com"},
        {"  Ada@Example.COM ", "ada@example.com"},
        /* upper-case letters outside ASCII: PostgreSQL's lower() under --locale=C keeps them */
        {"JÜRGEN@example.com", "jürgen@example.com"},
        {"jürgen@example.com", "jürgen@example.com"},
        /* "ü" decomposed: u and a combining diaeresis (U+0308) */
        {"ju\xcc\x88rgen@example.com", "jürgen@example.com"},
        {"zoe\xcc\x88@example.com", "zoë@example.com"},
        {"ZOË@example.com", "zoë@example.com"},
        /* full case folding, not lower case */
        {"Straße@example.de", "strasse@example.de"},
        {"ΌΣΟΣ@example.gr", "όσοσ@example.gr"},
        {"用户@例子.公司", "用户@例子.公司"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_normal(cases[i].in, cases[i].normal);
}
END_TEST

START_TEST(test_invalid_addresses_are_refused_with_a_reason)
{
    char local[MS_EMAIL_LOCAL_MAX + 2 + 12], longest[MS_EMAIL_MAX + 2];

    assert_refused("ab", "3 to 254 bytes");
    assert_refused("   ", "3 to 254 bytes");
    assert_refused("ada", "exactly one '@'");
    assert_refused("a@b@example.com", "exactly one '@'");
    assert_refused("@example.com", "before the '@'");
    assert_refused("ada@example", "domain with a dot");
    assert_refused("ada@.example.com", "domain with a dot");
    assert_refused("ada@example..com", "domain with a dot");
    assert_refused("a da@example.com", "spaces");
    assert_refused("ada\t@example.com", "control characters");
    assert_refused("ada\x7f@example.com", "control characters");
    assert_refused("ada\xc2\x85@example.com", "control characters"); /* C1 NEL */
    assert_refused("\xff@example.com", "UTF-8");
    assert_refused("\xc3\x28@example.com", "UTF-8");
    memset(local, 'a', MS_EMAIL_LOCAL_MAX + 1);
    strcpy(local + MS_EMAIL_LOCAL_MAX + 1, "@example.com");
    assert_refused(local, "before the '@'");
    /* 255 bytes is one too many; 254 the longest */
    memset(longest, 'a', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    memcpy(longest + 10, "@example.com", 12);
    assert_refused(longest, "3 to 254 bytes");
    longest[MS_EMAIL_MAX] = '\0';
    assert_normal(longest, longest);
}
END_TEST

START_TEST(test_folding_can_take_an_address_over_the_limit)
{
    /* "İ" (U+0130) is two bytes and folds to "i" and a combining dot above (U+0307), which NFC
     * does not compose: three bytes */
    char in[MS_EMAIL_MAX + 1] = "";
    size_t len;

    strcat(in, "a@");
    while (strlen(in) + 2 <= 200)
        strcat(in, "\xc4\xb0"); /* 200 bytes, 99 of U+0130 */
    strcat(in, ".io");
    len = strlen(in);
    ck_assert_uint_le(len, MS_EMAIL_MAX);
    assert_refused(in, "3 to 254 bytes");
}
END_TEST

static Suite *email_suite(void)
{
    Suite *s = suite_create("email");
    TCase *tc = tcase_create("email");

    tcase_add_test(tc, test_case_and_composition_give_one_normal_form);
    tcase_add_test(tc, test_invalid_addresses_are_refused_with_a_reason);
    tcase_add_test(tc, test_folding_can_take_an_address_over_the_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ms_test_main(email_suite(), true);
}
