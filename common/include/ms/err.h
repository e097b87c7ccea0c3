/* Error codes shared by every layer, and their one mapping to HTTP. */
#ifndef MS_ERR_H
#define MS_ERR_H

/* Functions return 0 on success or one of these (negative). Pointers return NULL instead. */
enum ms_err {
    MS_OK = 0,
    MS_EINVAL = -1,    /* bad input from the caller: 400 */
    MS_ENOTFOUND = -2, /* no such thing: 404 */
    MS_ECONFLICT = -3, /* state forbids it (duplicate, out of stock): 409 */
    MS_EUNAVAIL = -4,  /* a dependency is down or saturated: 503 */
    MS_ETIMEDOUT = -5, /* a dependency was too slow: 503 */
    MS_ETOOBIG = -6,   /* input over its limit: 413 */
    MS_ENOMEM = -7,    /* allocation failed: 500 */
    MS_EINTERNAL = -8, /* a bug or an unexpected answer: 500 */
};

/* A short English description of err, for logs and error messages. Never NULL. */
const char *ms_strerror(int err);

/* The machine-readable code put in the error envelope ("not_found", "unavailable", ...). */
const char *ms_err_code(int err);

/* The HTTP status that answers err. */
int ms_err_http_status(int err);

#endif
