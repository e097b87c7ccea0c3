/* The notification service's event validation (services/notification/model.c, compiled in here):
 * which stream entries are order.confirmed events, and why the others are not. */
#include <check.h>
#include <string.h>

#include "../../services/notification/model.c"
#include "runner.h"

#define CREATED_AT "2024-05-01T12:30:00.123Z"

enum { FIELDS_MAX = 16 };

/* A stream entry's field list, as hiredis hands it over, built from name/value strings. */
struct fields {
    redisReply items[FIELDS_MAX];
    redisReply *ptrs[FIELDS_MAX];
    redisReply array;
};

static const redisReply *make_fields(struct fields *f, const char *const *kv)
{
    size_t n = 0;

    for (; kv[n]; n++) {
        ck_assert_int_lt(n, FIELDS_MAX);
        f->items[n] =
            (redisReply){.type = REDIS_REPLY_STRING, .str = (char *)kv[n], .len = strlen(kv[n])};
        f->ptrs[n] = &f->items[n];
    }
    f->array = (redisReply){.type = REDIS_REPLY_ARRAY, .elements = n, .element = f->ptrs};
    return &f->array;
}

/* A valid event with one field's value replaced (NULL name: none). */
static int parse_with(const char *name, const char *value, struct order_event *ev,
                      struct ms_verr *e)
{
    const char *kv[] = {"type",        "order.confirmed",
                        "order_id",    "3f1c9a2e-77aa-4b1e",
                        "user_id",     "42",
                        "email",       "ada@example.com",
                        "total_cents", "4599",
                        "created_at",  CREATED_AT,
                        NULL};
    struct fields f;

    for (size_t i = 0; name && kv[i]; i += 2)
        if (strcmp(kv[i], name) == 0)
            kv[i + 1] = value;
    return order_event_parse(make_fields(&f, kv), ev, e);
}

static void assert_refused(const char *name, const char *value)
{
    struct order_event ev;
    struct ms_verr e = {{0}};

    ck_assert_msg(parse_with(name, value, &ev, &e) == MS_EINVAL, "%s=\"%s\" was accepted", name,
                  value);
    ck_assert_ptr_nonnull(strstr(e.msg, name));
    /* the reason is logged: it names the field and never quotes what was sent (short values
     * could match the message's own words by chance) */
    ck_assert_msg(strlen(value) < 6 || !strstr(e.msg, value), "%s: reason quotes the value", name);
}

START_TEST(test_valid_event_parses_and_borrows_its_strings)
{
    struct order_event ev;
    struct ms_verr e;

    ck_assert_int_eq(parse_with(NULL, NULL, &ev, &e), 0);
    ck_assert_str_eq(ev.order_id, "3f1c9a2e-77aa-4b1e");
    ck_assert_int_eq(ev.user_id, 42);
    ck_assert_str_eq(ev.email, "ada@example.com");
}
END_TEST

/* The order service's three event types, each with what it tells the customer. */
START_TEST(test_event_types_say_confirmed_or_backordered)
{
    struct order_event ev;
    struct ms_verr e = {{0}};

    ck_assert_int_eq(parse_with(NULL, NULL, &ev, &e), 0);
    ck_assert_int_eq(ev.kind, NOTIFY_CONFIRMED);
    ck_assert_int_eq(parse_with("type", "order.filled", &ev, &e), 0);
    ck_assert_int_eq(ev.kind, NOTIFY_CONFIRMED);
    ck_assert_int_eq(parse_with("type", "order.backordered", &ev, &e), 0);
    ck_assert_int_eq(ev.kind, NOTIFY_BACKORDERED);
    assert_refused("type", "order.shipped");
    assert_refused("type", "order.filled ");
}
END_TEST

START_TEST(test_field_order_does_not_matter_and_extra_fields_are_ignored)
{
    const char *kv[] = {"source",  "checkout",        "created_at",  CREATED_AT,
                        "email",   "b@example.com",   "total_cents", "0",
                        "user_id", "2147483647",      "order_id",    "x",
                        "type",    "order.confirmed", NULL};
    struct fields f;
    struct order_event ev;
    struct ms_verr e;

    ck_assert_int_eq(order_event_parse(make_fields(&f, kv), &ev, &e), 0);
    ck_assert_int_eq(ev.user_id, 2147483647);
    ck_assert_str_eq(ev.order_id, "x");
}
END_TEST

START_TEST(test_rfc3339_variants_are_accepted)
{
    static const char *const good[] = {
        "2024-05-01T12:30:00Z",        "2024-05-01t12:30:00z",      "2024-05-01T12:30:00.1Z",
        "2024-05-01T12:30:00.123456Z", "2024-05-01T12:30:00+02:00", "2024-12-31T23:59:60-05:30",
        "2024-05-01T12:30:00.5-00:00",
    };
    struct order_event ev;
    struct ms_verr e;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(parse_with("created_at", good[i], &ev, &e) == 0, "%s: %s", good[i], e.msg);
}
END_TEST

