/* The one table that maps error codes to messages, envelope codes and HTTP statuses. */
#include "ms/err.h"

struct err_row {
    int err;
    int status;
    const char *code;
    const char *message;
};

static const struct err_row rows[] = {
    {MS_OK, 200, "ok", "success"},
    {MS_EINVAL, 400, "invalid_argument", "invalid argument"},
    {MS_ENOTFOUND, 404, "not_found", "not found"},
    {MS_ECONFLICT, 409, "conflict", "conflict"},
    {MS_EUNAVAIL, 503, "unavailable", "a dependency is unavailable"},
    {MS_ETIMEDOUT, 503, "unavailable", "a dependency timed out"},
    {MS_ETOOBIG, 413, "payload_too_large", "payload too large"},
    {MS_ENOMEM, 500, "internal", "out of memory"},
    {MS_EINTERNAL, 500, "internal", "internal error"},
};

static const struct err_row *row_for(int err)
{
    for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].err == err)
            return &rows[i];
    return &rows[sizeof(rows) / sizeof(rows[0]) - 1]; /* unknown codes are bugs */
}

const char *ms_strerror(int err)
{
    return row_for(err)->message;
}

const char *ms_err_code(int err)
{
    return row_for(err)->code;
}

int ms_err_http_status(int err)
{
    return row_for(err)->status;
}
