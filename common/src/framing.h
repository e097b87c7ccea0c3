/* Internal to the server: what it refuses before routing. Requests whose length or target a
 * proxy in front could read differently from libmicrohttpd (the stuff of request smuggling),
 * and methods HTTP does not define. */
#ifndef MS_FRAMING_H
#define MS_FRAMING_H

#include <stdbool.h>
#include <stddef.h>

struct MHD_Connection;

/* Why the request on conn must be refused with 400 and its connection closed, or NULL when its
 * framing is sound. raw_target and raw_len are the request target as MHD first saw it (its URI
 * log callback) and version the version string MHD passed to the request callback: both point
 * into the request line, so a target shorter than the gap between them held a NUL byte, which
 * would silently cut every later copy of it ("/products/1\0x" served as product 1), and a target
 * must be a path (the router would serve "GET health" as /health). The headers
 * must name tokens (no "Content-Length : 5"), Host appear once (required in HTTP/1.1), a
 * Transfer-Encoding be a single "chunked" without Content-Length, and Content-Length appear at
 * most once: RFC 9112 sections 3.2, 5.1 and 6.3. Headers the services read as one value
 * (Content-Type, Idempotency-Key) must not be repeated either. */
const char *msi_framing_problem(struct MHD_Connection *conn, const char *raw_target, size_t raw_len,
                                const char *version);

/* The limits on a request's head, checked before routing so that no handler runs for a request
 * whose answer might not fit (see msi_framing_too_large). */
enum {
    FRAMING_REQUEST_LINE_MAX = 8192, /* bytes: past it, 414 */
    FRAMING_HEAD_MAX = 16384,        /* bytes of request line and headers, cookies twice: 431 */
    FRAMING_HEADERS_MAX = 100,       /* header fields: 431 */
    FRAMING_COOKIES_MAX = 100,       /* cookies: 431 */
};

/* libmicrohttpd's memory per connection (MHD_OPTION_CONNECTION_MEMORY_LIMIT). It holds the
 * request's head (request line and header lines), a 56-byte record (64 with alignment) for each
 * header, cookie and query parameter, a copy of the Cookie header, whatever of the next request
 * a client pipelined, and then the header of the answer: a head that nearly fills it leaves no
 * room for the answer, and libmicrohttpd then closes the connection without one. Half of it is
 * the first read buffer, so a head within the limits above (at most 16 KiB, 100 headers, 100
 * cookies and 64 parameters) leaves room for its answer, where at 32 KiB (libmicrohttpd's
 * default) such a head might not; a head over them is answered on the socket (server.c), which
 * needs none of this memory. The hostile client suite sends heads from the limits to past this
 * memory. The cost, measured as resident memory: 64.6 KiB per connection that has served a
 * request (32.6 KiB at 32 KiB; libmicrohttpd clears the whole pool after each request), 0.6 KiB
 * per connection that has sent nothing (4.6 KiB at 32 KiB, which is malloc'd rather than
 * mapped). */
enum { FRAMING_CONNECTION_MEMORY = 64 * 1024 };

/* Which limit a request is over: the status to answer (414 for the request line, else 431) and,
 * for the message "the request has more than <limit> <what>", the limit and what it counts. */
struct framing_excess {
    int status;
    size_t limit;
    const char *what;
};

/* Whether the request on conn is over one of the limits above; if so fills *e. request_line_len
 * is the length of the request line (method, target and version with the two spaces). */
bool msi_framing_too_large(struct MHD_Connection *conn, size_t request_line_len,
                           struct framing_excess *e);

/* No endpoint takes more query parameters than this. */
enum { FRAMING_QUERY_PARAMS_MAX = 64 };

/* Called on the raw target before MHD splits its query: when the query has more than
 * FRAMING_QUERY_PARAMS_MAX parameters, cuts it off (MHD then parses none) and returns why the
 * request must be refused; else NULL. libmicrohttpd 0.9.75 stores each parameter in the
 * connection's memory pool, and when they do not fit it queues a 431 it then never sends: the
 * connection would hang until its timeout. */
const char *msi_framing_cut_query(char *target);

/* Whether method is one HTTP defines (RFC 9110 and PATCH); any other is answered 501. */
bool msi_framing_method_known(const char *method);

#endif
