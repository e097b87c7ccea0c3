/* The user service over real HTTP, against a real PostgreSQL: sign-up, look-up by id and by
 * email, validation of hostile input, racing sign-ups, metrics, and PostgreSQL outages. What
 * was (or was not) written is read back from the database itself. */
#include <check.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deps.h"
#include "http.h"
#include "proc.h"
#include "runner.h"

static struct ms_test_pg pg;
static struct ms_test_service user; /* shared by the tests, which use fresh emails each */
static char db_url[256], db_env[300];

static void stack_up(void)
{
    char *url;

    ck_assert_int_eq(ms_test_pg_start(&pg), 0);
    ck_assert_int_eq(ms_test_pg_createdb(&pg, "user"), 0);
    url = ms_test_pg_url(&pg, "user");
    snprintf(db_url, sizeof(db_url), "%s", url);
    snprintf(db_env, sizeof(db_env), "DATABASE_URL=%s", url);
    free(url);
    ck_assert_int_eq(ms_test_service_start(&user, "user", (const char *const[]){db_env, NULL}), 0);
    ck_assert_int_ge(ms_test_wait_status(user.port, "/ready", 200, 15000), 0);
}

static void stack_down(void)
{
    ms_test_service_stop(&user, SIGTERM, 5000);
    ms_test_pg_stop(&pg);
}

/* ---- helpers ---- */

/* An email no other test uses: tag@<pid>-<n>.example.com. */
static const char *fresh_email(const char *tag, char *buf, size_t cap)
{
    static int n;

    snprintf(buf, cap, "%s@t%d-%d.example.com", tag, (int)getpid(), ++n);
    return buf;
}

/* in with ASCII letters turned to upper (to_upper) or lower case, into out (cap bytes). */
static char *recase(const char *in, bool to_upper, char *out, size_t cap)
{
    size_t i = 0;

    for (; in[i] && i + 1 < cap; i++) {
        char c = in[i];
        if (to_upper && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!to_upper && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        out[i] = c;
    }
    out[i] = '\0';
    return out;
}

static void post_with(const char *body, const char *extra_header, struct ms_test_response *r)
{
    char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/users", user.port);
    ck_assert_int_eq(
        ms_test_http("POST", url, body,
                     (const char *const[]){"Content-Type: application/json", extra_header, NULL},
                     5000, r),
        0);
}

static void post(const char *body, struct ms_test_response *r)
{
    post_with(body, NULL, r);
}

/* POSTs body, checks the status and returns the parsed answer (caller decrefs). */
static json_t *post_json(const char *body, long want_status)
{
    struct ms_test_response r;
    json_t *doc;

    post(body, &r);
    ck_assert_msg(r.status == want_status, "POST %.200s: status %ld, want %ld; body %s", body,
                  r.status, want_status, r.body);
    doc = ms_test_json(&r);
    ck_assert_msg(doc != NULL, "POST: body is not JSON: %s", r.body);
    ms_test_response_free(&r);
    return doc;
}

/* Signs up email and name (both JSON-escaped by jansson); 201 expected. */
static json_t *create(const char *email, const char *name)
{
    json_t *body = json_pack("{s:s,s:s}", "email", email, "name", name);
    char *text = json_dumps(body, JSON_COMPACT);
    json_t *doc = post_json(text, 201);

    free(text);
    json_decref(body);
    return doc;
}

static json_t *get_json(const char *path, long want_status)
{
    struct ms_test_response r;
    json_t *doc;

    ck_assert_int_eq(ms_test_get(user.port, path, &r), 0);
    ck_assert_msg(r.status == want_status, "GET %s: status %ld, want %ld; body %s", path, r.status,
                  want_status, r.body);
    doc = ms_test_json(&r);
    ck_assert_msg(doc != NULL, "GET %s: body is not JSON: %s", path, r.body);
    ms_test_response_free(&r);
    return doc;
}

static const char *str(const json_t *doc, const char *key)
{
    const char *s = json_string_value(json_object_get(doc, key));

    ck_assert_msg(s != NULL, "no string %s", key);
    return s;
}

static long long id_of(const json_t *doc)
{
    json_t *id = json_object_get(doc, "id");

    ck_assert(json_is_integer(id));
    return json_integer_value(id);
}

/* The envelope's code is code and its message contains words; doc is released. */
static void assert_error_new(json_t *doc, const char *code, const char *words)
{
    json_t *err = json_object_get(doc, "error");

    ck_assert_str_eq(str(err, "code"), code);
    ck_assert_msg(strstr(str(err, "message"), words) != NULL, "message \"%s\" lacks \"%s\"",
                  str(err, "message"), words);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(err, "request_id")));
    json_decref(doc);
}

/* The first column of the first row of sql (run straight on the service's database), malloc'd;
 * NULL when there is no row. */
static char *db_value(const char *sql, int n, const char *const *params)
{
    PGconn *c = PQconnectdb(db_url);
    PGresult *res;
    char *v = NULL;

    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    if (PQntuples(res) > 0)
        v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(c);
    return v;
}

