/* The proxy loop: one thread, one epoll set (level-triggered), non-blocking sockets. Each
 * client connection is a link to its own upstream connection, with one queue of chunks per
 * direction; a chunk carries the time it may be sent, which is how latency, jitter and
 * bandwidth are applied without a thread or timer per connection. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "faultproxy.h"
#include "ms/clock.h"
#include "ms/err.h"
#include "ms/log.h"
#include "ms/metrics.h"
#include "ms/rand.h"

enum { READ_MAX = 16384, EVENTS_MAX = 256, ACCEPT_BATCH = 64 };
#define NEVER INT64_MAX

/* A piece of traffic waiting to be sent on; due_us is when it may go. */
struct chunk {
    struct chunk *next;
    int64_t due_us;
    size_t len;
    size_t off;
    char data[];
};

/* One direction of a link: the queue from its source to its destination. */
struct flow {
    struct chunk *head;
    struct chunk *tail;
    long queued;      /* bytes in the queue */
    int64_t last_due; /* the last chunk's due time: chunks never overtake each other */
    bool eof;         /* the source has sent its FIN */
    bool shut;        /* the FIN has been passed on */
    bool blocked;     /* the destination's buffer is full: wait for EPOLLOUT */
};

/* Client links start CONNECTING (or HELD during a blackhole, or HALF_OPEN), then are OPEN. */
enum link_state { L_CONNECTING, L_OPEN, L_HELD, L_HALF_OPEN };

struct link;

/* What an epoll event is about: a link's client (side 0) or upstream (side 1) socket, or,
 * with no link, the listener (side 0) or the wake-up eventfd (side 1). */
struct tag {
    struct link *link;
    int side;
};

struct link {
    struct link *prev, *next; /* every live link, or the dead list */
    struct tag ctag, utag;
    int cfd, ufd;
    uint32_t cmask, umask; /* the events armed now */
    enum link_state state;
    struct flow up, down;
    bool awaiting_answer; /* the client has spoken since the upstream last did */
    bool doomed;          /* lose_conn_percent picked this connection */
    bool dead;
    long answers;
};

struct fp_metrics {
    struct ms_series *accepted, *active, *bytes_up, *bytes_down;
    struct ms_series *refused_limit, *refused_upstream;
    struct ms_series *latency, *bandwidth, *lost_answer, *reset, *blackhole, *half_open;
};

/* Only the loop thread touches links, faults and the epoll set; other threads use stop,
 * the eventfd and the reset request (under lock). */
struct fp_proxy {
    struct fp_proxy_config cfg;
    struct fp_settings *settings;
    struct fp_faults faults; /* the loop's copy */
    unsigned generation;
    int epfd, lfd, wfd;
    struct tag ltag, wtag;
    struct link *links, *dead;
    atomic_long active;
    int64_t next_due;
    struct fp_metrics m;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t lock; /* guards the reset request below */
    pthread_cond_t done;
    bool reset_requested;
    long reset_count;
};

static int64_t now_us(void)
{
    return ms_now_ns() / 1000;
}

static bool roll(double percent)
{
    return percent >= 100 || (percent > 0 && (double)ms_rand_below(1000000) < percent * 10000.0);
}

/* ---- metrics ---- */

static struct ms_series *labelled(struct ms_family *f, const char *name, const char *value)
{
    const char *values[] = {name, value};

    return ms_series_get(f, values);
}

