/* JSON parsing and field validation for request bodies. Validators write a message a client
 * can act on ("quantity must be an integer from 1 to 99") and return MS_EINVAL. */
#ifndef MS_JSON_H
#define MS_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Why a document or field was refused, for the 400 answer. */
struct ms_verr {
    char msg[200];
};

/* Writes the formatted reason into e and returns rc, so a validator can end with
 * `return ms_verr_set(e, MS_EINVAL, "quantity must be from 1 to %d", max);`. */
int ms_verr_set(struct ms_verr *e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses buf (len bytes, need not be NUL-terminated) as one JSON document. Duplicate object
 * keys, invalid UTF-8, NUL characters and numbers out of range are refused. Returns a new
 * reference, or NULL with the reason in e. */
json_t *ms_json_parse(const char *buf, size_t len, struct ms_verr *e);

/* The object check every body validator starts with: obj must be a JSON object whose keys are
 * all in allowed (comma-separated, e.g. "email,name"). 0 or MS_EINVAL. */
int ms_json_object_with_keys(const json_t *obj, const char *allowed, struct ms_verr *e);

/* Required integer field in [min, max]. Reals, strings and booleans are refused. */
int ms_json_int(const json_t *obj, const char *key, long long min, long long max, long long *out,
                struct ms_verr *e);

/* The same, but an absent (or null) field gives def. */
int ms_json_int_opt(const json_t *obj, const char *key, long long min, long long max, long long def,
                    long long *out, struct ms_verr *e);

/* Required string field whose length in bytes is in [min_len, max_len]. *out borrows from obj. */
int ms_json_str(const json_t *obj, const char *key, size_t min_len, size_t max_len,
                const char **out, struct ms_verr *e);

/* Parses a decimal integer in [min, max] from text (path or query values): digits only, with an
 * optional leading '-', no spaces, no overflow. 0 or MS_EINVAL. */
int ms_parse_ll(const char *text, long long min, long long max, long long *out);

#endif
