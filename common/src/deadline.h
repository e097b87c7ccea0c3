/* Internal to the server: every request must arrive whole within the connection timeout.
 * libmicrohttpd's own timeout restarts at every byte received, so a client sending its headers
 * (or its body) a byte a second holds a connection for ever, and a few hundred such clients hold
 * them all (slowloris). Here each connection gets a deadline when it opens and again when an
 * answer is done: by then the next request must have been read whole, or a watchdog thread shuts
 * the connection's socket, which MHD then closes. While a request is served (also while an
 * injected delay holds it) there is no deadline.
 *
 * Idle connections (connected, nothing sent) are cheap to open and each takes a connection slot:
 * a thousand of them used to keep every other client, /health included, waiting until the
 * timeout cut them. So a new connection must send its first request line sooner (the first
 * request timeout), and no more than fresh_max connections may wait for their first request at
 * once: one more, and the oldest of them that has sent nothing is closed to make room. Slots
 * therefore stay free for clients that send requests, whatever the number of idle sockets. */
#ifndef MS_DEADLINE_H
#define MS_DEADLINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct ms_series;

/* One per connection, made when MHD opens it and freed when MHD closes it. */
struct deadline_conn {
    struct deadline_conn *prev, *next; /* in the watch's list, newest first, under its lock */
    int fd;
    _Atomic int64_t due_ms; /* ms_now_ms() by which a request must be read; 0 while serving */
    int64_t opened_ms;
    bool fresh; /* no request begun on it yet; under the watch's lock */
};

struct deadline_watch {
    pthread_mutex_t lock; /* guards head and stopping */
    pthread_cond_t wake;  /* on CLOCK_MONOTONIC; signalled to stop */
    struct deadline_conn *head, *tail;
    int64_t timeout_ms;
    int64_t first_request_ms; /* a new connection's first request line must come this soon */
    size_t fresh;             /* connections with no request begun yet */
    size_t fresh_max;         /* past it, the oldest silent one is closed */
    struct ms_series *closed; /* http_client_timeouts_total for this service */
    bool stopping;
    bool started;
    pthread_t thread;
};

/* The limits of a watch. */
struct deadline_limits {
    int64_t timeout_ms;       /* to send each whole request */
    int64_t first_request_ms; /* to send the first request line on a new connection */
    size_t fresh_max;         /* connections waiting for their first request */
};

/* Starts the watchdog thread. 0 or MS_ENOMEM. */
int msi_deadline_watch_start(struct deadline_watch *w, const struct deadline_limits *limits,
                             struct ms_series *closed);

/* Stops and joins the thread; call once MHD is stopped (every connection closed). Safe if
 * never started. */
void msi_deadline_watch_stop(struct deadline_watch *w);

/* A connection MHD has opened on socket fd: its first request line is due first_request_ms from
 * now (at most timeout_ms). When more than fresh_max connections now wait for their first
 * request, closes the oldest of them that has nothing waiting to be read. NULL when out of
 * memory (that connection then only has MHD's own timeout). */
struct deadline_conn *msi_deadline_conn_open(struct deadline_watch *w, int fd);

/* c's request line has arrived: the request is due timeout_ms after the connection opened (or
 * its previous answer, see msi_deadline_conn_waiting). c may be NULL. */
void msi_deadline_conn_begun(struct deadline_watch *w, struct deadline_conn *c);

/* MHD is closing c's connection: forgets and frees it. c may be NULL. Must come before MHD
 * closes the socket, which MHD's close notification does. */
void msi_deadline_conn_close(struct deadline_watch *w, struct deadline_conn *c);

/* c's request has been read whole: no deadline while it is served. c may be NULL. */
void msi_deadline_conn_serving(struct deadline_conn *c);

/* c's answer is done: the next request is due timeout_ms from now. c may be NULL. */
void msi_deadline_conn_waiting(const struct deadline_watch *w, struct deadline_conn *c);

#endif
