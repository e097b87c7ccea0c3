/* The framing checks: one pass over the request's headers. */
#include "framing.h"

#include <microhttpd.h>
#include <string.h>
#include <strings.h>

/* Headers the services read as one value: given twice, which one a service acts on would be a
 * guess (the first used to win silently), so the request is refused. */
static const struct {
    const char *name;
    const char *refusal;
} single_headers[] = {
    {"Content-Type", "Content-Type is given more than once"},
    {"Idempotency-Key", "Idempotency-Key is given more than once"},
};
enum { NSINGLE = sizeof(single_headers) / sizeof(single_headers[0]) };

struct header_scan {
    bool bad_name;
    int host, content_length, transfer_encoding;
    int single[NSINGLE]; /* how often each of single_headers appears */
    bool chunked;        /* the one Transfer-Encoding is exactly "chunked" */
};

/* RFC 9110 section 5.6.2: a token is one or more of these. */
static bool is_token(const char *s)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

    return *s && strspn(s, tchar) == strlen(s);
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct header_scan *scan = cls;

    (void)kind;
    if (!is_token(key)) {
        scan->bad_name = true;
        return MHD_YES;
    }
    for (size_t i = 0; i < NSINGLE; i++)
        scan->single[i] += strcasecmp(key, single_headers[i].name) == 0;
    if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        scan->host++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        scan->content_length++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        scan->transfer_encoding++;
        scan->chunked = value && strcasecmp(value, "chunked") == 0;
    }
    return MHD_YES;
}

/* The refusal for the first of single_headers given more than once, or NULL. */
static const char *repeated_single(const struct header_scan *scan)
{
    for (size_t i = 0; i < NSINGLE; i++)
        if (scan->single[i] > 1)
            return single_headers[i].refusal;
    return NULL;
}

const char *msi_framing_problem(struct MHD_Connection *conn, const char *raw_target, size_t raw_len,
                                const char *version)
{
    struct header_scan scan = {0};
    bool http11 = version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0;

    if (!raw_target || !version || raw_target + raw_len + 1 != version)
        return "the request target holds a NUL byte";
    if (raw_target[0] != '/') /* the origin form; these services are not proxies */
        return "the request target must be a path starting with /";
    MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, &scan);
    if (scan.bad_name)
        return "a header name is not a token (no spaces or control characters before the colon)";
    if (scan.host > 1 || (http11 && scan.host == 0))
        return "an HTTP/1.1 request needs exactly one Host header";
    if (scan.transfer_encoding && (scan.transfer_encoding > 1 || !scan.chunked))
        return "the only Transfer-Encoding accepted is a single chunked";
    if (scan.transfer_encoding && scan.content_length)
        return "a request cannot have both Transfer-Encoding and Content-Length";
    if (scan.content_length > 1)
        return "Content-Length is given more than once";
    return repeated_single(&scan);
}

static bool excess(struct framing_excess *e, int status, size_t limit, const char *what)
{
    *e = (struct framing_excess){.status = status, .limit = limit, .what = what};
    return true;
}

bool msi_framing_too_large(struct MHD_Connection *conn, size_t request_line_len,
                           struct framing_excess *e)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    const char *cookie = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Cookie");
    size_t head = info ? info->header_size : 0;

    if (request_line_len > FRAMING_REQUEST_LINE_MAX)
        return excess(e, 414, FRAMING_REQUEST_LINE_MAX, "bytes in its request line");
    /* libmicrohttpd keeps a copy of the Cookie header to cut it into cookies */
    if (head + (cookie ? strlen(cookie) : 0) > FRAMING_HEAD_MAX)
        return excess(e, 431, FRAMING_HEAD_MAX,
                      "bytes in its request line and headers (the Cookie header counts twice)");
    if (MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL, NULL) > FRAMING_HEADERS_MAX)
        return excess(e, 431, FRAMING_HEADERS_MAX, "header fields");
    if (MHD_get_connection_values(conn, MHD_COOKIE_KIND, NULL, NULL) > FRAMING_COOKIES_MAX)
        return excess(e, 431, FRAMING_COOKIES_MAX, "cookies");
    return false;
}

const char *msi_framing_cut_query(char *target)
{
    char *query = target ? strchr(target, '?') : NULL;
    size_t params = 1;

    if (!query)
        return NULL;
    for (const char *p = query + 1; *p; p++)
        params += *p == '&';
    if (params <= FRAMING_QUERY_PARAMS_MAX)
        return NULL;
    query[1] = '\0';
    return "the query string has more than 64 parameters";
}

bool msi_framing_method_known(const char *method)
{
    static const char *const methods[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                          "CONNECT", "OPTIONS", "TRACE", "PATCH"};

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(method, methods[i]) == 0)
            return true;
    return false;
}
