/* Raw HTTP/1.1 over a TCP socket, for tests that must send bytes no HTTP client would (a NUL in
 * the request line, a lying Content-Length, a header that never ends) and see exactly what the
 * server does with them: the answer, a close without one, or nothing at all. */
#ifndef MS_TEST_WIRE_H
#define MS_TEST_WIRE_H

#include <stdbool.h>
#include <stddef.h>

struct ms_test_wire {
    int fd;      /* the connection; -1 once closed */
    long status; /* the answer's status code; 0 when no whole status line arrived */
    char *head;  /* the answer's status line and header lines, NUL-terminated, or NULL */
    char *body;  /* the answer's body, NUL-terminated (may hold NULs: see body_len) */
    size_t body_len;
    bool complete;  /* a whole answer arrived (head and body as its framing says) */
    bool eof;       /* the server closed (or reset) the connection */
    int err;        /* errno of the send or receive that failed (EPIPE, ECONNRESET), else 0 */
    double seconds; /* from connecting to the end of the answer, or to giving up */
};

/* Connects to 127.0.0.1:port. Returns the socket (non-blocking, close-on-exec) or -1. */
int ms_test_wire_connect(int port);

/* Connects to 127.0.0.1:port, sends the len bytes of req, and reads one answer, all within
 * timeout_ms. Reading goes on while sending, so an answer the server gives before it has read
 * the whole request (a 413, or a close) is seen. no_body: the answer has no body whatever its
 * Content-Length says (the request was HEAD). An answer without Content-Length is read until the
 * server closes. Returns 0 when a whole answer arrived, -1 otherwise (w says what happened;
 * release it with ms_test_wire_close either way). */
int ms_test_wire_exchange(int port, const void *req, size_t len, bool no_body, long timeout_ms,
                          struct ms_test_wire *w);

/* Waits up to timeout_ms for the server to close the connection. Returns true if it did (any
 * bytes it sends meanwhile are discarded). */
bool ms_test_wire_wait_eof(struct ms_test_wire *w, long timeout_ms);

/* The value of the first header called name (case-insensitive) in the answer, without the
 * surrounding spaces, malloc'd; NULL when there is none. */
char *ms_test_wire_header(const struct ms_test_wire *w, const char *name);

/* Closes the connection (if open) and frees the answer. Safe to call twice. */
void ms_test_wire_close(struct ms_test_wire *w);

#endif