static void metrics_register(struct fp_metrics *m, const char *name)
{
    const char *only[] = {name};
    struct ms_family *faults = ms_counter_family(
        "faultproxy_faults_total", "Faults the proxy applied, by kind.", "proxy,kind");
    struct ms_family *bytes = ms_counter_family(
        "faultproxy_bytes_total", "Bytes forwarded, by direction.", "proxy,direction");
    struct ms_family *refused = ms_counter_family(
        "faultproxy_connections_refused_total",
        "Client connections refused: too many at once, or the upstream could not be reached.",
        "proxy,reason");

    m->accepted = ms_series_get(
        ms_counter_family("faultproxy_connections_total", "Client connections accepted.", "proxy"),
        only);
    m->active = ms_series_get(
        ms_gauge_family("faultproxy_connections_active", "Client connections open now.", "proxy"),
        only);
    m->bytes_up = labelled(bytes, name, "upstream");
    m->bytes_down = labelled(bytes, name, "downstream");
    m->refused_limit = labelled(refused, name, "limit");
    m->refused_upstream = labelled(refused, name, "upstream");
    m->latency = labelled(faults, name, "latency");
    m->bandwidth = labelled(faults, name, "bandwidth");
    m->lost_answer = labelled(faults, name, "lost_answer");
    m->reset = labelled(faults, name, "reset");
    m->blackhole = labelled(faults, name, "blackhole");
    m->half_open = labelled(faults, name, "half_open");
}

/* ---- sockets ---- */

