/* Strict JSON parsing and typed field readers that explain what they refused. */
#include "ms/json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms/err.h"

int ms_verr_set(struct ms_verr *e, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return rc;
}

json_t *ms_json_parse(const char *buf, size_t len, struct ms_verr *e)
{
    json_error_t jerr;
    json_t *doc;

    if (len == 0) {
        ms_verr_set(e, MS_EINVAL, "request body must be a JSON document");
        return NULL;
    }
    doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        ms_verr_set(e, MS_EINVAL, "malformed JSON at line %d, column %d: %s", jerr.line,
                    jerr.column, jerr.text);
    return doc;
}

/* Is key one of the comma-separated names in allowed? */
static int key_allowed(const char *allowed, const char *key)
{
    size_t klen = strlen(key);

    for (const char *p = allowed; *p;) {
        size_t len = strcspn(p, ",");
        if (len == klen && strncmp(p, key, len) == 0)
            return 1;
        p += len;
        p += (*p == ',');
    }
    return 0;
}

/* How many bytes of s to quote, at most max: a cut never splits a UTF-8 character, since the
 * message goes into a JSON string, which must be valid UTF-8. */
static int quote_len(const char *s, size_t max)
{
    size_t n = strnlen(s, max);

    if (n == max)
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    return (int)n;
}

int ms_json_object_with_keys(const json_t *obj, const char *allowed, struct ms_verr *e)
{
    const char *key;
    json_t *value;

    if (!json_is_object(obj))
        return ms_verr_set(e, MS_EINVAL, "request body must be a JSON object");
    json_object_foreach((json_t *)obj, key, value)
    {
        (void)value;
        if (!key_allowed(allowed, key))
            return ms_verr_set(e, MS_EINVAL, "unknown field \"%.*s\" (expected: %s)",
                               quote_len(key, 64), key, allowed);
    }
    return 0;
}

int ms_json_int_opt(const json_t *obj, const char *key, long long min, long long max, long long def,
                    long long *out, struct ms_verr *e)
{
    json_t *v = json_object_get(obj, key);
    long long n;

    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v))
        return ms_verr_set(e, MS_EINVAL, "%s must be an integer from %lld to %lld", key, min, max);
    n = json_integer_value(v);
    if (n < min || n > max)
        return ms_verr_set(e, MS_EINVAL, "%s must be an integer from %lld to %lld", key, min, max);
    *out = n;
    return 0;
}

int ms_json_int(const json_t *obj, const char *key, long long min, long long max, long long *out,
                struct ms_verr *e)
{
    json_t *v = json_object_get(obj, key);

    if (!v || json_is_null(v))
        return ms_verr_set(e, MS_EINVAL, "%s is required", key);
    return ms_json_int_opt(obj, key, min, max, 0, out, e);
}

int ms_json_str(const json_t *obj, const char *key, size_t min_len, size_t max_len,
                const char **out, struct ms_verr *e)
{
    json_t *v = json_object_get(obj, key);
    size_t len;

    if (!v || json_is_null(v))
        return ms_verr_set(e, MS_EINVAL, "%s is required", key);
    if (!json_is_string(v))
        return ms_verr_set(e, MS_EINVAL, "%s must be a string", key);
    len = json_string_length(v);
    if (len < min_len || len > max_len)
        return ms_verr_set(e, MS_EINVAL, "%s must be %zu to %zu characters long", key, min_len,
                           max_len);
    *out = json_string_value(v);
    return 0;
}

int ms_parse_ll(const char *text, long long min, long long max, long long *out)
{
    const char *p = text;
    char *end;
    long long n;

    if (!text || !*text)
        return MS_EINVAL;
    /* strtoll alone would accept spaces, '+' and "0x"; an id is plain digits */
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return MS_EINVAL;
    errno = 0;
    n = strtoll(text, &end, 10);
    if (errno == ERANGE || *end != '\0' || n < min || n > max)
        return MS_EINVAL;
    *out = n;
    return 0;
}
