/* Internal to the server: its state, shared by server.c, builtin.c and access.c. */
#ifndef MS_SERVER_INTERNAL_H
#define MS_SERVER_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "deadline.h"
#include "delay.h"
#include "framing.h"
#include "ms/metrics.h"
#include "ms/server.h"

struct ms_server {
    struct ms_server_config cfg;
    void *svc;
    struct ms_router *router;
    struct ms_health *health;
    struct delay_queue delays;
    struct deadline_watch deadlines;
    struct MHD_Daemon *daemon; /* set by ms_server_start, or by the joiner thread */
    int port;
    struct sockaddr_storage addr; /* BIND_ADDRESS and PORT */
    bool ipv6;
    bool helpers_running; /* delays and deadlines were started and not yet stopped */
    /* A process that found its port served by another waits in the joiner thread until it is
     * ready, then listens (ms_server_start); the drain stops and joins it before it reads daemon.
     */
    pthread_t joiner;
    bool joining;
    atomic_bool stop_joining;
    int start_error;       /* the joiner could not listen: ms_server_wait_and_drain returns it */
    atomic_bool draining;  /* set once by the shutdown path; read by /ready and the faults */
    atomic_bool closing;   /* set once the port is given up: every answer closes its connection */
    atomic_long in_flight; /* requests begun and not completed */
    struct ms_family *requests_total;
    struct ms_family *duration;
    struct ms_family *faults_total;
    struct ms_series *in_flight_gauge;
    struct ms_series *client_timeouts;
};

/* One request's whole state, from its headers to MHD's completion notice. */
struct request {
    struct ms_req req;
    struct ms_res res;
    struct delay_node delay;
    struct deadline_conn *deadline; /* the connection's, owned by the server's watch */
    struct ms_server *srv;
    int64_t start_ns;
    const char *raw_target; /* the target as MHD first saw it, in MHD's buffer; see on_uri */
    size_t raw_target_len;
    const char *refusal; /* why the request is refused before routing (framing.h), or NULL */
    struct framing_excess excess; /* the head limit it is over (status 0: none), framing.h */
    int fault_abort;              /* the abort status rolled for this request, 0 for none */
    bool faults_rolled;
    bool answered;
    bool written_directly; /* answered on the socket, not through MHD (server.c) */
};

/* Registers /health, /ready, /metrics and, when enabled, /admin/faults. */
int msi_builtin_routes_add(struct ms_server *srv);

/* Creates the server's metric families. */
void msi_access_metrics_init(struct ms_server *srv);

/* Counts and logs a finished request (status 499 when the client left first). */
void msi_access_observe(struct ms_server *srv, const struct request *r, bool completed);

#endif
