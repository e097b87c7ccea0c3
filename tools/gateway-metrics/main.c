/* gateway-metrics: the nginx gateway's request metrics for Prometheus.
 *
 * nginx has no Prometheus module in Debian, so it sends one syslog line per request to this
 * program over UDP (gateway/upstreams.*.conf: `access_log syslog:server=... ms_metrics`), and this
 * program counts them and serves them at http://BIND_ADDRESS:PORT/metrics over TCP, the same port
 * number (UDP and TCP ports are apart); nginx serves that as its own /metrics on port 9145
 * (gateway/nginx.conf), so the gateway is one scrape target. One line, after syslog's header:
 *
 *     ms-gateway route=products code=504 upstream=product seconds=0.501
 *
 * gives gateway_requests_total{route,code,upstream} and gateway_request_duration_seconds{route}.
 * A line that is not one of these (a stray datagram, a truncated one) is counted in
 * gateway_metrics_lines_rejected_total and otherwise ignored. /health and /ready answer 200 (the
 * container healthcheck). Settings, from the environment: BIND_ADDRESS (default 127.0.0.1) and
 * PORT (default 9146). SIGTERM or SIGINT ends it, exit 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ms/config.h"
#include "ms/metrics.h"
#include "routes.gen.h" /* routes[]: the route values counted (make generate) */

#define LINE_MARK "ms-gateway "
#define DATAGRAM_MAX 2048
#define UPSTREAMS_MAX 16 /* distinct upstream names counted; a bound on the series */
#define RCVBUF_BYTES (4 * 1024 * 1024)

struct line {
    char route[32];
    char code[4];
    char upstream[32];
    double seconds;
};

struct metrics {
    struct ms_family *requests, *duration;
    struct ms_series *rejected;
    char upstreams[UPSTREAMS_MAX][32];
    size_t nupstreams;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

/* ---- one line ---- */

static bool known_route(const char *route)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(route, routes[i]) == 0)
            return true;
    return false;
}

/* A status nginx can send: three digits, 100..599. */
static bool valid_code(const char *code)
{
    return strlen(code) == 3 && code[0] >= '1' && code[0] <= '5' && code[1] >= '0' &&
           code[1] <= '9' && code[2] >= '0' && code[2] <= '9';
}

/* Reads the fields after LINE_MARK; 0, or -1 when the line is not ours or a field is bad. */
static int line_parse(const char *text, struct line *out)
{
    const char *p = strstr(text, LINE_MARK);
    char rest[2];
    int n;

    if (!p)
        return -1;
    n = sscanf(p + strlen(LINE_MARK),
               "route=%31[a-z0-9] code=%3[0-9] upstream=%31[a-z0-9-] seconds=%lf%1s", out->route,
               out->code, out->upstream, &out->seconds, rest);
    if (n != 4 || !known_route(out->route) || !valid_code(out->code))
        return -1;
    if (!isfinite(out->seconds) || out->seconds < 0)
        return -1;
    return 0;
}

/* Whether upstream may get a series: one seen before, or a new one while there is room. */
static bool upstream_admitted(struct metrics *m, const char *upstream)
{
    for (size_t i = 0; i < m->nupstreams; i++)
        if (strcmp(m->upstreams[i], upstream) == 0)
            return true;
    if (m->nupstreams == UPSTREAMS_MAX)
        return false;
    snprintf(m->upstreams[m->nupstreams++], sizeof(m->upstreams[0]), "%s", upstream);
    return true;
}

static void count_datagram(struct metrics *m, const char *text)
{
    struct line l;

    if (line_parse(text, &l) != 0 || !upstream_admitted(m, l.upstream)) {
        ms_counter_inc(m->rejected);
        return;
    }
    ms_counter_inc(ms_series_get(m->requests, (const char *const[]){l.route, l.code, l.upstream}));
    ms_histogram_observe(ms_series_get(m->duration, (const char *const[]){l.route}), l.seconds);
}

