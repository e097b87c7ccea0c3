/* Fuzzes the body of PUT /admin/faults: read as the server reads it (body.h: body_append up to
 * the route's limit, ms_json_parse), then ms_faults_set_json. It must accept
 * exactly an object whose fields are among delay_ms (0 to 600000), delay_percent (0 to 100),
 * abort_status (0, or 400 to 599) and abort_percent (0 to 100), each an integer or null (null
 * and absent keep the current value), and apply it whole; a refusal changes nothing. What it
 * stores reads back through ms_faults_to_json and is accepted again as the same settings.
 *
 * Input: a request body, e.g. {"abort_status":503,"abort_percent":50}. */
#include "../../common/src/server.c"
#include "body.h"
#include "fuzz.h"
#include "ms/faults.h"

enum { FAULTS_BODY_MAX = 4096 }; /* the route's limit (common/src/builtin.c) */

struct field {
    const char *name;
    long long min, max;
};

static const struct field fields[] = {
    {"delay_ms", 0, 600000},
    {"delay_percent", 0, 100},
    {"abort_status", 0, 599},
    {"abort_percent", 0, 100},
};
enum { NFIELDS = sizeof(fields) / sizeof(fields[0]) };

static int *slot(struct ms_faults_spec *s, size_t i)
{
    int *slots[NFIELDS] = {&s->delay_ms, &s->delay_percent, &s->abort_status, &s->abort_percent};

    return slots[i];
}

/* The documented rule; the settings expected after it in *want. */
static bool ref_faults(const json_t *body, struct ms_faults_spec *want)
{
    size_t known = 0;

    if (!json_is_object(body))
        return false;
    for (size_t i = 0; i < NFIELDS; i++) {
        const json_t *v = json_object_get(body, fields[i].name);
        if (!v)
            continue;
        known++;
        if (json_is_null(v))
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < fields[i].min ||
            json_integer_value(v) > fields[i].max)
            return false;
        *slot(want, i) = (int)json_integer_value(v);
    }
    return known == json_object_size(body) &&
           (want->abort_status == 0 || want->abort_status >= 400);
}

static bool same(const struct ms_faults_spec *a, const struct ms_faults_spec *b)
{
    return a->delay_ms == b->delay_ms && a->delay_percent == b->delay_percent &&
           a->abort_status == b->abort_status && a->abort_percent == b->abort_percent;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct ms_faults_spec before = {250, 10, 503, 5};
    struct ms_faults f, copy;
    struct ms_faults_spec want = before, got;
    struct ms_verr e;
    json_t *body = fuzz_read_json_body(data, size, FAULTS_BODY_MAX, &e), *now;
    bool ok;

    if (!body)
        return 0;
    ms_faults_set(&f, &before);
    ok = ref_faults(body, &want);
    if (ms_faults_set_json(&f, body, &e) == 0) {
        FUZZ_CHECK(ok);
        got = ms_faults_get(&f);
        FUZZ_CHECK(same(&got, &want));
        /* the admin answer is accepted again as the same settings */
        now = ms_faults_to_json(&f);
        FUZZ_CHECK(now != NULL);
        ms_faults_set(&copy, &(struct ms_faults_spec){0});
        FUZZ_CHECK(ms_faults_set_json(&copy, now, &e) == 0);
        got = ms_faults_get(&copy);
        FUZZ_CHECK(same(&got, &want));
        json_decref(now);
    } else {
        struct ms_res res = {.request_id = "fuzz"};
        FUZZ_CHECK(!ok);
        got = ms_faults_get(&f);
        FUZZ_CHECK(same(&got, &before)); /* all or nothing */
        ms_res_error(&res, MS_EINVAL, "%s", e.msg);
        fuzz_check_envelope(&res, MS_EINVAL);
        ms_res_release(&res);
    }
    json_decref(body);
    return 0;
}
