/* The deadline watchdog: a thread that looks at every connection a few times a second. */
#include "deadline.h"

#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_received; glibc's lacks it */
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "ms/clock.h"
#include "ms/err.h"
#include "ms/metrics.h"

/* How often the watchdog looks, at most: a connection is cut at most this late. */
enum { TICK_MS = 200 };

/* c no longer waits for its first request. With the lock held. */
static void settle(struct deadline_watch *w, struct deadline_conn *c)
{
    if (c->fresh) {
        c->fresh = false;
        w->fresh--;
    }
}

/* Closes c's connection: MHD sees the end of the stream and closes it. With the lock held, so
 * c cannot be closed (and its descriptor reused) meanwhile. */
static void shut(struct deadline_watch *w, struct deadline_conn *c)
{
    settle(w, c);
    shutdown(c->fd, SHUT_RDWR);
    ms_counter_inc(w->closed);
}

/* Shuts every connection past its deadline; with the lock held. */
static void shut_overdue(struct deadline_watch *w, int64_t now)
{
    for (struct deadline_conn *c = w->head; c; c = c->next) {
        int64_t due = atomic_load(&c->due_ms);
        /* compare and swap: a request read whole just now keeps its connection */
        if (due && now >= due && atomic_compare_exchange_strong(&c->due_ms, &due, 0))
            shut(w, c);
    }
}

/* Whether the client has sent anything at all: such a connection is not idle, whether MHD has
 * read those bytes or not. TCP_INFO counts every byte received; bytes waiting unread
 * (FIONREAD) is the fallback for a socket that has no such count. Unread bytes alone were not
 * enough: a worker that has just read a request line it has not parsed yet leaves none, and
 * its client looked idle. */
static bool has_sent(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);
    int n = 0;

    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
        len >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(info.tcpi_bytes_received))
        return info.tcpi_bytes_received > 0;
    return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

/* Closes the oldest connection still waiting for its first request that has sent nothing,
 * other than newest; with the lock held. */
static void shut_oldest_idle(struct deadline_watch *w, const struct deadline_conn *newest)
{
    for (struct deadline_conn *c = w->tail; c; c = c->prev) {
        int64_t due = atomic_load(&c->due_ms);
        if (c != newest && c->fresh && due && !has_sent(c->fd) &&
            atomic_compare_exchange_strong(&c->due_ms, &due, 0)) {
            shut(w, c);
            return;
        }
    }
}

static void *run(void *arg)
{
    struct deadline_watch *w = arg;
    int64_t tick = w->timeout_ms / 4 < TICK_MS ? w->timeout_ms / 4 : TICK_MS;

    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        int64_t due = ms_now_ms() + (tick > 0 ? tick : 1);
        struct timespec ts = {.tv_sec = due / 1000, .tv_nsec = (due % 1000) * 1000000};
        pthread_cond_timedwait(&w->wake, &w->lock, &ts);
        shut_overdue(w, ms_now_ms());
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int msi_deadline_watch_start(struct deadline_watch *w, const struct deadline_limits *limits,
                             struct ms_series *closed)
{
    pthread_condattr_t attr;

    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &attr);
    pthread_condattr_destroy(&attr);
    w->head = w->tail = NULL;
    w->timeout_ms = limits->timeout_ms;
    w->first_request_ms = limits->first_request_ms < limits->timeout_ms ? limits->first_request_ms
                                                                        : limits->timeout_ms;
    w->fresh = 0;
    w->fresh_max = limits->fresh_max;
    w->closed = closed;
    w->stopping = false;
    if (pthread_create(&w->thread, NULL, run, w) != 0)
        return MS_ENOMEM;
    w->started = true;
    return 0;
}

void msi_deadline_watch_stop(struct deadline_watch *w)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    w->started = false;
}

struct deadline_conn *msi_deadline_conn_open(struct deadline_watch *w, int fd)
{
    struct deadline_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->fd = fd;
    c->opened_ms = ms_now_ms();
    c->fresh = true;
    atomic_store(&c->due_ms, c->opened_ms + w->first_request_ms);
    pthread_mutex_lock(&w->lock);
    c->next = w->head;
    if (w->head)
        w->head->prev = c;
    else
        w->tail = c;
    w->head = c;
    if (++w->fresh > w->fresh_max)
        shut_oldest_idle(w, c);
    pthread_mutex_unlock(&w->lock);
    return c;
}

void msi_deadline_conn_begun(struct deadline_watch *w, struct deadline_conn *c)
{
    int64_t due;

    if (!c)
        return;
    pthread_mutex_lock(&w->lock);
    due = atomic_load(&c->due_ms);
    /* still waiting for its first request: the whole request now has the full timeout; a
     * connection already cut (0) stays cut */
    if (c->fresh && due)
        atomic_compare_exchange_strong(&c->due_ms, &due, c->opened_ms + w->timeout_ms);
    settle(w, c);
    pthread_mutex_unlock(&w->lock);
}

void msi_deadline_conn_close(struct deadline_watch *w, struct deadline_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&w->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        w->tail = c->prev;
    settle(w, c);
    pthread_mutex_unlock(&w->lock);
    free(c);
}

void msi_deadline_conn_serving(struct deadline_conn *c)
{
    if (c)
        atomic_store(&c->due_ms, 0);
}

void msi_deadline_conn_waiting(const struct deadline_watch *w, struct deadline_conn *c)
{
    if (c)
        atomic_store(&c->due_ms, ms_now_ms() + w->timeout_ms);
}
