/* The fault-injecting TCP proxy: its fault settings (shared between the admin server and the
 * proxy loop) and the proxy loop itself. */
#ifndef FAULTPROXY_H
#define FAULTPROXY_H

#include <jansson.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ms/json.h"

/* Faults on one direction of the traffic: "up" is client → upstream, "down" upstream → client. */
struct fp_dir_faults {
    long latency_ms; /* added to every chunk, 0..600000 */
    long jitter_ms;  /* ± uniform around the latency, 0..600000 */
    long rate_bps;   /* bytes per second, 0 for unlimited */
};

/* Every fault the proxy can apply; all zero is a transparent proxy. */
struct fp_faults {
    struct fp_dir_faults up;
    struct fp_dir_faults down;
    double lose_answer_percent; /* share of answers dropped (client reset), 0..100 */
    double lose_conn_percent;   /* share of connections that lose one answer, 0..100 */
    long lose_conn_after;       /* answers a doomed connection passes before losing one */
    double reset_percent;       /* share of new connections reset on accept, 0..100 */
    bool blackhole;             /* accept, forward nothing either way until switched off */
    bool half_open;             /* upstream side closed, client side left open and unanswered */
};

/* The settings as the admin thread changes them and the proxy loop reads them: the loop copies
 * them (under lock) whenever generation moves, so it never holds the lock while forwarding. */
struct fp_settings {
    pthread_mutex_t lock; /* guards faults */
    struct fp_faults faults;
    atomic_uint generation; /* bumped on every change */
    atomic_long lose_next;  /* the next N answers are lost, whichever connection they are on */
};

/* Initialises s with no faults, then applies the PROXY_<FIELD> environment variables (see
 * README.md). 0 or MS_EINVAL (reported on stderr, naming the variable). */
int fp_settings_init(struct fp_settings *s);
void fp_settings_destroy(struct fp_settings *s);

/* Validates obj (a JSON object of README.md's fields; absent fields keep their values) and
 * applies it whole, or nothing with the reason in e. 0 or MS_EINVAL. */
int fp_settings_set_json(struct fp_settings *s, const json_t *obj, struct ms_verr *e);

/* Switches every fault off (lose_next too). */
void fp_settings_clear(struct fp_settings *s);

/* A consistent copy of the current faults. */
struct fp_faults fp_settings_get(struct fp_settings *s);

/* The current settings as JSON (a new reference). */
json_t *fp_settings_to_json(struct fp_settings *s);

/* Takes one from lose_next if it is positive: true means "lose this answer". */
bool fp_settings_take_lose_next(struct fp_settings *s);

struct fp_proxy_config {
    const char *name; /* the proxy's name: the metrics label "proxy" */
    struct sockaddr_storage listen_addr;
    socklen_t listen_len;
    struct sockaddr_storage upstream_addr;
    socklen_t upstream_len;
    int max_connections;   /* client connections at once; more are refused with a reset */
    long max_queued_bytes; /* per direction of a connection: reading stops past it */
};

/* Resolves "host:port" (numeric or a name; "[::1]:5432" for IPv6) into out. 0 or MS_EINVAL. */
int fp_parse_addr(const char *text, struct sockaddr_storage *out, socklen_t *len);

struct fp_proxy;

/* Binds the listening socket (so the port is taken before the caller reports ready) and
 * registers the metrics. s is borrowed and must outlive the proxy. NULL on failure (logged). */
struct fp_proxy *fp_proxy_new(const struct fp_proxy_config *cfg, struct fp_settings *s);

/* The port the proxy listens on (useful with port 0). */
int fp_proxy_port(const struct fp_proxy *p);

/* Starts the loop on its own thread. 0 or MS_EUNAVAIL. */
int fp_proxy_start(struct fp_proxy *p);

/* Wakes the loop so it applies changed settings at once. */
void fp_proxy_wake(struct fp_proxy *p);

/* Resets every open connection (clients get an RST, upstream sockets are closed) and returns
 * how many there were; waits for the loop to do it. */
long fp_proxy_reset_all(struct fp_proxy *p);

/* The connections open now. */
long fp_proxy_active(struct fp_proxy *p);

/* Stops the loop, closes every connection and the listener, frees p. NULL is a no-op. */
void fp_proxy_free(struct fp_proxy *p);

#endif
