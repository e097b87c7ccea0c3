/* The framing checks: one pass over the request's headers. */
#include "framing.h"

#include <microhttpd.h>
#include <string.h>
#include <strings.h>

struct header_scan {
    bool bad_name;
    int host, content_length, transfer_encoding;
    bool chunked; /* the one Transfer-Encoding is exactly "chunked" */
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

const char *framing_problem(struct MHD_Connection *conn, const char *raw_target, size_t raw_len,
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
    return NULL;
}

const char *framing_cut_query(char *target)
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

bool framing_method_known(const char *method)
{
    static const char *const methods[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                          "CONNECT", "OPTIONS", "TRACE", "PATCH"};

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(method, methods[i]) == 0)
            return true;
    return false;
}