static long db_count(const char *sql, int n, const char *const *params)
{
    char *v = db_value(sql, n, params);
    long count = atol(v);

    free(v);
    return count;
}

static long rows_total(void)
{
    return db_count("SELECT count(*) FROM users", 0, NULL);
}

static long rows_with_email(const char *email)
{
    return db_count("SELECT count(*) FROM users WHERE lower(email) = lower($1)", 1,
                    (const char *const[]){email});
}

/* A column of user id, as stored. */
static char *stored(const char *column, long long id)
{
    char sql[128], idbuf[24];

    snprintf(sql, sizeof(sql), "SELECT %s FROM users WHERE id = $1", column);
    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    return db_value(sql, 1, (const char *const[]){idbuf});
}

static void assert_stored(long long id, const char *column, const char *want)
{
    char *got = stored(column, id);

    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, want);
    free(got);
}

static double op_metric(const char *op, const char *result)
{
    char series[128];
    double v;

    snprintf(series, sizeof(series), "user_operations_total{op=\"%s\",result=\"%s\"}", op, result);
    v = ms_test_metric(user.port, series);
    ck_assert_msg(v >= 0, "no series %s", series);
    return v;
}

/* ---- sign-up ---- */

START_TEST(test_create_returns_201_with_the_normalised_user_and_location)
{
    char email[96], upper[96], body[256], id[24], location[48];
    struct ms_test_response r;
    regex_t rfc3339;
    json_t *doc;
    char *got_location, *same_second;

    fresh_email("ada.lovelace", email, sizeof(email));
    snprintf(body, sizeof(body), "{\"email\":\"  %s \",\"name\":\"  Ada Lovelace \"}",
             recase(email, true, upper, sizeof(upper)));
    post(body, &r);
    ck_assert_msg(r.status == 201, "status %ld: %s", r.status, r.body);
    doc = ms_test_json(&r);
    ck_assert_str_eq(str(doc, "email"), email);
    ck_assert_str_eq(str(doc, "name"), "Ada Lovelace");
    ck_assert_int_gt(id_of(doc), 0);
    ck_assert_int_eq(json_object_size(doc), 4);
    ck_assert_int_eq(regcomp(&rfc3339, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    ck_assert_int_eq(regexec(&rfc3339, str(doc, "created_at"), 0, NULL, 0), 0);
    regfree(&rfc3339);
    got_location = ms_test_header(&r, "Location");
    snprintf(location, sizeof(location), "/users/%lld", id_of(doc));
    ck_assert_str_eq(got_location, location);
    /* what was written: the normalised fields, and the created_at the answer gives in UTC */
    assert_stored(id_of(doc), "email", email);
    assert_stored(id_of(doc), "name", "Ada Lovelace");
    snprintf(id, sizeof(id), "%lld", id_of(doc));
    same_second = db_value("SELECT date_trunc('second', created_at) = $1::timestamptz "
                           "FROM users WHERE id = $2",
                           2, (const char *const[]){str(doc, "created_at"), id});
    ck_assert_str_eq(same_second, "t");
    free(same_second);
    free(got_location);
    json_decref(doc);
    ms_test_response_free(&r);
}
END_TEST

START_TEST(test_duplicate_email_in_any_case_is_409_and_writes_nothing)
{
    char email[96], upper[96], body[256];
    json_t *first = create(fresh_email("grace", email, sizeof(email)), "Grace Hopper");

    snprintf(body, sizeof(body), "{\"email\":\" %s\",\"name\":\"Impostor\"}",
             recase(email, true, upper, sizeof(upper)));
    assert_error_new(post_json(body, 409), "conflict", "already exists");
    ck_assert_int_eq(rows_with_email(email), 1);
    assert_stored(id_of(first), "name", "Grace Hopper");
    json_decref(first);
}
END_TEST

START_TEST(test_boundary_lengths_are_accepted)
{
    char local[65], domain[178], email[256], name[101];
    json_t *doc;

    memset(local, 'l', 64);
    local[64] = '\0';
    memset(domain, 'd', 177);
    domain[177] = '\0';
    snprintf(email, sizeof(email), "%s@%s.example.com", local, domain);
    ck_assert_int_eq(strlen(email), 254);
    memset(name, 'n', 100);
    name[100] = '\0';
    doc = create(email, name);
    ck_assert_str_eq(str(doc, "email"), email);
    ck_assert_str_eq(str(doc, "name"), name);
    json_decref(doc);
}
END_TEST

START_TEST(test_sql_metacharacters_are_stored_literally)
{
    const char *name = "Robert'); DROP TABLE users;-- \"Bobby\" \\ %_ $1 `x` /* */";
    char email[96], path[48];
    long before = rows_total();
    json_t *made, *got;

    fresh_email("o'brien+tag", email, sizeof(email));
    made = create(email, name);
    ck_assert_str_eq(str(made, "name"), name);
    ck_assert_str_eq(str(made, "email"), email);
    snprintf(path, sizeof(path), "/users/%lld", id_of(made));
    got = get_json(path, 200);
    ck_assert_str_eq(str(got, "name"), name);
    assert_stored(id_of(made), "name", name);
    assert_stored(id_of(made), "email", email);
    ck_assert_int_eq(rows_total(), before + 1); /* the table is still there, one row more */
    json_decref(made);
    json_decref(got);
}
END_TEST

START_TEST(test_unicode_names_round_trip_byte_for_byte)
{
    static const char *const names[] = {
        "Zoë Ørsted-Łukasz", "王小明", "Ἀριστοτέλης 🚀",
        "🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀", /* 25 x 4 = 100 bytes */
    };
    char email[96], path[48];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *made = create(fresh_email("uni", email, sizeof(email)), names[i]);
        json_t *got;

        snprintf(path, sizeof(path), "/users/%lld", id_of(made));
        got = get_json(path, 200);
        ck_assert_str_eq(str(got, "name"), names[i]);
        assert_stored(id_of(made), "name", names[i]);
        json_decref(made);
        json_decref(got);
    }
}
END_TEST

START_TEST(test_escaped_characters_arrive_as_themselves)
{
    char email[96], body[256];
    json_t *made;

    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"name\":\"Ren\\u00e9e \\\"R\\\" \\/\"}",
             fresh_email("esc", email, sizeof(email)));
    made = post_json(body, 201);
    ck_assert_str_eq(str(made, "name"), "Renée \"R\" /");
    assert_stored(id_of(made), "name", "Renée \"R\" /");
    json_decref(made);
}
END_TEST