/* ---- /metrics over HTTP ---- */

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, char *body, size_t len,
                              const char *type)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body, body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ok;

    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    ok = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **ctx)
{
    size_t len = 0;
    char *body;

    (void)cls, (void)version, (void)upload_data, (void)upload_data_size, (void)ctx;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, 0, "text/plain");
    if (strcmp(url, "/health") == 0 || strcmp(url, "/ready") == 0) /* the container probe */
        return answer(conn, MHD_HTTP_OK, NULL, 0, "text/plain");
    if (strcmp(url, "/metrics") != 0)
        return answer(conn, MHD_HTTP_NOT_FOUND, NULL, 0, "text/plain");
    body = ms_metrics_render(&len);
    if (!body)
        return answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, 0, "text/plain");
    return answer(conn, MHD_HTTP_OK, body, len, "text/plain; version=0.0.4; charset=utf-8");
}

/* ---- sockets and the loop ---- */

/* The UDP socket nginx writes to, bound to addr; -1 on failure (reported). */
static int udp_open(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int size = RCVBUF_BYTES;

    if (fd < 0) {
        perror("gateway-metrics: socket");
        return -1;
    }
    /* a burst of requests must not overflow the queue: a lost line is a lost count */
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0) {
        perror("gateway-metrics: bind (UDP)");
        close(fd);
        return -1;
    }
    return fd;
}

static void receive_all(int fd, struct metrics *m)
{
    char buf[DATAGRAM_MAX + 1];
    ssize_t n;

    while ((n = recv(fd, buf, DATAGRAM_MAX, MSG_DONTWAIT)) >= 0) {
        buf[n] = '\0';
        count_datagram(m, buf);
    }
}

static void serve_until_stopped(int fd, struct metrics *m)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    while (!stopping) {
        int n = poll(&p, 1, 500);
        if (n < 0 && errno != EINTR) {
            perror("gateway-metrics: poll");
            return;
        }
        if (n > 0)
            receive_all(fd, m);
    }
}

static int read_config(struct sockaddr_in *addr)
{
    const char *bind_address;
    int port;

    if (ms_config_str("BIND_ADDRESS", "127.0.0.1", 64, &bind_address) ||
        ms_config_i("PORT", 9146, 1, 65535, &port))
        return -1;
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_address, &addr->sin_addr) != 1) {
        fprintf(stderr, "BIND_ADDRESS: invalid value \"%s\": expected an IPv4 address\n",
                bind_address);
        return -1;
    }
    return 0;
}

static void metrics_register(struct metrics *m)
{
    m->requests = ms_counter_family("gateway_requests_total",
                                    "Requests answered by the gateway, by route, status and the "
                                    "upstream that answered (none: the gateway itself).",
                                    "route,code,upstream");
    m->duration = ms_histogram_family("gateway_request_duration_seconds",
                                      "Time from the request's first byte to the answer's last, "
                                      "at the gateway.",
                                      "route", NULL, 0);
    m->rejected = ms_series_only(
        ms_counter_family("gateway_metrics_lines_rejected_total",
                          "Datagrams that were not a gateway access line (ignored).", NULL));
}

int main(void)
{
    struct sockaddr_in addr;
    struct metrics m = {0};
    struct MHD_Daemon *http;
    struct sigaction sa = {.sa_handler = on_signal};
    int fd;

    if (read_config(&addr) != 0)
        return EXIT_FAILURE;
    metrics_register(&m);
    fd = udp_open(&addr);
    if (fd < 0)
        return EXIT_FAILURE;
    http = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            on_request, NULL, MHD_OPTION_SOCK_ADDR, &addr,
                            MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_CONNECTION_LIMIT, 64u,
                            MHD_OPTION_END);
    if (!http) {
        fprintf(stderr, "gateway-metrics: cannot listen on TCP port %u\n", ntohs(addr.sin_port));
        close(fd);
        return EXIT_FAILURE;
    }
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    fprintf(stderr, "gateway-metrics: counting UDP and serving /metrics on %s:%u\n",
            inet_ntoa(addr.sin_addr), ntohs(addr.sin_port));
    serve_until_stopped(fd, &m);
    MHD_stop_daemon(http);
    close(fd);
    ms_metrics_reset();
    return EXIT_SUCCESS;
}