static void nodelay(int fd)
{
    int one = 1;

    /* small request/answer protocols (PostgreSQL, Redis) must not wait for Nagle */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Closes fd so that the peer gets an RST, not a FIN: what a lost connection looks like. */
static void close_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

static void arm(struct fp_proxy *p, int fd, struct tag *t, uint32_t *cur, uint32_t want, bool add)
{
    struct epoll_event ev = {.events = want, .data.ptr = t};

    if (!add && *cur == want)
        return;
    *cur = want;
    epoll_ctl(p->epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
}

/* ---- flows ---- */

static void flow_free(struct flow *f)
{
    while (f->head) {
        struct chunk *c = f->head;

        f->head = c->next;
        free(c);
    }
    *f = (struct flow){0};
}

static void note_due(struct fp_proxy *p, int64_t due)
{
    if (due < p->next_due)
        p->next_due = due;
}

/* When a chunk read now may be sent: latency and jitter from now, never before the chunk ahead
 * of it, then the time the bandwidth needs to carry it. */
static int64_t chunk_due(struct fp_proxy *p, struct flow *f, const struct fp_dir_faults *d,
                         size_t len, int64_t now)
{
    int64_t delay = d->latency_ms * 1000;
    int64_t due;

    if (d->jitter_ms > 0)
        delay += (int64_t)ms_rand_below((uint64_t)d->jitter_ms * 2000 + 1) - d->jitter_ms * 1000;
    if (delay > 0)
        ms_counter_inc(p->m.latency);
    due = now + (delay > 0 ? delay : 0);
    if (due < f->last_due)
        due = f->last_due;
    if (d->rate_bps > 0) {
        due += (int64_t)((double)len * 1e6 / (double)d->rate_bps);
        ms_counter_inc(p->m.bandwidth);
    }
    f->last_due = due;
    return due;
}

static int flow_push(struct fp_proxy *p, struct flow *f, const struct fp_dir_faults *d,
                     const char *buf, size_t len, int64_t now)
{
    struct chunk *c = malloc(sizeof(*c) + len);

    if (!c)
        return MS_ENOMEM;
    c->next = NULL;
    c->len = len;
    c->off = 0;
    c->due_us = chunk_due(p, f, d, len, now);
    memcpy(c->data, buf, len);
    if (f->tail)
        f->tail->next = c;
    else
        f->head = c;
    f->tail = c;
    f->queued += (long)len;
    return 0;
}

/* Sends the head chunk of f to dst if it is due. 1: sent whole, go on; 0: stop for now
 * (not due, or dst is full); -1: dst is gone. */
static int chunk_send(struct fp_proxy *p, struct flow *f, int dst, int64_t now,
                      struct ms_series *bytes)
{
    struct chunk *c = f->head;
    ssize_t n;

    if (c->due_us > now) {
        note_due(p, c->due_us);
        return 0;
    }
    n = send(dst, c->data + c->off, c->len - c->off, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        f->blocked = true;
        return 0;
    }
    if (n < 0)
        return -1;
    ms_counter_add(bytes, (double)n);
    c->off += (size_t)n;
    f->queued -= (long)n;
    if (c->off < c->len)
        return 1;
    f->head = c->next;
    if (!f->head)
        f->tail = NULL;
    free(c);
    return 1;
}

/* Sends what is due from f to dst, and the FIN once the source's has come and all is sent.
 * 0, or -1 when dst is gone. */
static int flow_flush(struct fp_proxy *p, struct flow *f, int dst, int64_t now,
                      struct ms_series *bytes)
{
    int rc = 1;

    while (f->head && !f->blocked && rc > 0)
        rc = chunk_send(p, f, dst, now, bytes);
    if (rc < 0)
        return -1;
    if (!f->head && f->eof && !f->shut) {
        shutdown(dst, SHUT_WR);
        f->shut = true;
    }
    return 0;
}

/* ---- links ---- */

static void link_close(struct fp_proxy *p, struct link *l, bool reset_client)
{
    if (l->dead)
        return;
    if (reset_client)
        close_reset(l->cfd);
    else
        close(l->cfd);
    if (l->ufd >= 0)
        close(l->ufd);
    l->cfd = l->ufd = -1;
    flow_free(&l->up);
    flow_free(&l->down);
    if (l->prev)
        l->prev->next = l->next;
    else
        p->links = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->dead = true;
    l->prev = NULL;
    l->next = p->dead; /* freed after the current batch of events, which may still name it */
    p->dead = l;
    atomic_fetch_sub(&p->active, 1);
    ms_gauge_add(p->m.active, -1);
}

static bool forwarding(const struct fp_proxy *p, const struct link *l)
{
    return l->state == L_OPEN && !p->faults.blackhole;
}

static uint32_t reading(const struct fp_proxy *p, const struct flow *f)
{
    return !f->eof && f->queued < p->cfg.max_queued_bytes ? EPOLLIN : 0;
}

/* Sets the events each socket of l waits for, from its state and queues. */
static void link_arm(struct fp_proxy *p, struct link *l)
{
    uint32_t cwant = 0, uwant = 0;

    if (l->state == L_HALF_OPEN) {
        cwant = EPOLLIN; /* read and discard: the client is never answered */
    } else if (forwarding(p, l)) {
        cwant = reading(p, &l->up) | (l->down.blocked ? EPOLLOUT : 0);
        uwant = reading(p, &l->down) | (l->up.blocked ? EPOLLOUT : 0);
    } else if (l->state == L_CONNECTING) {
        uwant = EPOLLOUT;
    }
    arm(p, l->cfd, &l->ctag, &l->cmask, cwant, false);
    if (l->ufd >= 0)
        arm(p, l->ufd, &l->utag, &l->umask, uwant, false);
}

/* Flushes both directions, closes the link once both are finished, re-arms it otherwise. */
static void link_step(struct fp_proxy *p, struct link *l, int64_t now)
{
    if (l->dead)
        return;
    if (forwarding(p, l)) {
        if (flow_flush(p, &l->up, l->ufd, now, p->m.bytes_up)) {
            link_close(p, l, true); /* the upstream is gone: the client sees it go too */
            return;
        }
        if (flow_flush(p, &l->down, l->cfd, now, p->m.bytes_down)) {
            link_close(p, l, false);
            return;
        }
        if (l->up.shut && l->down.shut) {
            link_close(p, l, false);
            return;
        }
    }
    link_arm(p, l);
}

static void link_connect(struct fp_proxy *p, struct link *l)
{
    const struct sockaddr *addr = (const struct sockaddr *)&p->cfg.upstream_addr;

    l->ufd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->ufd < 0) {
        ms_counter_inc(p->m.refused_upstream);
        link_close(p, l, true);
        return;
    }
    nodelay(l->ufd);
    l->state = L_CONNECTING;
    if (connect(l->ufd, addr, p->cfg.upstream_len) == 0)
        l->state = L_OPEN;
    else if (errno != EINPROGRESS) {
        ms_counter_inc(p->m.refused_upstream);
        link_close(p, l, true);
        return;
    }
    arm(p, l->ufd, &l->utag, &l->umask, 0, true);
}

/* Puts l half-open: its upstream side closes (the server sees the client go), while the client
 * keeps a connection that will never answer. */
static void link_half_open(struct fp_proxy *p, struct link *l)
{
    if (l->ufd >= 0)
        close(l->ufd);
    l->ufd = -1;
    flow_free(&l->up);
    flow_free(&l->down);
    l->state = L_HALF_OPEN;
    ms_counter_inc(p->m.half_open);
}

static void link_new(struct fp_proxy *p, int fd)
{
    struct link *l = calloc(1, sizeof(*l));

    if (!l) {
        close_reset(fd);
        return;
    }
    l->cfd = fd;
    l->ufd = -1;
    l->ctag = (struct tag){l, 0};
    l->utag = (struct tag){l, 1};
    l->doomed = roll(p->faults.lose_conn_percent);
    l->next = p->links;
    if (p->links)
        p->links->prev = l;
    p->links = l;
    atomic_fetch_add(&p->active, 1);
    ms_gauge_add(p->m.active, 1);
    nodelay(fd);
    arm(p, fd, &l->ctag, &l->cmask, 0, true);
    if (p->faults.half_open) {
        link_half_open(p, l);
    } else if (p->faults.blackhole) {
        l->state = L_HELD; /* connected upstream once the blackhole lifts */
        ms_counter_inc(p->m.blackhole);
    } else {
        link_connect(p, l);
    }
    if (!l->dead)
        link_arm(p, l);
}

/* ---- events ---- */

static void on_accept(struct fp_proxy *p)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0)
            return; /* EAGAIN, or out of descriptors: the rest wait in the backlog */
        ms_counter_inc(p->m.accepted);
        if (atomic_load(&p->active) >= p->cfg.max_connections) {
            ms_counter_inc(p->m.refused_limit);
            close_reset(fd);
        } else if (roll(p->faults.reset_percent)) {
            ms_counter_inc(p->m.reset);
            close_reset(fd);
        } else {
            link_new(p, fd);
        }
    }
}

