/* Random numbers: bounds, UUID shape, and no repeated sequences across fork. */
#include <check.h>
#include <regex.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ms/rand.h"
#include "runner.h"

START_TEST(test_rand_below_stays_below_its_bound)
{
    for (int i = 0; i < 100000; i++)
        ck_assert_uint_lt(ms_rand_below(7), 7);
}
END_TEST

START_TEST(test_uuid4_has_the_version_4_layout)
{
    char id[MS_UUID_LEN + 1];
    regex_t re;

    ck_assert_int_eq(
        regcomp(&re, "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                REG_EXTENDED | REG_NOSUB),
        0);
    for (int i = 0; i < 1000; i++) {
        ms_uuid4(id, sizeof(id));
        ck_assert_int_eq(regexec(&re, id, 0, NULL, 0), 0);
    }
    regfree(&re);
}
END_TEST

START_TEST(test_uuid4_differs_each_time)
{
    char a[MS_UUID_LEN + 1], b[MS_UUID_LEN + 1];

    ms_uuid4(a, sizeof(a));
    ms_uuid4(b, sizeof(b));
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(test_uuid4_is_cut_short_in_a_small_buffer)
{
    char id[MS_UUID_LEN + 1], small[9] = "xxxxxxxx";

    memset(id, 'x', sizeof(id));
    ms_uuid4(small, sizeof(small));
    ck_assert_uint_eq(strlen(small), 8);
    ck_assert_uint_eq(strspn(small, "0123456789abcdef"), 8);
    ms_uuid4(id, 0); /* writes nothing */
    ck_assert_int_eq(id[0], 'x');
}
END_TEST

/* Two children forked after the parent drew a number must not draw the same numbers. */
START_TEST(test_forked_children_do_not_repeat_each_other)
{
    uint64_t drawn[2];
    int fds[2][2];

    (void)ms_rand64(); /* the parent's state is seeded and would be copied */
    for (int c = 0; c < 2; c++) {
        ck_assert_int_eq(pipe(fds[c]), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            uint64_t v = ms_rand64();
            _exit(write(fds[c][1], &v, sizeof(v)) == sizeof(v) ? 0 : 1);
        }
        ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
        ck_assert_int_eq(read(fds[c][0], &drawn[c], sizeof(drawn[c])), sizeof(drawn[c]));
        close(fds[c][0]);
        close(fds[c][1]);
    }
    ck_assert(drawn[0] != drawn[1]);
}
END_TEST

static Suite *rand_suite(void)
{
    Suite *s = suite_create("rand");
    TCase *tc = tcase_create("rand");

    tcase_add_test(tc, test_rand_below_stays_below_its_bound);
    tcase_add_test(tc, test_uuid4_has_the_version_4_layout);
    tcase_add_test(tc, test_uuid4_differs_each_time);
    tcase_add_test(tc, test_uuid4_is_cut_short_in_a_small_buffer);
    tcase_add_test(tc, test_forked_children_do_not_repeat_each_other);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ms_test_main(rand_suite(), true);
}
