/* Fuzzes the body of POST /users: read as the server reads it (body.h: body_append up to the
 * route's limit, ms_json_parse), then user_from_json_or_400 (services/user/model.c, compiled
 * in here). What it accepts and refuses is compared with the
 * documented rule (user_rules.h): an object with exactly the string fields email and name, the
 * email trimmed and brought to its normal form (NFC, case-folded) as a plain address, the name
 * trimmed into clean text. An accepted user serialises, and its JSON form is accepted again as the
 * same user.
 *
 * Input: a request body, e.g. {"email":"ada@example.com","name":"Ada"}. */
#include "../../common/src/server.c"
#include "../../services/user/model.c"
#include "body.h"
#include "fuzz.h"
#include "user_rules.h"

/* The documented rule for the body; the expected user in *want when it holds. */
static bool ref_user(const json_t *body, struct user *want)
{
    const char *email = json_string_value(json_object_get(body, "email"));
    const char *name = json_string_value(json_object_get(body, "name"));
    char *buf;
    bool ok;

    if (!json_is_object(body) || json_object_size(body) != 2 || !email || !name)
        return false;
    buf = user_email_normal_form(email);
    ok = buf && user_email_ok(buf);
    if (ok)
        snprintf(want->email, sizeof(want->email), "%s", buf);
    free(buf);
    buf = malloc(strlen(name) + 1);
    FUZZ_CHECK(buf != NULL);
    while (*name == ' ')
        name++;
    strcpy(buf, name);
    for (size_t len = strlen(buf); len > 0 && buf[len - 1] == ' ';)
        buf[--len] = '\0';
    ok = ok && user_name_ok(buf);
    if (ok)
        snprintf(want->name, sizeof(want->name), "%s", buf);
    free(buf);
    return ok;
}

static void check_user(const json_t *body)
{
    struct ms_res res = {.request_id = "fuzz"};
    struct user u = {0}, want = {0}, again = {0};
    bool ok = ref_user(body, &want);
    json_t *doc;

    if (user_from_json_or_400(body, &res, &u) != 0) {
        FUZZ_CHECK(!ok);
        fuzz_check_envelope(&res, MS_EINVAL);
        ms_res_release(&res);
        return;
    }
    FUZZ_CHECK(ok && res.status == 0);
    FUZZ_CHECK(strcmp(u.email, want.email) == 0 && strcmp(u.name, want.name) == 0);
    check_user_email(u.email);
    snprintf(u.created_at, sizeof(u.created_at), "2025-01-31T09:05:00Z");
    doc = user_to_json(&u); /* NULL if a field were not valid UTF-8 */
    FUZZ_CHECK(doc != NULL);
    FUZZ_CHECK(json_object_del(doc, "id") == 0 && json_object_del(doc, "created_at") == 0);
    FUZZ_CHECK(user_from_json_or_400(doc, &res, &again) == 0);
    FUZZ_CHECK(strcmp(again.email, u.email) == 0 && strcmp(again.name, u.name) == 0);
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ms_verr e;
    json_t *body = fuzz_read_json_body(data, size, USER_BODY_MAX, &e);

    if (body)
        check_user(body);
    json_decref(body);
    return 0;
}
