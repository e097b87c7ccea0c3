/* User validation and serialisation: what a valid email and name are, and the wire form. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ms/email.h"
#include "ms/err.h"
#include "ms/json.h"
#include "user.h"

/* Valid UTF-8 with no control character: C0, DEL, or C1 (which UTF-8 writes as C2 80..C2 9F).
 * JSON bodies are valid UTF-8 already, but a decoded query string can hold any bytes. */
static bool clean_text(const char *s, size_t len)
{
    json_t *probe = json_stringn(s, len); /* NULL unless valid UTF-8 */
    bool ok = probe != NULL;

    json_decref(probe);
    for (size_t i = 0; ok && i < len; i++) {
        unsigned char c = (unsigned char)s[i]; /* valid UTF-8: a C2 is never last */
        ok = c >= 0x20 && c != 0x7f && !(c == 0xc2 && (unsigned char)s[i + 1] < 0xa0);
    }
    return ok;
}

/* Copies in without the spaces around it into out (max + 1 bytes), if what remains is min to
 * max bytes of clean text. 0 or MS_EINVAL naming field. */
static int trimmed_copy(const char *field, const char *in, size_t min, size_t max, char *out,
                        struct ms_verr *e)
{
    size_t len = strlen(in);

    while (len > 0 && in[0] == ' ') {
        in++;
        len--;
    }
    while (len > 0 && in[len - 1] == ' ')
        len--;
    if (len < min || len > max)
        return ms_verr_set(e, MS_EINVAL,
                           "%s must be %zu to %zu bytes long, without surrounding spaces", field,
                           min, max);
    if (!clean_text(in, len))
        return ms_verr_set(e, MS_EINVAL, "%s must be UTF-8 text without control characters", field);
    memcpy(out, in, len);
    out[len] = '\0';
    return 0;
}

int user_from_json_or_400(const json_t *body, struct ms_res *res, struct user *u)
{
    const char *email, *name;
    struct ms_verr e;

    if (ms_json_object_with_keys(body, "email,name", &e) ||
        ms_json_str(body, "email", 0, SIZE_MAX, &email, &e) ||
        ms_json_str(body, "name", 0, SIZE_MAX, &name, &e) ||
        ms_email_normalise(email, u->email, &e) ||
        trimmed_copy("name", name, 1, USER_NAME_MAX, u->name, &e)) {
        ms_res_error(res, MS_EINVAL, "%s", e.msg);
        return -1;
    }
    return 0;
}

int user_email_query_or_400(struct ms_req *req, struct ms_res *res, char *email)
{
    const char *text = ms_req_query(req, "email");
    struct ms_verr e;

    if (ms_req_query_only_or_400(req, res, "email"))
        return -1;
    if (!text) {
        ms_res_error(res, MS_EINVAL, "the email query parameter is required");
        return -1;
    }
    if (ms_email_normalise(text, email, &e)) {
        ms_res_error(res, MS_EINVAL, "%s", e.msg);
        return -1;
    }
    return 0;
}

json_t *user_to_json(const struct user *u)
{
    return json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)u->id, "email", u->email, "name",
                     u->name, "created_at", u->created_at);
}