static void on_connected(struct fp_proxy *p, struct link *l)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(l->ufd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
        ms_counter_inc(p->m.refused_upstream);
        link_close(p, l, true); /* the client sees the refusal as a reset */
        return;
    }
    l->state = L_OPEN;
}

/* Is this chunk from the upstream the start of an answer that is to be lost? */
static bool answer_lost(struct fp_proxy *p, struct link *l)
{
    if (!l->awaiting_answer)
        return false; /* more of an answer already started, or unprompted (a notice) */
    l->awaiting_answer = false;
    l->answers++;
    if (fp_settings_take_lose_next(p->settings))
        return true;
    if (l->doomed && l->answers > p->faults.lose_conn_after) {
        l->doomed = false;
        return true;
    }
    return roll(p->faults.lose_answer_percent);
}

/* Forwards what was just read: straight to dst when nothing waits ahead of it and no delay
 * applies (the common case, with no copy), the rest through the queue. 0 or MS_ENOMEM. */
static int pass_on(struct fp_proxy *p, const struct link *l, struct flow *f,
                   const struct fp_dir_faults *d, int dst, const char *buf, size_t len, int64_t now,
                   struct ms_series *bytes)
{
    ssize_t sent = 0;

    if (forwarding(p, l) && !f->head && !f->blocked && !d->latency_ms && !d->jitter_ms &&
        !d->rate_bps) {
        sent = send(dst, buf, len, MSG_NOSIGNAL);
        if (sent < 0)
            sent = 0; /* full or failed: the queue's flush finds out which */
        ms_counter_add(bytes, (double)sent);
    }
    if ((size_t)sent == len)
        return 0;
    return flow_push(p, f, d, buf + sent, len - (size_t)sent, now);
}

static void on_client_data(struct fp_proxy *p, struct link *l, const char *buf, size_t n,
                           int64_t now)
{
    if (l->state == L_HALF_OPEN)
        return; /* swallowed */
    l->awaiting_answer = true;
    if (pass_on(p, l, &l->up, &p->faults.up, l->ufd, buf, n, now, p->m.bytes_up))
        link_close(p, l, true);
}