/* ---- hostile input ---- */

struct bad_body {
    const char *body;
    const char *words; /* the 400's message contains these */
};

START_TEST(test_hostile_bodies_get_400_naming_the_problem_and_write_nothing)
{
    static const struct bad_body bad[] = {
        {"", "JSON document"},
        {"{", "malformed JSON"},
        {"[]", "JSON object"},
        {"null", "malformed JSON"},
        {"{\"email\":\"a@b.co\"}", "name is required"},
        {"{\"name\":\"A\"}", "email is required"},
        {"{\"email\":null,\"name\":\"A\"}", "email is required"},
        {"{\"email\":42,\"name\":\"A\"}", "email must be a string"},
        {"{\"email\":\"a@b.co\",\"name\":true}", "name must be a string"},
        {"{\"email\":\"a@b.co\",\"name\":[\"A\"]}", "name must be a string"},
        {"{\"email\":\"a@b.co\",\"name\":{}}", "name must be a string"},
        {"{\"email\":\"a@b.co\",\"name\":\"A\",\"admin\":true}", "unknown field \"admin\""},
        {"{\"email\":\"a@b.co\",\"name\":\"A\",\"id\":1}", "unknown field \"id\""},
        {"{\"email\":\"a@b.co\",\"name\":123456789012345678901234567890}", "malformed JSON"},
        {"{\"email\":\"a@b.co\",\"name\":1e999}", "malformed JSON"},
        {"{\"email\":\"a@b.co\",\"name\":-1}", "name must be a string"},
        {"{\"email\":\"a@b.co\",\"name\":\"A\",\"email\":\"c@d.ef\"}", "malformed JSON"},
        {"{\"email\":\"a@b.c'; DROP TABLE users;--\",\"name\":\"A\"}", "email must not contain"},
        {"{\"email\":\"ab.co\",\"name\":\"A\"}", "email must contain exactly one '@'"},
        {"{\"email\":\"a@b@c.de\",\"name\":\"A\"}", "email must contain exactly one '@'"},
        {"{\"email\":\"@b.co\",\"name\":\"A\"}", "email must have 1 to 64 bytes before"},
        {"{\"email\":\"a@localhost\",\"name\":\"A\"}", "email must have a domain"},
        {"{\"email\":\"a@.co\",\"name\":\"A\"}", "email must have a domain"},
        {"{\"email\":\"a@co.\",\"name\":\"A\"}", "email must have a domain"},
        {"{\"email\":\"a@b..co\",\"name\":\"A\"}", "email must have a domain"},
        {"{\"email\":\"a b@c.de\",\"name\":\"A\"}", "email must not contain spaces"},
        {"{\"email\":\"a\\tb@c.de\",\"name\":\"A\"}", "email must be UTF-8 text without control"},
        {"{\"email\":\"a\\u0000b@c.de\",\"name\":\"A\"}", "malformed JSON"},
        {"{\"email\":\"   \",\"name\":\"A\"}", "email must be 3 to 254 bytes"},
        {"{\"email\":\"\",\"name\":\"A\"}", "email must be 3 to 254 bytes"},
        {"{\"email\":\"a@b.co\",\"name\":\"\"}", "name must be 1 to 100 bytes"},
        {"{\"email\":\"a@b.co\",\"name\":\"    \"}", "name must be 1 to 100 bytes"},
        {"{\"email\":\"a@b.co\",\"name\":\"a\\u0007b\"}", "name must be UTF-8 text without"},
        {"{\"email\":\"a@b.co\",\"name\":\"a\\nb\"}", "name must be UTF-8 text without"},
        {"{\"email\":\"a@b.co\",\"name\":\"a\\u007fb\"}", "name must be UTF-8 text without"},
        {"{\"email\":\"a@b.co\",\"name\":\"a\\u0085b\"}", "name must be UTF-8 text without"},
        {"{\"email\":\"a@b.co\",\"name\":\"\\ud800\"}", "malformed JSON"},
    };
    long before = rows_total();

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_error_new(post_json(bad[i].body, 400), "invalid_argument", bad[i].words);
    ck_assert_int_eq(rows_total(), before);
    ck_assert_int_eq(rows_with_email("a@b.co"), 0);
}
END_TEST

