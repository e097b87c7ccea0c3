/* Fuzzes the notification service's event validation: order_event_parse
 * (services/notification/model.c, compiled in here) over a stream entry's field list as hiredis
 * hands it over. It must accept exactly the entries with each of type (order.confirmed),
 * order_id (1 to 64 of [A-Za-z0-9-]), user_id (1 to 2147483647), email (3 to 254 printable
 * characters around one '@'), total_cents (0 or more) and created_at (RFC 3339) once, as plain
 * strings, whatever else the entry holds; the event borrows its strings from the entry. A
 * refusal has a reason fit for a JSON log line.
 *
 * Input: the entry's elements, one a line (the last newline is optional): names and values
 * alternate. An element "!int",
 * "!nil" or "!arr" is an integer, nil or empty-array reply instead of a string; the whole input
 * "!nil" is an entry deleted since delivery (a nil field list). Other bytes, NUL included, are
 * string content. */
#include <ctype.h>

#include "../../services/notification/model.c"
#include "../../services/user/user.h"
#include "fuzz.h"
#include "user_rules.h"

enum { MAX_ELEMENTS = 64 };

struct entry {
    redisReply items[MAX_ELEMENTS];
    redisReply *ptrs[MAX_ELEMENTS];
    redisReply fields;
    char *text; /* the elements' bytes, each NUL-terminated as hiredis leaves them */
};

static void entry_build(struct entry *en, const uint8_t *data, size_t size)
{
    size_t n = 0;
    char *p, *end;

    en->text = malloc(size + 1);
    FUZZ_CHECK(en->text != NULL);
    if (size)
        memcpy(en->text, data, size);
    en->text[size] = '\0';
    if (size == 4 && memcmp(data, "!nil", 4) == 0) {
        en->fields = (redisReply){.type = REDIS_REPLY_NIL};
        return;
    }
    end = en->text + size;
    for (p = en->text; p < end && n < MAX_ELEMENTS; n++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        redisReply *r = &en->items[n];
        p[len] = '\0';
        if (len == 4 && strcmp(p, "!int") == 0)
            *r = (redisReply){.type = REDIS_REPLY_INTEGER, .integer = 7};
        else if (len == 4 && strcmp(p, "!nil") == 0)
            *r = (redisReply){.type = REDIS_REPLY_NIL};
        else if (len == 4 && strcmp(p, "!arr") == 0)
            *r = (redisReply){.type = REDIS_REPLY_ARRAY};
        else
            *r = (redisReply){.type = REDIS_REPLY_STRING, .str = p, .len = len};
        en->ptrs[n] = r;
        p += len + 1;
    }
    en->fields = (redisReply){.type = REDIS_REPLY_ARRAY, .elements = n, .element = en->ptrs};
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int num2(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* RFC 3339 section 5.6, read plainly: date "T" time, an optional fraction, then Z or an
 * offset; month 1-12, day 1-31, hour 0-23, minute 0-59, second 0-60 (leap). */
static bool ref_rfc3339(const char *s)
{
    size_t len = strlen(s), i = 19;

    if (len < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2) || s[13] != ':' ||
        !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
        return false;
    if (num2(s + 5) < 1 || num2(s + 5) > 12 || num2(s + 8) < 1 || num2(s + 8) > 31 ||
        num2(s + 11) > 23 || num2(s + 14) > 59 || num2(s + 17) > 60)
        return false;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
        if (i == start)
            return false;
    }
    if (s[i] == 'Z' || s[i] == 'z')
        return i + 1 == len;
    return (s[i] == '+' || s[i] == '-') && len - i == 6 && digits(s + i + 1, 2) &&
           s[i + 3] == ':' && digits(s + i + 4, 2) && num2(s + i + 1) <= 23 &&
           num2(s + i + 4) <= 59;
}

/* The user service's rule (user_rules.h): the email is valid when its normal form is a stored
 * email, as user would have accepted it. */
static bool ref_email(const char *s)
{
    char *normal = user_email_normal_form(s);
    bool ok = normal && user_email_ok(normal);

    free(normal);
    return ok;
}

/* The documented rule over the entry; the field values in v[] (indexed as event_fields). */
static bool ref_event(const redisReply *fields, const char *v[EV_NFIELDS])
{
    long long n;

    if (fields->type != REDIS_REPLY_ARRAY || fields->elements % 2)
        return false;
    for (size_t i = 0; i < fields->elements; i += 2) {
        const redisReply *name = fields->element[i], *value = fields->element[i + 1];
        for (int f = 0; f < EV_NFIELDS && name->type == REDIS_REPLY_STRING; f++) {
            if (strlen(name->str) != name->len || strcmp(name->str, event_fields[f]) != 0)
                continue;
            if (v[f] || value->type != REDIS_REPLY_STRING || strlen(value->str) != value->len)
                return false;
            v[f] = value->str;
        }
    }
    for (int f = 0; f < EV_NFIELDS; f++)
        if (!v[f])
            return false;
    n = (long long)strlen(v[EV_ORDER_ID]);
    if (n < 1 || n > NOTIFY_ORDER_ID_MAX ||
        strspn(v[EV_ORDER_ID], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") !=
            (size_t)n)
        return false;
    return strcmp(v[EV_TYPE], "order.confirmed") == 0 && fuzz_ref_parse_ll(v[EV_USER_ID], &n) &&
           n >= 1 && n <= NOTIFY_USER_ID_MAX && ref_email(v[EV_EMAIL]) &&
           fuzz_ref_parse_ll(v[EV_TOTAL], &n) && n >= 0 && ref_rfc3339(v[EV_CREATED_AT]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct entry en;
    struct order_event ev = {0};
    struct ms_verr e = {{0}};
    const char *v[EV_NFIELDS] = {0};
    bool ok;
    long long user_id = 0;

    entry_build(&en, data, size);
    ok = ref_event(&en.fields, v);
    if (order_event_parse(&en.fields, &ev, &e) == 0) {
        FUZZ_CHECK(ok);
        FUZZ_CHECK(ev.order_id == v[EV_ORDER_ID] && ev.email == v[EV_EMAIL]);
        FUZZ_CHECK(fuzz_ref_parse_ll(v[EV_USER_ID], &user_id) && ev.user_id == user_id);
    } else {
        FUZZ_CHECK(!ok);
        FUZZ_CHECK(e.msg[0] != '\0' && fuzz_utf8(e.msg, strlen(e.msg)));
    }
    free(en.text);
    return 0;
}