static void on_upstream_data(struct fp_proxy *p, struct link *l, const char *buf, size_t n,
                             int64_t now)
{
    if (answer_lost(p, l)) {
        /* the upstream did the work; its answer goes nowhere and the client is reset */
        ms_counter_inc(p->m.lost_answer);
        link_close(p, l, true);
        return;
    }
    if (pass_on(p, l, &l->down, &p->faults.down, l->cfd, buf, n, now, p->m.bytes_down))
        link_close(p, l, true);
}

/* Reads what one side of l has. A reset or error from either side ends the link; an upstream
 * failure is passed to the client as a reset. */
static void on_readable(struct fp_proxy *p, struct link *l, int side, int64_t now)
{
    char buf[READ_MAX];
    struct flow *f = side ? &l->down : &l->up;
    ssize_t n = recv(side ? l->ufd : l->cfd, buf, sizeof(buf), 0);

    if (n > 0) {
        if (side)
            on_upstream_data(p, l, buf, (size_t)n, now);
        else
            on_client_data(p, l, buf, (size_t)n, now);
    } else if (n == 0 && l->state != L_HALF_OPEN) {
        f->eof = true;
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        link_close(p, l, side == 1);
    }
}

static void on_link_event(struct fp_proxy *p, struct tag *t, uint32_t ev, int64_t now)
{
    struct link *l = t->link;
    struct flow *out = t->side ? &l->up : &l->down; /* what this socket receives */

    if (l->dead)
        return;
    if (t->side && l->state == L_CONNECTING) {
        on_connected(p, l);
    } else {
        if (ev & EPOLLOUT)
            out->blocked = false;
        if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
            on_readable(p, l, t->side, now);
        if (!l->dead && (ev & (EPOLLHUP | EPOLLERR)) && !(ev & EPOLLIN))
            link_close(p, l, t->side == 1); /* nothing more to read: the socket is gone */
    }
    link_step(p, l, now);
}

/* ---- settings changes, timers, admin requests ---- */

static void apply_faults(struct fp_proxy *p, int64_t now)
{
    bool was_blackhole = p->faults.blackhole;
    struct link *next;

    p->faults = fp_settings_get(p->settings);
    for (struct link *l = p->links; l; l = next) {
        next = l->next;
        if (p->faults.half_open && l->state != L_HALF_OPEN)
            link_half_open(p, l);
        else if (!p->faults.blackhole && l->state == L_HELD)
            link_connect(p, l);
        else if (p->faults.blackhole && !was_blackhole && l->state == L_OPEN)
            ms_counter_inc(p->m.blackhole);
        link_step(p, l, now);
    }
}

static void on_timer(struct fp_proxy *p, int64_t now)
{
    struct link *next;

    p->next_due = NEVER;
    for (struct link *l = p->links; l; l = next) {
        next = l->next;
        link_step(p, l, now);
    }
}

static void on_wake(struct fp_proxy *p)
{
    uint64_t v;
    long n = 0;

    if (read(p->wfd, &v, sizeof(v)) < 0)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->reset_requested) {
        while (p->links) {
            link_close(p, p->links, true);
            n++;
        }
        ms_counter_add(p->m.reset, (double)n);
        p->reset_count = n;
        p->reset_requested = false;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
}

static void free_dead(struct fp_proxy *p)
{
    while (p->dead) {
        struct link *l = p->dead;

        p->dead = l->next;
        free(l);
    }
}

static int wait_ms(const struct fp_proxy *p)
{
    int64_t left;

    if (p->next_due == NEVER)
        return -1;
    left = (p->next_due - now_us() + 999) / 1000;
    return left < 0 ? 0 : (int)(left > 60000 ? 60000 : left);
}

static void dispatch(struct fp_proxy *p, const struct epoll_event *ev, int64_t now)
{
    struct tag *t = ev->data.ptr;

    if (t->link)
        on_link_event(p, t, ev->events, now);
    else if (t->side == 0)
        on_accept(p);
    else
        on_wake(p);
}