/* A valid body but for one field of n copies of c, with a fresh email. */
static char *body_with(const char *field, char c, size_t n)
{
    char email[96], *fill = malloc(n + 1), *body = NULL;

    memset(fill, c, n);
    fill[n] = '\0';
    fresh_email("x", email, sizeof(email));
    if (strcmp(field, "name") == 0)
        ck_assert_int_gt(asprintf(&body, "{\"email\":\"%s\",\"name\":\"%s\"}", email, fill), 0);
    else
        ck_assert_int_gt(asprintf(&body, "{\"email\":\"%s%s\",\"name\":\"A\"}", fill, email), 0);
    free(fill);
    return body;
}

START_TEST(test_over_long_fields_get_400_and_write_nothing)
{
    long before = rows_total();
    char *name = body_with("name", 'n', 101);
    char *local = body_with("email", 'l', 64);  /* 64 + "x" before the '@' */
    char *email = body_with("email", 'e', 240); /* over 254 in all */
    char *emoji = malloc(4 * 26 + 64);

    assert_error_new(post_json(name, 400), "invalid_argument", "name must be 1 to 100 bytes");
    assert_error_new(post_json(local, 400), "invalid_argument", "1 to 64 bytes before the '@'");
    assert_error_new(post_json(email, 400), "invalid_argument", "email must be 3 to 254 bytes");
    strcpy(emoji, "{\"email\":\"emoji@x.example.com\",\"name\":\"");
    for (int i = 0; i < 26; i++) /* 104 bytes in 26 characters: the limit is in bytes */
        strcat(emoji, "🚀");
    strcat(emoji, "\"}");
    assert_error_new(post_json(emoji, 400), "invalid_argument", "name must be 1 to 100 bytes");
    ck_assert_int_eq(rows_total(), before);
    free(name);
    free(local);
    free(email);
    free(emoji);
}
END_TEST

START_TEST(test_body_over_limit_is_413_and_writes_nothing)
{
    size_t sizes[] = {5000, 1024 * 1024}; /* over the route's 4 KiB, and a 1 MB body */
    long before = rows_total();

    for (size_t i = 0; i < 2; i++) {
        char *body = body_with("name", 'n', sizes[i]);
        struct ms_test_response r;
        json_t *doc;

        /* a client that waits for 100 Continue: the server refuses on the declared length
         * and closes with the body unread; one that sends at once may be reset before it reads
         * the 413 (libmicrohttpd does not linger), which says nothing of what was written */
        post_with(body, "Expect: 100-continue", &r);
        ck_assert_int_eq(r.status, 413);
        doc = ms_test_json(&r);
        assert_error_new(doc, "payload_too_large", "over the limit");
        ms_test_response_free(&r);
        free(body);
    }
    ck_assert_int_eq(rows_total(), before);
}
END_TEST

/* ---- reading ---- */

START_TEST(test_get_by_id_returns_the_user)
{
    char email[96], path[48];
    json_t *made = create(fresh_email("linus", email, sizeof(email)), "Linus");
    json_t *got;

    snprintf(path, sizeof(path), "/users/%lld", id_of(made));
    got = get_json(path, 200);
    ck_assert(json_equal(made, got));
    json_decref(made);
    json_decref(got);
}
END_TEST

START_TEST(test_get_unknown_id_is_404)
{
    assert_error_new(get_json("/users/999999999", 404), "not_found", "user 999999999 not found");
    assert_error_new(get_json("/users/9223372036854775807", 404), "not_found", "not found");
}
END_TEST

