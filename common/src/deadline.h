/* Internal to the server: every request must arrive whole within the connection timeout.
 * libmicrohttpd's own timeout restarts at every byte received, so a client sending its headers
 * (or its body) a byte a second holds a connection for ever, and a few hundred such clients hold
 * them all (slowloris). Here each connection gets a deadline when it opens and again when an
 * answer is done: by then the next request must have been read whole, or a watchdog thread shuts
 * the connection's socket, which MHD then closes. While a request is served (also while an
 * injected delay holds it) there is no deadline. */
#ifndef MS_DEADLINE_H
#define MS_DEADLINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct ms_series;

/* One per connection, made when MHD opens it and freed when MHD closes it. */
struct deadline_conn {
    struct deadline_conn *prev, *next; /* in the watch's list, under its lock */
    int fd;
    _Atomic int64_t due_ms; /* ms_now_ms() by which a request must be read; 0 while serving */
};

struct deadline_watch {
    pthread_mutex_t lock; /* guards head and stopping */
    pthread_cond_t wake;  /* on CLOCK_MONOTONIC; signalled to stop */
    struct deadline_conn *head;
    int64_t timeout_ms;
    struct ms_series *closed; /* http_client_timeouts_total for this service */
    bool stopping;
    bool started;
    pthread_t thread;
};

/* Starts the watchdog thread. 0 or MS_ENOMEM. */
int deadline_watch_start(struct deadline_watch *w, int64_t timeout_ms, struct ms_series *closed);

/* Stops and joins the thread; call once MHD is stopped (every connection closed). Safe if
 * never started. */
void deadline_watch_stop(struct deadline_watch *w);

/* A connection MHD has opened on socket fd: due timeout_ms from now. NULL when out of memory
 * (that connection then only has MHD's own timeout). */
struct deadline_conn *deadline_conn_open(struct deadline_watch *w, int fd);

/* MHD is closing c's connection: forgets and frees it. c may be NULL. Must come before MHD
 * closes the socket, which MHD's close notification does. */
void deadline_conn_close(struct deadline_watch *w, struct deadline_conn *c);

/* c's request has been read whole: no deadline while it is served. c may be NULL. */
void deadline_conn_serving(struct deadline_conn *c);

/* c's answer is done: the next request is due timeout_ms from now. c may be NULL. */
void deadline_conn_waiting(const struct deadline_watch *w, struct deadline_conn *c);

#endif
