/* Reads a fuzzed request body the way the server does before a JSON route's handler runs:
 * body_append (static in common/src/server.c, which the target includes before this header)
 * takes it in pieces up to the route's limit, as MHD hands it over, then ms_json_parse parses
 * it (fuzz_json_body). */
#ifndef MS_FUZZ_BODY_H
#define MS_FUZZ_BODY_H

#include "fuzz.h"

/* The body as a document, or NULL when the server refuses it: over body_max (413) or not JSON
 * (400, the reason in e). Checks that the bytes kept are exactly the body, NUL-terminated, and
 * that an oversized one is marked and its copy stops at the limit. */
static inline json_t *fuzz_read_json_body(const uint8_t *data, size_t size, size_t body_max,
                                          struct ms_verr *e)
{
    struct ms_req req = {.body_max = body_max};
    size_t step = 1 + size % 61; /* piece sizes vary with the input, as recv's do */
    json_t *doc;

    for (size_t off = 0; off < size; off += step)
        body_append(&req, (const char *)data + off, size - off < step ? size - off : step);
    FUZZ_CHECK(req.body_too_big == (size > body_max));
    FUZZ_CHECK(req.body_len <= body_max && req.body_len <= req.body_cap);
    FUZZ_CHECK(req.body_len == 0 || req.body[req.body_len] == '\0');
    if (req.body_too_big) {
        struct ms_res res = {.request_id = "fuzz"};
        ms_res_error(&res, MS_ETOOBIG, "request body is over the limit of %zu bytes", body_max);
        fuzz_check_envelope(&res, MS_ETOOBIG);
        ms_res_release(&res);
        free(req.body);
        return NULL;
    }
    FUZZ_CHECK(req.body_len == size && (size == 0 || memcmp(req.body, data, size) == 0));
    doc = fuzz_json_body((const uint8_t *)req.body, req.body_len, e);
    free(req.body);
    return doc;
}

#endif