static void *loop(void *arg)
{
    struct fp_proxy *p = arg;
    struct epoll_event evs[EVENTS_MAX];

    while (!atomic_load(&p->stop)) {
        int n = epoll_wait(p->epfd, evs, EVENTS_MAX, wait_ms(p));
        int64_t now = now_us();
        unsigned gen = atomic_load(&p->settings->generation);

        if (gen != p->generation) {
            p->generation = gen;
            apply_faults(p, now);
        }
        for (int i = 0; i < n; i++)
            dispatch(p, &evs[i], now);
        if (now >= p->next_due)
            on_timer(p, now);
        free_dead(p);
    }
    return NULL;
}

/* ---- life cycle ---- */

static int listen_on(struct fp_proxy *p)
{
    const struct sockaddr *addr = (const struct sockaddr *)&p->cfg.listen_addr;
    int one = 1;

    p->lfd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->lfd < 0)
        return MS_EUNAVAIL;
    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(p->lfd, addr, p->cfg.listen_len) || listen(p->lfd, SOMAXCONN)) {
        ms_logf(MS_LOG_ERROR, "proxy %s cannot listen: %s", p->cfg.name, strerror(errno));
        return MS_EUNAVAIL;
    }
    return 0;
}

static int loop_fds(struct fp_proxy *p)
{
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    p->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->epfd < 0 || p->wfd < 0)
        return MS_EUNAVAIL;
    p->ltag = (struct tag){NULL, 0};
    p->wtag = (struct tag){NULL, 1};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->lfd,
                  &(struct epoll_event){.events = EPOLLIN, .data.ptr = &p->ltag}) ||
        epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wfd,
                  &(struct epoll_event){.events = EPOLLIN, .data.ptr = &p->wtag}))
        return MS_EUNAVAIL;
    return 0;
}

struct fp_proxy *fp_proxy_new(const struct fp_proxy_config *cfg, struct fp_settings *s)
{
    struct fp_proxy *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->cfg = *cfg;
    p->settings = s;
    p->lfd = p->epfd = p->wfd = -1;
    p->next_due = NEVER;
    p->generation = atomic_load(&s->generation);
    p->faults = fp_settings_get(s);
    atomic_init(&p->active, 0);
    atomic_init(&p->stop, false);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->done, NULL);
    metrics_register(&p->m, cfg->name);
    if (listen_on(p) || loop_fds(p)) {
        fp_proxy_free(p);
        return NULL;
    }
    return p;
}

int fp_proxy_port(const struct fp_proxy *p)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } a;
    socklen_t len = sizeof(a);

    memset(&a, 0, sizeof(a));
    if (getsockname(p->lfd, &a.sa, &len))
        return -1;
    return ntohs(a.sa.sa_family == AF_INET6 ? a.in6.sin6_port : a.in.sin_port);
}

int fp_proxy_start(struct fp_proxy *p)
{
    if (pthread_create(&p->thread, NULL, loop, p))
        return MS_EUNAVAIL;
    p->started = true;
    return 0;
}

void fp_proxy_wake(struct fp_proxy *p)
{
    uint64_t one = 1;

    if (write(p->wfd, &one, sizeof(one)) < 0)
        return; /* the counter is full: the loop has a wake-up pending anyway */
}

long fp_proxy_reset_all(struct fp_proxy *p)
{
    long n;

    pthread_mutex_lock(&p->lock);
    p->reset_requested = true;
    fp_proxy_wake(p);
    while (p->reset_requested && p->started)
        pthread_cond_wait(&p->done, &p->lock);
    n = p->reset_count;
    pthread_mutex_unlock(&p->lock);
    return n;
}

long fp_proxy_active(struct fp_proxy *p)
{
    return atomic_load(&p->active);
}

void fp_proxy_free(struct fp_proxy *p)
{
    if (!p)
        return;
    if (p->started) {
        atomic_store(&p->stop, true);
        fp_proxy_wake(p);
        pthread_join(p->thread, NULL);
    }
    while (p->links)
        link_close(p, p->links, false);
    free_dead(p);
    if (p->lfd >= 0)
        close(p->lfd);
    if (p->wfd >= 0)
        close(p->wfd);
    if (p->epfd >= 0)
        close(p->epfd);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->done);
    free(p);
}
