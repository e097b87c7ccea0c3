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
 * most once: RFC 9112 sections 3.2, 5.1 and 6.3. */
const char *framing_problem(struct MHD_Connection *conn, const char *raw_target, size_t raw_len,
                            const char *version);

/* No endpoint takes more query parameters than this. */
enum { FRAMING_QUERY_PARAMS_MAX = 64 };

/* Called on the raw target before MHD splits its query: when the query has more than
 * FRAMING_QUERY_PARAMS_MAX parameters, cuts it off (MHD then parses none) and returns why the
 * request must be refused; else NULL. libmicrohttpd 0.9.75 stores each parameter in the
 * connection's memory pool, and when they do not fit it queues a 431 it then never sends: the
 * connection would hang until its timeout. */
const char *framing_cut_query(char *target);

/* Whether method is one HTTP defines (RFC 9110 and PATCH); any other is answered 501. */
bool framing_method_known(const char *method);

#endif
