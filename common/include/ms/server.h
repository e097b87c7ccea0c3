/* The HTTP server every service runs: libmicrohttpd with an internal epoll thread and a worker
 * pool, the route table, request ids and trace context, access logs, metrics, health and
 * readiness, fault injection, and graceful shutdown on SIGTERM/SIGINT. */
#ifndef MS_SERVER_H
#define MS_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "ms/faults.h"
#include "ms/health.h"
#include "ms/req.h"
#include "ms/res.h"
#include "ms/router.h"

struct ms_server_config {
    const char *service;      /* "product": logs, metrics and error messages */
    const char *version;      /* SERVICE_VERSION, default "v1": the x-service-version header */
    const char *bind_address; /* BIND_ADDRESS, default 0.0.0.0 (containers); tests use 127.0.0.1 */
    int port;                 /* PORT */
    int threads;              /* THREADS, default 4 per CPU (handlers wait on I/O) */
    long body_max;            /* MAX_BODY_BYTES, default 65536 */
    int max_connections;      /* MAX_CONNECTIONS, default 1000 */
    int connection_timeout_s; /* CONNECTION_TIMEOUT_S, idle/slow client limit, default 15 */
    int first_request_timeout_ms; /* FIRST_REQUEST_TIMEOUT_MS, default 2000: a new connection's
                                     first request line must arrive this soon */
    int request_budget_ms;        /* REQUEST_BUDGET_MS, default 800: a handler's calls to its
                                     dependencies, all together, wait at most this (ms/budget.h) */
    int drain_ms;            /* SHUTDOWN_DRAIN_MS, default 10000: in-flight requests get this */
    int shutdown_delay_ms;   /* SHUTDOWN_DELAY_MS, default 0: keep serving while unready, so
                                a load balancer can notice before the listener closes */
    bool admin_enabled;      /* ADMIN_ENABLED, default false: the /admin/faults endpoint */
    bool access_log;         /* ACCESS_LOG, default true */
    struct ms_faults faults; /* FAULT_* */
};

/* Fills cfg from the environment with the given service name and default port. 0, or
 * MS_EINVAL after printing one line naming the bad variable (main then exits with
 * MS_CONFIG_EXIT). */
int ms_server_config_load(struct ms_server_config *cfg, const char *service, int default_port);

/* THREADS's default: four workers per CPU (handlers wait on I/O), at least 16, at most 64. */
int ms_server_default_threads(void);

struct ms_server;

/* Blocks SIGTERM and SIGINT in the calling thread, so that every thread created afterwards
 * inherits the mask and the signal is taken by ms_server_wait_and_drain alone, and ignores
 * SIGPIPE. Call it before starting any thread; calling it again changes nothing. */
void ms_server_block_signals(void);

/* Creates a server for cfg (copied) whose handlers get svc as req->svc. Calls
 * ms_server_block_signals, so call it before starting any thread.
 * Registers the built-in routes (/health, /ready, /metrics, and /admin/faults when enabled).
 * NULL on allocation failure. */
struct ms_server *ms_server_new(const struct ms_server_config *cfg, void *svc);
void ms_server_free(struct ms_server *srv);

/* Adds the service's route table. 0 or the ms_router_add error (a bug in the table). */
int ms_server_add_routes(struct ms_server *srv, const struct ms_route *routes, size_t n);

/* Adds a readiness check (see ms_health_add). */
int ms_server_add_check(struct ms_server *srv, const char *name, ms_check_fn fn, void *ctx,
                        bool critical);

/* Starts listening. The socket has SO_REUSEPORT, so a second instance can bind the same port
 * while this one runs (a rolling restart: the kernel spreads new connections over both). A
 * server that finds its port served that way by another process of ours listens only once its
 * readiness checks pass (a thread waits for it), so that it is handed no connection it could
 * only refuse; alone on its port it listens at once. 0, or MS_EUNAVAIL when the port cannot be
 * bound (logged). */
int ms_server_start(struct ms_server *srv);

/* The port actually bound (useful with PORT=0). */
int ms_server_port(const struct ms_server *srv);

/* Blocks until SIGTERM or SIGINT, then shuts down gracefully (it returns MS_EUNAVAIL, after
 * the same shutdown, when a server waiting to join its port could not listen once ready): /ready
 * turns 503 at once, serving (keep-alive included) goes on for shutdown_delay_ms; then the port is
 * given up (the connections already queued are taken, and new ones go to any other instance on the
 * port), delayed requests are resumed, every answer from then on closes its connection, and the
 * daemon stops once all connections are closed, or no request has come for a quarter of a
 * second (idle keep-alive connections are closed then), or after drain_ms. Returns 0, or the
 * error above. */
int ms_server_wait_and_drain(struct ms_server *srv);

/* The same shutdown without waiting for a signal (tests, embedding). Returns 0; a no-op when
 * the server is not running. */
int ms_server_drain(struct ms_server *srv);

/* The server's fault settings (for tests and services that inject faults themselves). */
struct ms_faults *ms_server_faults(struct ms_server *srv);

#endif
