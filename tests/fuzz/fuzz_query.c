/* Fuzzes query strings and integer parsing: the text after '?' is split and decoded as MHD and
 * the server's unescape callback do (fake_mhd.c), then read by every query reader the services
 * have: product's list query (limit, offset, category and the ids list), notification's exactly-
 * one-filter query, user's email lookup and order's user_id, each refusing keys it does not know
 * and keys given twice. Each answer is checked against the
 * documented rule, every refusal is a 400 envelope, and ms_parse_ll is compared with an
 * independent parser on every key and value. The unescape callback itself is compared with a
 * plain decoder.
 *
 * Input: the query string, e.g. "category=books&limit=2". */
#include "../../common/src/server.c"
#include "../../services/notification/model.c"
#include "../../services/product/model.c"
#include "../../services/user/model.c"
#include "fake_mhd.c"
#include "fuzz.h"
#include "user_rules.h"

/* The server's decoding rule, read plainly: %XY with two hex digits is that byte, except %00,
 * which stays as it is (so it cannot cut a string short); everything else is copied. */
static void ref_unescape(const char *in, char *out)
{
    static const char hex[] = "0123456789abcdefABCDEF";

    for (; *in; in++) {
        if (in[0] == '%' && in[1] && in[2] && strchr(hex, in[1]) && strchr(hex, in[2]) &&
            !(in[1] == '0' && in[2] == '0')) {
            char pair[3] = {in[1], in[2], '\0'};
            *out++ = (char)strtol(pair, NULL, 16);
            in += 2;
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
}

static void check_unescape(const char *text)
{
    char *real = strdup(text), *want = strdup(text);
    size_t len;

    FUZZ_CHECK(real && want);
    len = unescape(NULL, NULL, real);
    ref_unescape(text, want);
    FUZZ_CHECK(len == strlen(real) && len <= strlen(text));
    FUZZ_CHECK(strcmp(real, want) == 0);
    free(want);
    free(real);
}

/* ms_parse_ll against the reference parser, over a few ranges. */
static void check_parse_ll(const char *text)
{
    static const long long ranges[][2] = {
        {INT64_MIN, INT64_MAX}, {1, INT32_MAX}, {0, 1000000}, {-5, 5}, {1, INT64_MAX}};
    long long want = 0;
    bool ok = text && fuzz_ref_parse_ll(text, &want);

    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        long long got = 0;
        bool in = ok && want >= ranges[i][0] && want <= ranges[i][1];
        FUZZ_CHECK((ms_parse_ll(text, ranges[i][0], ranges[i][1], &got) == 0) == in);
        FUZZ_CHECK(!in || got == want);
    }
}

static const char *arg(struct ms_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* An integer argument: absent gives def; else it must be in [min, max]. */
static bool ref_ll_arg(const char *text, long long def, long long min, long long max,
                       long long *out)
{
    *out = def;
    return !text || (fuzz_ref_parse_ll(text, out) && *out >= min && *out <= max);
}

/* "3,1,2": 1 to 100 ids from 1 to INT32_MAX, written in at most 15 characters each (the
 * parser's buffer: longer can only be zero padding), rewritten as the array literal "{3,1,2}". */
static bool ref_ids(const char *text, char *out, size_t cap)
{
    char *copy = strdup(text), *p = copy;
    size_t n = 0, len = 0;
    bool ok = true;

    FUZZ_CHECK(copy != NULL);
    len += (size_t)snprintf(out, cap, "{");
    while (ok) {
        char *comma = strchr(p, ',');
        long long id;
        if (comma)
            *comma = '\0';
        ok = ++n <= PRODUCT_IDS_MAX && strlen(p) <= 15 && fuzz_ref_parse_ll(p, &id) && id >= 1 &&
             id <= INT32_MAX;
        if (ok)
            len += (size_t)snprintf(out + len, cap - len, "%s%lld", n > 1 ? "," : "", id);
        if (!comma)
            break;
        p = comma + 1;
    }
    snprintf(out + len, cap - len, "}");
    free(copy);
    return ok;
}

/* The reference rule for a query of known keys only: every key is one of allowed
 * (NULL-terminated, at most 8) and none appears twice. */
struct key_count {
    const char *const *allowed;
    size_t counts[8];
    bool unknown;
    bool bare; /* an allowed key without a value ("?limit") */
};

static enum MHD_Result count_key(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct key_count *c = cls;
    size_t i = 0;

    (void)kind;
    while (c->allowed[i] && strcmp(c->allowed[i], key) != 0)
        i++;
    if (c->allowed[i])
        c->counts[i]++;
    else
        c->unknown = true;
    c->bare = c->bare || (c->allowed[i] && !value);
    return MHD_YES;
}

static bool ref_only(struct ms_req *req, const char *const *allowed)
{
    struct key_count c = {.allowed = allowed};
    bool ok;

    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, count_key, &c);
    ok = !c.unknown && !c.bare;
    for (size_t i = 0; allowed[i]; i++)
        ok = ok && c.counts[i] <= 1;
    return ok;
}

static void check_product(struct ms_req *req)
{
    struct ms_res res = {.request_id = req->request_id};
    struct product_query q;
    const char *category = arg(req, "category"), *ids = arg(req, "ids");
    long long limit, offset;
    char want_ids[2048];
    bool ok = ref_only(req, (const char *const[]){"ids", "category", "limit", "offset", NULL}) &&
              ref_ll_arg(arg(req, "limit"), PRODUCT_LIMIT_DEFAULT, 1, INT32_MAX, &limit) &&
              ref_ll_arg(arg(req, "offset"), 0, 0, PRODUCT_OFFSET_MAX, &offset) &&
              (!category || strlen(category) <= PRODUCT_CATEGORY_MAX) &&
              (!ids || ref_ids(ids, want_ids, sizeof(want_ids)));

    if (product_query_or_400(req, &res, &q) == 0) {
        FUZZ_CHECK(ok && res.status == 0);
        FUZZ_CHECK(q.limit == (limit < PRODUCT_LIMIT_MAX ? limit : PRODUCT_LIMIT_MAX));
        FUZZ_CHECK(q.offset == offset);
        FUZZ_CHECK(q.category == ((category && *category) ? category : NULL));
        FUZZ_CHECK(q.by_ids == (ids != NULL));
        FUZZ_CHECK(!ids || strcmp(q.ids, want_ids) == 0);
    } else {
        FUZZ_CHECK(!ok);
        fuzz_check_envelope(&res, MS_EINVAL);
    }
    ms_res_release(&res);
}

static void check_notification(struct ms_req *req)
{
    struct ms_res res = {.request_id = req->request_id};
    struct notify_query q;
    const char *order_id = arg(req, "order_id"), *user_id = arg(req, "user_id");
    long long uid = 0;
    bool ok =
        ref_only(req, (const char *const[]){"order_id", "user_id", NULL}) && !order_id != !user_id;
    if (ok && order_id) {
        size_t len = strlen(order_id);
        ok = len >= 1 && len <= NOTIFY_ORDER_ID_MAX &&
             strspn(order_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") ==
                 len;
    }
    if (ok && user_id)
        ok = fuzz_ref_parse_ll(user_id, &uid) && uid >= 1 && uid <= NOTIFY_USER_ID_MAX;
    if (notify_query_or_400(req, &res, &q) == 0) {
        FUZZ_CHECK(ok && res.status == 0);
        FUZZ_CHECK(q.order_id == order_id && q.user_id == (user_id ? uid : 0));
    } else {
        FUZZ_CHECK(!ok);
        fuzz_check_envelope(&res, MS_EINVAL);
    }
    ms_res_release(&res);
}

static void check_user(struct ms_req *req)
{
    struct ms_res res = {.request_id = req->request_id};
    char email[USER_EMAIL_MAX + 1];

    if (user_email_query_or_400(req, &res, email) == 0) {
        FUZZ_CHECK(arg(req, "email") != NULL && res.status == 0);
        FUZZ_CHECK(ref_only(req, (const char *const[]){"email", NULL}));
        check_user_email(email);
    } else {
        fuzz_check_envelope(&res, MS_EINVAL);
    }
    ms_res_release(&res);
}

/* GET /orders?user_id=: nothing else, once, required, 1 to ORDER_USER_ID_MAX (the handler's
 * three steps). */
static void check_order(struct ms_req *req)
{
    struct ms_res res = {.request_id = req->request_id};
    const char *text = arg(req, "user_id");
    long long want = 0, got = 0;
    bool ok = ref_only(req, (const char *const[]){"user_id", NULL}) && text &&
              fuzz_ref_parse_ll(text, &want) && want >= 1 && want <= INT32_MAX;

    if (ms_req_query_only_or_400(req, &res, "user_id")) {
        FUZZ_CHECK(!ok);
        fuzz_check_envelope(&res, MS_EINVAL);
    } else if (!text) {
        FUZZ_CHECK(!ok);
    } else if (ms_req_query_ll_or_400(req, &res, "user_id", 0, 1, INT32_MAX, &got) == 0) {
        FUZZ_CHECK(ok && got == want && res.status == 0);
    } else {
        FUZZ_CHECK(!ok);
        fuzz_check_envelope(&res, MS_EINVAL);
    }
    ms_res_release(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size), *args = strdup(text);
    struct MHD_Connection conn = {0};
    struct ms_req req = {.method = "GET", .url = "/", .request_id = "fuzz", .conn = &conn};

    FUZZ_CHECK(args != NULL);
    check_unescape(text);
    fake_mhd_parse_query(&conn, args, unescape);
    for (size_t i = 0; i < conn.n; i++) {
        check_parse_ll(conn.values[i].key);
        check_parse_ll(conn.values[i].value);
    }
    check_product(&req);
    check_notification(&req);
    check_user(&req);
    check_order(&req);
    free(args);
    free(text);
    return 0;
}