START_TEST(test_get_malformed_id_is_400)
{
    static const char *const bad[] = {
        "/users/abc", "/users/0",       "/users/-3",
        "/users/1.5", "/users/1x",      "/users/%2B1",
        "/users/%20", "/users/1%27%3B", "/users/99999999999999999999"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_error_new(get_json(bad[i], 400), "invalid_argument", "id must be");
}
END_TEST

START_TEST(test_find_by_email_ignores_case_and_surrounding_spaces)
{
    char email[96], path[256];
    json_t *made = create(fresh_email("Barbara+Liskov", email, sizeof(email)), "Barbara");
    const char *at = strchr(email, '@');
    json_t *got;

    /* '+' in a query string means a space: clients send %2B */
    snprintf(path, sizeof(path), "/users?email=%%20%%20BARBARA%%2Bliskov%%40%s%%20", at + 1);
    got = get_json(path, 200);
    ck_assert(json_equal(made, got));
    ck_assert_int_eq(strncmp(str(got, "email"), "barbara+liskov@", 15), 0);
    json_decref(got);
    json_decref(made);
}
END_TEST

START_TEST(test_find_unknown_email_is_404)
{
    assert_error_new(get_json("/users?email=nobody%40nowhere.example.com", 404), "not_found",
                     "no user with this email");
}
END_TEST

START_TEST(test_find_without_or_with_bad_email_is_400)
{
    static const struct bad_body bad[] = {
        {"/users", "email query parameter is required"},
        {"/users?name=x", "unknown query parameter name (expected: email)"},
        {"/users?email=", "email must be 3 to 254 bytes"},
        {"/users?email=nope", "exactly one '@'"},
        {"/users?email=a+b%40c.de", "must not contain spaces"},
        {"/users?email=%FF%40x.example.com", "UTF-8 text without control"},
        {"/users?email=a%01%40x.example.com", "UTF-8 text without control"},
        {"/users?email=a%40b.c%27%3B%20DROP%20TABLE%20users%3B--", "must not contain spaces"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_error_new(get_json(bad[i].body, 400), "invalid_argument", bad[i].words);
    ck_assert_int_ge(rows_total(), 0); /* the table survived the DROP attempt */
}
END_TEST

START_TEST(test_wrong_method_is_405_with_allow)
{
    char url[128];
    struct ms_test_response r;
    char *allow;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/users/1", user.port);
    ck_assert_int_eq(ms_test_http("DELETE", url, NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.status, 405);
    allow = ms_test_header(&r, "Allow");
    ck_assert_str_eq(allow, "GET, HEAD");
    free(allow);
    ms_test_response_free(&r);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/users", user.port);
    ck_assert_int_eq(ms_test_http("PUT", url, "{}", NULL, 5000, &r), 0);
    ck_assert_int_eq(r.status, 405);
    allow = ms_test_header(&r, "Allow");
    ck_assert_ptr_nonnull(strstr(allow, "POST"));
    ck_assert_ptr_nonnull(strstr(allow, "GET"));
    free(allow);
    ms_test_response_free(&r);
}
END_TEST

/* ---- racing sign-ups ---- */

enum { RACERS = 20 };

struct racer {
    pthread_barrier_t *start;
    char body[256];
    long status;
    long long id;
};

static void *race(void *arg)
{
    struct racer *me = arg;
    char url[128];
    struct ms_test_response r;
    json_t *doc;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/users", user.port);
    pthread_barrier_wait(me->start);
    ms_test_http("POST", url, me->body, NULL, 10000, &r);
    me->status = r.status;
    doc = ms_test_json(&r);
    me->id = json_integer_value(json_object_get(doc, "id"));
    json_decref(doc);
    ms_test_response_free(&r);
    return NULL;
}

START_TEST(test_concurrent_signups_with_one_email_in_any_case_make_one_user)
{
    struct racer racers[RACERS];
    pthread_t threads[RACERS];
    pthread_barrier_t start;
    char email[96];
    int created = 0, conflicts = 0;
    long long winner = 0;

    fresh_email("racer", email, sizeof(email));
    pthread_barrier_init(&start, NULL, RACERS);
    for (int i = 0; i < RACERS; i++) {
        char variant[96];
        /* each racer spells the address in its own mix of cases */
        for (size_t k = 0; k <= strlen(email); k++)
            variant[k] = ((i >> (k % 5)) & 1) && email[k] >= 'a' && email[k] <= 'z'
                             ? (char)(email[k] - 'a' + 'A')
                             : email[k];
        racers[i] = (struct racer){.start = &start};
        snprintf(racers[i].body, sizeof(racers[i].body), "{\"email\":\"%s\",\"name\":\"R%d\"}",
                 variant, i);
        pthread_create(&threads[i], NULL, race, &racers[i]);
    }
    for (int i = 0; i < RACERS; i++) {
        pthread_join(threads[i], NULL);
        created += racers[i].status == 201;
        conflicts += racers[i].status == 409;
        if (racers[i].status == 201)
            winner = racers[i].id;
    }
    pthread_barrier_destroy(&start);
    ck_assert_int_eq(created, 1);
    ck_assert_int_eq(conflicts, RACERS - 1);
    ck_assert_int_eq(rows_with_email(email), 1);
    assert_stored(winner, "email", email);
}
END_TEST

/* ---- metrics and readiness ---- */

START_TEST(test_metrics_count_each_operation_by_result)
{
    static const char *const series[][2] = {
        {"create", "ok"}, {"create", "invalid"}, {"create", "conflict"},
        {"get", "ok"},    {"get", "invalid"},    {"get", "not_found"},
        {"find", "ok"},   {"find", "invalid"},   {"find", "not_found"},
    };
    enum { N = sizeof(series) / sizeof(series[0]) };
    double before[N] = {0};
    char email[96], body[160], path[160];
    json_t *made;

    for (size_t i = 0; i < N; i++)
        before[i] = op_metric(series[i][0], series[i][1]);
    made = create(fresh_email("metric", email, sizeof(email)), "M");
    json_decref(post_json("{\"email\":1,\"name\":\"M\"}", 400));
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"name\":\"M\"}", email);
    json_decref(post_json(body, 409));
    snprintf(path, sizeof(path), "/users/%lld", id_of(made));
    json_decref(get_json(path, 200));
    json_decref(get_json("/users/x", 400));
    json_decref(get_json("/users/999999998", 404));
    snprintf(path, sizeof(path), "/users?email=%s", email);
    json_decref(get_json(path, 200));
    json_decref(get_json("/users", 400));
    json_decref(get_json("/users?email=none%40none.example.com", 404));
    for (size_t i = 0; i < N; i++)
        ck_assert_msg(op_metric(series[i][0], series[i][1]) == before[i] + 1, "%s %s", series[i][0],
                      series[i][1]);
    ck_assert_double_eq(op_metric("find", "unavailable"), 0);
    json_decref(made);
}
END_TEST

START_TEST(test_ready_reports_postgres_as_critical)
{
    json_t *doc = get_json("/ready", 200);
    json_t *check = json_object_get(json_object_get(doc, "checks"), "postgres");

    ck_assert_str_eq(str(check, "status"), "up");
    ck_assert(json_is_true(json_object_get(check, "critical")));
    json_decref(doc);
}
END_TEST

/* ---- shutdown ---- */

/* Sends one request to svc and checks its status. */
static void expect(const struct ms_test_service *svc, const char *method, const char *path,
                   const char *body, long want_status)
{
    char url[256];
    struct ms_test_response r;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", svc->port, path);
    ck_assert_int_eq(ms_test_http(method, url, body, NULL, 5000, &r), 0);
    ck_assert_msg(r.status == want_status, "%s %s: %ld, want %ld", method, path, r.status,
                  want_status);
    ms_test_response_free(&r);
}

/* Every kind of answer once, then SIGTERM: exit status 0 also means, under ASan, no leak. */
START_TEST(test_sigterm_after_every_kind_of_answer_exits_0)
{
    struct ms_test_service svc;
    char email[96], body[160], path[160];

    ck_assert_int_eq(ms_test_service_start(&svc, "user", (const char *const[]){db_env, NULL}), 0);
    ck_assert_int_ge(ms_test_wait_status(svc.port, "/ready", 200, 10000), 0);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"name\":\"Last\"}",
             fresh_email("last", email, sizeof(email)));
    expect(&svc, "POST", "/users", body, 201);
    expect(&svc, "POST", "/users", body, 409);
    expect(&svc, "POST", "/users", "{\"email\":1}", 400);
    expect(&svc, "POST", "/users", "{", 400);
    snprintf(path, sizeof(path), "/users?email=%s", email);
    expect(&svc, "GET", path, NULL, 200);
    expect(&svc, "GET", "/users?email=x", NULL, 400);
    expect(&svc, "GET", "/users/x", NULL, 400);
    expect(&svc, "GET", "/users/999999997", NULL, 404);
    expect(&svc, "DELETE", "/users/1", NULL, 405);
    expect(&svc, "GET", "/metrics", NULL, 200);
    ck_assert_int_eq(ms_test_service_stop(&svc, SIGTERM, 5000), 0);
}
END_TEST

/* ---- PostgreSQL outages ---- */

/* Sends method path (with body) and checks for a fast 503 with Retry-After and the envelope. */
static void assert_fast_503(const char *method, const char *path, const char *body)
{
    char url[256];
    struct ms_test_response r;
    char *retry;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", user.port, path);
    ck_assert_int_eq(ms_test_http(method, url, body, NULL, 5000, &r), 0);
    ck_assert_msg(r.status == 503, "%s %s: %ld %s", method, path, r.status, r.body);
    ck_assert_double_lt(r.seconds, 1.5);
    retry = ms_test_header(&r, "Retry-After");
    ck_assert_ptr_nonnull(retry);
    assert_error_new(ms_test_json(&r), "unavailable", "unavailable");
    free(retry);
    ms_test_response_free(&r);
}

START_TEST(test_postgres_down_503_fast_then_recovers_by_itself)
{
    char email[96], body[160], path[160], by_email[160];
    json_t *made = create(fresh_email("outage", email, sizeof(email)), "Before");
    double create_before = op_metric("create", "unavailable");
    double get_before = op_metric("get", "unavailable");
    double find_before = op_metric("find", "unavailable");

    snprintf(path, sizeof(path), "/users/%lld", id_of(made));
    snprintf(by_email, sizeof(by_email), "/users?email=%s", email);
    ck_assert_int_eq(ms_test_pg_shutdown(&pg), 0);
    snprintf(body, sizeof(body), "{\"email\":\"during-%s\",\"name\":\"During\"}", email);
    assert_fast_503("POST", "/users", body);
    assert_fast_503("GET", path, NULL);
    assert_fast_503("GET", by_email, NULL);
    ck_assert_double_eq(op_metric("create", "unavailable"), create_before + 1);
    ck_assert_double_eq(op_metric("get", "unavailable"), get_before + 1);
    ck_assert_double_eq(op_metric("find", "unavailable"), find_before + 1);
    ck_assert_int_ge(ms_test_wait_status(user.port, "/ready", 503, 3000), 0);
    ck_assert_int_eq(ms_test_pg_restart(&pg), 0);
    ck_assert_int_ge(ms_test_wait_status(user.port, path, 200, 10000), 0);
    ck_assert_int_ge(ms_test_wait_status(user.port, "/ready", 200, 5000), 0);
    snprintf(path, sizeof(path), "during-%s", email);
    ck_assert_int_eq(rows_with_email(path), 0); /* the refused sign-up left nothing behind */
    json_decref(made);
}
END_TEST

START_TEST(test_starts_while_postgres_is_down_then_becomes_ready_and_stops_cleanly)
{
    struct ms_test_service early;
    char email[96], path[160];

    ck_assert_int_eq(ms_test_pg_shutdown(&pg), 0);
    ck_assert_int_eq(ms_test_service_start(&early, "user", (const char *const[]){db_env, NULL}), 0);
    ck_assert_int_ge(ms_test_wait_status(early.port, "/ready", 503, 3000), 0);
    ck_assert_int_eq(ms_test_pg_restart(&pg), 0);
    ck_assert_int_ge(ms_test_wait_status(early.port, "/ready", 200, 10000), 0);
    snprintf(path, sizeof(path), "/users?email=%s", fresh_email("early", email, sizeof(email)));
    ck_assert_int_ge(ms_test_wait_status(early.port, path, 404, 1000), 0); /* it reads the table */
    ck_assert_int_eq(ms_test_service_stop(&early, SIGTERM, 5000), 0);
}
END_TEST

/* ---- one account per address however it is cased or composed (issue 14 row 9) ---- */

START_TEST(test_unicode_case_and_composition_make_one_account)
{
    json_t *made = create("jürgen@unicode.example.com", "Jürgen");
    json_t *zoe = create("zoë@unicode.example.com", "Zoë"), *got;
    struct ms_test_response r;

    ck_assert_str_eq(str(made, "email"), "jürgen@unicode.example.com");
    post("{\"email\":\"JÜRGEN@unicode.example.com\",\"name\":\"J\"}", &r);
    ck_assert_int_eq(r.status, 409);
    ms_test_response_free(&r);
    /* "e" and a combining diaeresis (U+0308): the same address in NFC */
    post("{\"email\":\"zoe\xcc\x88@unicode.example.com\",\"name\":\"Z\"}", &r);
    ck_assert_int_eq(r.status, 409);
    ms_test_response_free(&r);
    got = get_json("/users?email=J%C3%9CRGEN%40unicode.example.com", 200);
    ck_assert(json_equal(made, got));
    json_decref(got);
    got = get_json("/users?email=ZOE%CC%88%40unicode.example.com", 200);
    ck_assert(json_equal(zoe, got));
    json_decref(got);
    ck_assert_int_eq(
        db_count("SELECT count(*) FROM users WHERE email LIKE '%@unicode.example.com'", 0, NULL),
        2);
    json_decref(made);
    json_decref(zoe);
}
END_TEST

/* Runs sql (several statements, no parameters) on database url; fails the test on an error. */
static void db_script(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *res;

    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
    res = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK,
                  "%s", PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
}

/* The text of a file under the source tree, malloc'd. */
static char *source_file(const char *path)
{
    char full[512], *text;
    FILE *f;
    long len;

    snprintf(full, sizeof(full), "%s/%s", MS_SOURCE_DIR, path);
    f = fopen(full, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", full);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    text = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(fread(text, 1, (size_t)len, f), len);
    text[len] = '\0';
    fclose(f);
    return text;
}

/* A database as the service left it before migration 002: emails lower-cased in ASCII only,
 * so "JÜRGEN@" was stored as "jÜrgen@", a decomposed "zoë" as sent, and "ä@" and "Ä@" as two
 * accounts (the bug). Started on it, the service migrates: the old rows are found by their
 * normal form, the oldest of two that fold together keeps the address, the other keeps its id
 * and old form, and a new sign-up with any form of a taken address is a 409. */
START_TEST(test_rows_from_before_the_email_normal_form_keep_working)
{
    struct ms_test_service old;
    char *url, env[300], *schema = source_file("services/user/sql/001_users.sql");
    struct ms_test_response r;
    char body[128], path[128];
    json_t *got;

    ck_assert_int_eq(ms_test_pg_createdb(&pg, "user_before"), 0);
    url = ms_test_pg_url(&pg, "user_before");
    db_script(url, schema);
    db_script(url, "CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL,"
                   " applied_at timestamptz NOT NULL DEFAULT now());"
                   "INSERT INTO schema_migrations (version, name) VALUES (1, '001_users');"
                   "INSERT INTO users (email, name) VALUES ('jÜrgen@before.example.com', 'J'),"
                   " (E'zoe\\u0308@before.example.com', 'Z'), ('ä@dup.example.com', 'A1'),"
                   " ('Ä@dup.example.com', 'A2'), ('ada@before.example.com', 'Ada');");
    snprintf(env, sizeof(env), "DATABASE_URL=%s", url);
    ck_assert_int_eq(ms_test_service_start(&old, "user", (const char *const[]){env, NULL}), 0);
    ck_assert_int_ge(ms_test_wait_status(old.port, "/ready", 200, 15000), 0);
    got = NULL;
    snprintf(path, sizeof(path),
             "http://127.0.0.1:%d/users?email=J%%C3%%9CRGEN%%40before.example.com", old.port);
    ck_assert_int_eq(ms_test_http("GET", path, NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.status, 200);
    got = ms_test_json(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(got, "id")), 1);
    ck_assert_str_eq(str(got, "email"), "jürgen@before.example.com");
    json_decref(got);
    ms_test_response_free(&r);
    snprintf(path, sizeof(path), "http://127.0.0.1:%d/users?email=zo%%C3%%AB%%40before.example.com",
             old.port);
    ck_assert_int_eq(ms_test_http("GET", path, NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ms_test_response_free(&r);
    snprintf(path, sizeof(path), "http://127.0.0.1:%d/users?email=%%C3%%84%%40dup.example.com",
             old.port);
    ck_assert_int_eq(ms_test_http("GET", path, NULL, NULL, 5000, &r), 0);
    got = ms_test_json(&r);
    ck_assert_int_eq(json_integer_value(json_object_get(got, "id")), 3);
    json_decref(got);
    ms_test_response_free(&r);
    snprintf(path, sizeof(path), "http://127.0.0.1:%d/users/4", old.port);
    ck_assert_int_eq(ms_test_http("GET", path, NULL, NULL, 5000, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"A2\""));
    ms_test_response_free(&r);
    snprintf(path, sizeof(path), "http://127.0.0.1:%d/users", old.port);
    snprintf(body, sizeof(body), "{\"email\":\"JÜRGEN@before.example.com\",\"name\":\"J\"}");
    ck_assert_int_eq(ms_test_http("POST", path, body,
                                  (const char *const[]){"Content-Type: application/json", NULL},
                                  5000, &r),
                     0);
    ck_assert_int_eq(r.status, 409);
    ms_test_response_free(&r);
    ck_assert_int_eq(ms_test_service_stop(&old, SIGTERM, 5000), 0);
    free(schema);
    free(url);
}
END_TEST

static Suite *user_suite(void)
{
    Suite *s = suite_create("user");
    TCase *api = tcase_create("api");

    tcase_add_unchecked_fixture(api, stack_up, stack_down);
    tcase_set_timeout(api, 60);
    tcase_add_test(api, test_create_returns_201_with_the_normalised_user_and_location);
    tcase_add_test(api, test_duplicate_email_in_any_case_is_409_and_writes_nothing);
    tcase_add_test(api, test_boundary_lengths_are_accepted);
    tcase_add_test(api, test_sql_metacharacters_are_stored_literally);
    tcase_add_test(api, test_unicode_names_round_trip_byte_for_byte);
    tcase_add_test(api, test_escaped_characters_arrive_as_themselves);
    tcase_add_test(api, test_hostile_bodies_get_400_naming_the_problem_and_write_nothing);
    tcase_add_test(api, test_over_long_fields_get_400_and_write_nothing);
    tcase_add_test(api, test_body_over_limit_is_413_and_writes_nothing);
    tcase_add_test(api, test_get_by_id_returns_the_user);
    tcase_add_test(api, test_get_unknown_id_is_404);
    tcase_add_test(api, test_get_malformed_id_is_400);
    tcase_add_test(api, test_find_by_email_ignores_case_and_surrounding_spaces);
    tcase_add_test(api, test_find_unknown_email_is_404);
    tcase_add_test(api, test_find_without_or_with_bad_email_is_400);
    tcase_add_test(api, test_wrong_method_is_405_with_allow);
    tcase_add_test(api, test_concurrent_signups_with_one_email_in_any_case_make_one_user);
    tcase_add_test(api, test_unicode_case_and_composition_make_one_account);
    tcase_add_test(api, test_rows_from_before_the_email_normal_form_keep_working);
    tcase_add_test(api, test_metrics_count_each_operation_by_result);
    tcase_add_test(api, test_ready_reports_postgres_as_critical);
    tcase_add_test(api, test_sigterm_after_every_kind_of_answer_exits_0);
    tcase_add_test(api, test_postgres_down_503_fast_then_recovers_by_itself);
    tcase_add_test(api, test_starts_while_postgres_is_down_then_becomes_ready_and_stops_cleanly);
    suite_add_tcase(s, api);
    return s;
}

int main(void)
{
    return ms_test_main(user_suite(), true);
}
