/* What every fuzz target shares: the libFuzzer entry point, a check that also holds in release
 * builds (the replay tests run with NDEBUG, so assert() would check nothing there), and helpers
 * for the input, JSON documents and error envelopes. */
#ifndef MS_FUZZ_H
#define MS_FUZZ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ms/err.h"
#include "ms/json.h"
#include "ms/res.h"

/* Called by libFuzzer, or by replay_main.c once per corpus file. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run with the failed invariant: libFuzzer saves the input as a crash. */
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_fail(#cond, __FILE__, __LINE__))

static inline _Noreturn void fuzz_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
    abort();
}

/* The input as a malloc'd C string, cut at its first NUL (a C string cannot hold one, and
 * neither can a decoded URL or header: MHD and the server never make one). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    FUZZ_CHECK(s != NULL);
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

static inline bool fuzz_utf8(const char *s, size_t len)
{
    json_t *probe = json_stringn(s, len); /* NULL unless valid UTF-8 */

    json_decref(probe);
    return probe != NULL;
}

/* A refusal must be the one error envelope, {"error":{"code","message","request_id"}}, as
 * valid JSON with the status and code of err. */
static inline void fuzz_check_envelope(const struct ms_res *res, int err)
{
    json_t *doc, *error;
    json_error_t jerr;

    FUZZ_CHECK(res->status == ms_err_http_status(err));
    FUZZ_CHECK(res->body != NULL && res->body_len == strlen(res->body));
    doc = json_loadb(res->body, res->body_len, JSON_REJECT_DUPLICATES, &jerr);
    FUZZ_CHECK(doc != NULL);
    error = json_object_get(doc, "error");
    FUZZ_CHECK(json_is_object(error) && json_object_size(error) == 3);
    FUZZ_CHECK(json_is_string(json_object_get(error, "code")));
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(error, "code")), ms_err_code(err)) == 0);
    FUZZ_CHECK(json_string_length(json_object_get(error, "message")) > 0);
    FUZZ_CHECK(json_is_string(json_object_get(error, "request_id")));
    json_decref(doc);
}

/* Parses a request body as the server does (ms_json_parse), and checks that a document it
 * accepts survives a round trip (dumped and parsed again, it is the same document) and that a
 * refusal makes a valid 400 envelope. A new reference, or NULL with the reason in e. */
static inline json_t *fuzz_json_body(const uint8_t *data, size_t size, struct ms_verr *e)
{
    json_t *doc = ms_json_parse((const char *)data, size, e), *again;
    struct ms_verr e2;
    char *text;

    if (!doc) {
        /* the server answers 400 with the reason, which may quote any bytes of the body */
        struct ms_res res = {.request_id = "fuzz"};
        FUZZ_CHECK(e->msg[0] != '\0');
        ms_res_error(&res, MS_EINVAL, "%s", e->msg);
        fuzz_check_envelope(&res, MS_EINVAL);
        ms_res_release(&res);
        return NULL;
    }
    text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    FUZZ_CHECK(text != NULL);
    again = ms_json_parse(text, strlen(text), &e2);
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(json_equal(doc, again));
    json_decref(again);
    free(text);
    return doc;
}

/* An independent reading of the integer rule ms_parse_ll documents: an optional '-', then
 * decimal digits only, the value within long long. true with *out set, else false. */
static inline bool fuzz_ref_parse_ll(const char *text, long long *out)
{
    const char *p = text ? text : "";
    bool negative = *p == '-';
    __int128 v = 0;

    p += negative;
    if (!*p)
        return false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
        if (v > (__int128)INT64_MAX + 1)
            return false;
    }
    v = negative ? -v : v;
    if (v > INT64_MAX || v < INT64_MIN)
        return false;
    *out = (long long)v;
    return true;
}

/* Releases what res holds and zeroes it for the next answer. */
static inline void fuzz_res_reset(struct ms_res *res)
{
    ms_res_release(res);
    memset(res, 0, sizeof(*res));
}

#endif