START_TEST(test_malformed_times_are_refused)
{
    static const char *const bad[] = {
        "",
        "2024-05-01",
        "2024-05-01 12:30:00Z",
        "2024-05-01T12:30:00",
        "2024-05-01T12:30:00.Z",
        "2024-05-01T12:30:00Zjunk",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:60:00Z",
        "2024-00-10T00:00:00Z",
        "2024-05-32T00:00:00Z",
        "2024-05-01T12:30:00+2:00",
        "2024-05-01T12:30:00+24:00",
        "2024-05-01T12:30:00+02:00x",
        "24-05-01T12:30:00Z",
        "yesterday",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_refused("created_at", bad[i]);
}
END_TEST

START_TEST(test_bad_ids_amounts_and_emails_are_refused)
{
    char long_id[NOTIFY_ORDER_ID_MAX + 2], long_email[NOTIFY_EMAIL_MAX + 2];
    static const char *const bad_emails[] = {
        "@example.com", "ada@",      "a@b@c", "ada example.com",
        "a\tb@c.d",     "a@b\x7f.c", "ab",    "\xff@x.io"};

    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    memset(long_email, 'a', sizeof(long_email) - 1);
    long_email[1] = '@';
    long_email[sizeof(long_email) - 1] = '\0';
    assert_refused("order_id", long_id);
    assert_refused("order_id", "");
    assert_refused("order_id", "a/b");
    assert_refused("user_id", "0");
    assert_refused("user_id", "2147483648");
    assert_refused("user_id", " 1");
    assert_refused("total_cents", "-1");
    assert_refused("total_cents", "1.0");
    assert_refused("type", "order.confirmed ");
    assert_refused("email", long_email);
    for (size_t i = 0; i < sizeof(bad_emails) / sizeof(bad_emails[0]); i++)
        assert_refused("email", bad_emails[i]);
}
END_TEST

START_TEST(test_64_character_order_id_is_the_longest_accepted)
{
    char id[NOTIFY_ORDER_ID_MAX + 1];

    memset(id, '7', NOTIFY_ORDER_ID_MAX);
    id[NOTIFY_ORDER_ID_MAX] = '\0';
    ck_assert(notify_order_id_ok(id));
    ck_assert(notify_order_id_ok("A-z-0"));
    ck_assert(!notify_order_id_ok("a_b"));
    ck_assert(!notify_order_id_ok("a'b"));
}
END_TEST

START_TEST(test_broken_entry_shapes_are_refused)
{
    const char *kv[] = {"type", "order.confirmed", "order_id", NULL};
    redisReply nil = {.type = REDIS_REPLY_NIL};
    struct fields f;
    struct order_event ev;
    struct ms_verr e;
    const redisReply *fields;

    ck_assert_int_eq(order_event_parse(&nil, &ev, &e), MS_EINVAL); /* deleted since delivery */
    ck_assert_ptr_nonnull(strstr(e.msg, "deleted"));
    ck_assert_int_eq(order_event_parse(make_fields(&f, kv), &ev, &e), MS_EINVAL); /* odd count */
    kv[2] = NULL;
    ck_assert_int_eq(order_event_parse(make_fields(&f, kv), &ev, &e), MS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "missing"));
    fields = make_fields(
        &f, (const char *const[]){"type", "order.confirmed", "type", "order.confirmed", NULL});
    ck_assert_int_eq(order_event_parse(fields, &ev, &e), MS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "twice"));
}
END_TEST

START_TEST(test_values_with_nul_bytes_or_of_other_types_are_refused)
{
    struct fields f;
    struct order_event ev;
    struct ms_verr e;
    const redisReply *fields;

    fields = make_fields(&f, (const char *const[]){"type", "order.confirmed", "order_id", "a",
                                                   "user_id", "1", "email", "a@b.c", "total_cents",
                                                   "1", "created_at", CREATED_AT, NULL});
    f.items[7].len = 6; /* the literal's terminating NUL counted in: a NUL inside the value */
    ck_assert_int_eq(order_event_parse(fields, &ev, &e), MS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "email"));
    f.items[7] = (redisReply){.type = REDIS_REPLY_INTEGER, .integer = 1};
    ck_assert_int_eq(order_event_parse(fields, &ev, &e), MS_EINVAL);
}
END_TEST

/* Issue 12 defect 5: user accepts UTF-8 addresses, and notification dropped every byte >= 0x7f
 * as invalid and acknowledged the event, losing the notification. Both read one rule now. */
START_TEST(test_every_email_user_accepts_is_accepted)
{
    static const char *const emails[] = {"jürgen@example.com", "é@x.io", "zoe\xcc\x88@example.com",
                                         "用户@例子.公司"};
    char normal[MS_EMAIL_MAX + 1];
    struct order_event ev;
    struct ms_verr e;

    for (size_t i = 0; i < sizeof(emails) / sizeof(emails[0]); i++) {
        ck_assert_int_eq(ms_email_normalise(emails[i], normal, &e), 0);
        ck_assert_msg(parse_with("email", emails[i], &ev, &e) == 0, "%s refused: %s", emails[i],
                      e.msg);
        ck_assert_str_eq(ev.email, emails[i]);
    }
}
END_TEST

static Suite *notification_model_suite(void)
{
    Suite *s = suite_create("notification_model");
    TCase *tc = tcase_create("event");

    tcase_add_test(tc, test_valid_event_parses_and_borrows_its_strings);
    tcase_add_test(tc, test_event_types_say_confirmed_or_backordered);
    tcase_add_test(tc, test_field_order_does_not_matter_and_extra_fields_are_ignored);
    tcase_add_test(tc, test_rfc3339_variants_are_accepted);
    tcase_add_test(tc, test_malformed_times_are_refused);
    tcase_add_test(tc, test_bad_ids_amounts_and_emails_are_refused);
    tcase_add_test(tc, test_every_email_user_accepts_is_accepted);
    tcase_add_test(tc, test_64_character_order_id_is_the_longest_accepted);
    tcase_add_test(tc, test_broken_entry_shapes_are_refused);
    tcase_add_test(tc, test_values_with_nul_bytes_or_of_other_types_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ms_test_main(notification_model_suite(), true);
}
