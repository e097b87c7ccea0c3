/* The server's life (start, drain, stop) and its libmicrohttpd callbacks: a request is begun
 * when its headers arrive, fed its body, served on the final call, and counted when MHD says
 * it is complete. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "framing.h"
#include "ms/budget.h"
#include "ms/clock.h"
#include "ms/err.h"
#include "ms/json.h"
#include "ms/log.h"
#include "ms/rand.h"
#include "server_internal.h"

/* ---- request ids and trace headers ---- */

/* An incoming id is echoed only if it is short and plain, so it is safe in headers and logs. */
static bool id_acceptable(const char *id)
{
    size_t n = id ? strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789-_.:")
                  : 0;

    return n > 0 && n <= 64 && id[n] == '\0';
}

static bool header_value_acceptable(const char *v)
{
    size_t n = 0;

    for (; v[n]; n++)
        if ((unsigned char)v[n] < 0x20 || (unsigned char)v[n] > 0x7e || n >= 512)
            return false;
    return true;
}

static void capture_trace(struct ms_req *req)
{
    const char *id = ms_req_header(req, "x-request-id");

    if (id_acceptable(id))
        snprintf(req->request_id, sizeof(req->request_id), "%s", id);
    else
        ms_uuid4(req->request_id, sizeof(req->request_id));
    req->trace.values[MS_TRACE_REQUEST_ID] = req->request_id;
    for (int i = 1; i < MS_TRACE_NHEADERS; i++) {
        const char *v = ms_req_header(req, ms_trace_header_names[i]);
        req->trace.values[i] = (v && header_value_acceptable(v)) ? v : NULL;
    }
}

/* ---- request life ---- */

static void route_request(struct request *r)
{
    struct ms_req *req = &r->req;

    req->route = "unmatched";
    req->body_max = (size_t)r->srv->cfg.body_max;
    /* on a miss match.route stays NULL, and match.allow lists the methods for a 405 */
    if (!req->path_copy ||
        ms_router_match(r->srv->router, req->method, req->path_copy, &req->match) != MS_MATCH_OK)
        return;
    req->route = req->match.route->pattern;
    if (req->match.route->body_max)
        req->body_max = req->match.route->body_max;
}

/* The deadline MHD keeps as the connection's socket context (on_connection). */
static struct deadline_conn *connection_deadline(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return info ? info->socket_context : NULL;
}

/* MHD calls this with the raw request target, before it splits or decodes it, and keeps what
 * it returns as the request's context: the request starts here, so that on_request can tell
 * whether the target held a NUL byte (see msi_framing_problem). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct ms_server *srv = cls;
    struct request *r = calloc(1, sizeof(*r));

    msi_deadline_conn_begun(&srv->deadlines, connection_deadline(conn));
    if (r) {
        r->raw_target = uri;
        r->raw_target_len = uri ? strlen(uri) : 0;
        /* the target lies in MHD's own writable read buffer, which MHD itself cuts up next */
        r->refusal = msi_framing_cut_query((char *)uri);
    }
    return r;
}

static void request_begin(struct request *r, struct ms_server *srv, struct MHD_Connection *conn,
                          const char *url, const char *method)
{
    r->srv = srv;
    r->start_ns = ms_now_ns();
    r->req.method = method;
    r->req.url = url;
    r->req.conn = conn;
    r->req.server = srv;
    r->req.svc = srv->svc;
    r->req.path_copy = strdup(url);
    r->res.request_id = r->req.request_id;
    r->deadline = connection_deadline(conn);
    capture_trace(&r->req);
    route_request(r);
    r->res.route = r->req.route;
    atomic_fetch_add(&srv->in_flight, 1);
    ms_gauge_add(srv->in_flight_gauge, 1);
}

static void request_free(struct request *r)
{
    ms_res_release(&r->res);
    json_decref(r->req.json);
    free(r->req.body);
    free(r->req.path_copy);
    free(r);
}

/* Copies body bytes up to the route's limit; past it, marks the request (413 on the final
 * call) and discards the rest, since MHD forbids answering while upload data is pending. */
static void body_append(struct ms_req *req, const char *data, size_t len)
{
    size_t need;
    char *grown;

    if (req->body_too_big || len > req->body_max - req->body_len) {
        req->body_too_big = true;
        return;
    }
    need = req->body_len + len + 1;
    if (need > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap * 2 : 1024;
        while (cap < need)
            cap *= 2;
        grown = realloc(req->body, cap);
        if (!grown) {
            req->body_too_big = true; /* cannot hold it: refusing is honest */
            return;
        }
        req->body = grown;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
}

/* A declared Content-Length over the limit is refused before a byte of it is read. */
static bool declared_too_big(const struct ms_req *req)
{
    const char *cl = ms_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    long long n;

    return cl && ms_parse_ll(cl, 0, INT64_MAX, &n) == 0 && (unsigned long long)n > req->body_max;
}

/* ---- answering ---- */

static enum MHD_Result queue_response(struct request *r)
{
    struct ms_res *res = &r->res;
    struct MHD_Response *resp;
    enum MHD_Result ok;

    if (res->status == 0)
        ms_res_error(res, MS_EINTERNAL, "handler for %s gave no answer", r->req.route);
    resp = res->body_len
               ? MHD_create_response_from_buffer(res->body_len, res->body, MHD_RESPMEM_MUST_FREE)
               : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    if (res->body_len)
        res->body = NULL; /* MHD owns it now */
    if (res->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
    MHD_add_response_header(resp, "x-request-id", r->req.request_id);
    MHD_add_response_header(resp, "x-service-version", r->srv->cfg.version);
    for (size_t i = 0; i < res->nheaders; i++)
        MHD_add_response_header(resp, res->headers[i].name, res->headers[i].value);
    if (atomic_load(&r->srv->closing))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    ok = MHD_queue_response(r->req.conn, (unsigned)res->status, resp);
    MHD_destroy_response(resp);
    r->answered = true;
    return ok;
}

/* Writes the answer to the connection's socket itself and has MHD close the connection. For a
 * head over the limits only: MHD builds an answer's header in what the head left of the
 * connection's memory, and a head just short of filling it leaves too little (MHD then closes
 * without a word). This answer needs none of that memory. MHD is inside this request's callback
 * and has sent nothing on the connection yet, so nothing can interleave. The socket's send
 * buffer, empty on a request that was not pipelined, takes the few hundred bytes at once; if it
 * cannot, the client gets what fitted and the close. */
static enum MHD_Result answer_on_socket(struct request *r)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(r->req.conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const struct ms_res *res = &r->res;
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "x-request-id: %s\r\nx-service-version: %s\r\nConnection: close\r\n\r\n",
                     res->status, MHD_get_reason_phrase_for((unsigned)res->status),
                     res->content_type ? res->content_type : "application/json", res->body_len,
                     r->req.request_id, r->srv->cfg.version);
    struct iovec iov[2] = {{.iov_base = head, .iov_len = (size_t)n},
                           {.iov_base = res->body, .iov_len = res->body_len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};

    if (info && n > 0 && (size_t)n < sizeof(head)) {
        (void)sendmsg(info->connect_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        shutdown(info->connect_fd, SHUT_WR); /* the answer ends here: no keep-alive */
        r->answered = r->written_directly = true;
    }
    return MHD_NO; /* MHD closes the connection */
}

static void count_fault(struct request *r, const char *type)
{
    ms_counter_inc(
        ms_series_get(r->srv->faults_total, (const char *const[]){r->srv->cfg.service, type}));
}

/* Rolls the configured faults once. Returns true when the request was suspended for a delay;
 * MHD calls back once it is resumed, and serving carries on from there. */
static bool apply_delay(struct request *r)
{
    int delay_ms;

    if (r->faults_rolled || (r->req.match.route->flags & MS_ROUTE_INFRA))
        return false;
    r->faults_rolled = true;
    ms_faults_roll(&r->srv->cfg.faults, &delay_ms, &r->fault_abort);
    if (delay_ms == 0 || atomic_load(&r->srv->draining))
        return false;
    count_fault(r, "delay");
    r->delay.conn = r->req.conn;
    r->delay.due_ms = ms_now_ms() + delay_ms;
    MHD_suspend_connection(r->req.conn);
    msi_delay_queue_add(&r->srv->delays, &r->delay);
    return true;
}

static void run_handler(struct request *r)
{
    const struct ms_route *route = r->req.match.route;
    struct ms_verr e;

    if (route->flags & MS_ROUTE_JSON) {
        r->req.json = ms_json_parse(r->req.body, r->req.body_len, &e);
        if (!r->req.json) {
            ms_res_error(&r->res, MS_EINVAL, "%s", e.msg);
            return;
        }
    }
    ms_trace_set_current(&r->req.trace);
    /* From here, not from the request's arrival: an injected delay makes the service slow,
     * it does not spend the work's budget. */
    ms_budget_set(ms_now_ms() + ms_budget_for_request(r->srv->cfg.request_budget_ms,
                                                      ms_req_header(&r->req, MS_BUDGET_HEADER)));
    route->handler(&r->req, &r->res);
    ms_budget_set(0);
    ms_trace_set_current(NULL);
}

static enum MHD_Result serve(struct request *r)
{
    struct ms_res *res = &r->res;

    msi_deadline_conn_serving(r->deadline); /* read whole: no deadline while it is served */
    if (r->excess.status) {
        ms_res_error_status(res, r->excess.status,
                            r->excess.status == 414 ? "uri_too_long" : "headers_too_large",
                            "the request has more than %zu %s", r->excess.limit, r->excess.what);
        return answer_on_socket(r);
    }
    if (r->refusal) {
        /* answered before the body is read, so MHD closes the connection after it */
        ms_res_error(res, MS_EINVAL, "malformed request: %s", r->refusal);
    } else if (!msi_framing_method_known(r->req.method)) {
        ms_res_error_status(res, 501, "not_implemented", "method %s is not implemented",
                            r->req.method);
    } else if (!r->req.match.route) {
        if (r->req.match.allow[0]) {
            ms_res_header(res, "Allow", r->req.match.allow);
            ms_res_error_status(res, 405, "method_not_allowed",
                                "%s is not allowed here; allowed: %s", r->req.method,
                                r->req.match.allow);
        } else {
            ms_res_error(res, MS_ENOTFOUND, "no route for %s", r->req.url);
        }
    } else if (r->req.body_too_big) {
        ms_res_error(res, MS_ETOOBIG, "request body is over the limit of %zu bytes",
                     r->req.body_max);
    } else if (apply_delay(r)) {
        return MHD_YES;
    } else if (r->fault_abort) {
        count_fault(r, "abort");
        ms_res_error_status(res, r->fault_abort, "fault_injected",
                            "fault injected by configuration");
    } else {
        run_handler(r);
    }
    return queue_response(r);
}

/* The first call, once the headers are in: refusals are answered now, before the body is read
 * (MHD then closes the connection rather than read it); anything else waits for the body. */
static enum MHD_Result on_headers(struct request *r, struct ms_server *srv,
                                  struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version)
{
    request_begin(r, srv, conn, url, method);
    /* before anything else: past these limits an answer might not fit (framing.h) */
    if (msi_framing_too_large(conn, strlen(method) + r->raw_target_len + strlen(version) + 2,
                              &r->excess))
        return serve(r);
    if (!r->refusal)
        r->refusal = msi_framing_problem(conn, r->raw_target, r->raw_target_len, version);
    if (r->refusal || !msi_framing_method_known(method))
        return serve(r);
    if (r->req.match.route && declared_too_big(&r->req)) {
        r->req.body_too_big = true;
        return serve(r);
    }
    /* answering on a later call is what keeps the connection alive in MHD 0.9.75 */
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **ctx)
{
    struct request *r = *ctx;

    if (!r) /* on_uri could not allocate it */
        return MHD_NO;
    if (!r->srv)
        return on_headers(r, cls, conn, url, method, version);
    if (*upload_data_size) {
        if (!r->answered)
            body_append(&r->req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return r->answered ? MHD_YES : serve(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
                         enum MHD_RequestTerminationCode toe)
{
    struct ms_server *srv = cls;
    struct request *r = *ctx;

    (void)conn;
    if (!r)
        return;
    *ctx = NULL;
    if (!r->srv) { /* MHD refused the request itself (431, 400...) before it began */
        free(r);
        return;
    }
    msi_access_observe(srv, r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK || r->written_directly);
    msi_deadline_conn_waiting(&srv->deadlines, r->deadline); /* for the next request on it */
    request_free(r);
    ms_gauge_add(srv->in_flight_gauge, -1);
    atomic_fetch_sub(&srv->in_flight, 1);
}

/* Gives every connection its deadline when MHD opens it, and drops it before MHD closes the
 * socket (see deadline.h). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct ms_server *srv = cls;
    const union MHD_ConnectionInfo *info;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = info ? msi_deadline_conn_open(&srv->deadlines, info->connect_fd) : NULL;
    } else {
        msi_deadline_conn_close(&srv->deadlines, *socket_context);
        *socket_context = NULL;
    }
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Percent-decoding for paths and query values, in place. MHD's own decoder turns "%00" into a
 * NUL that silently cuts the string ("/products/1%00x" would be served as product 1); this one
 * leaves "%00" as it is, so such input fails validation with a 400 instead. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    char *out = s;

    (void)cls;
    (void)conn;
    for (const char *in = s; *in; in++) {
        int hi = in[0] == '%' ? hex_value(in[1]) : -1;
        int lo = hi >= 0 ? hex_value(in[2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            *out++ = (char)(hi << 4 | lo);
            in += 2;
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    ms_log_json_new(MS_LOG_WARN, json_pack("{s:s,s:s}", "event", "http_server", "msg", msg));
}

/* ---- the server's life ---- */

enum {
    DRAIN_LINGER_MS = 250,    /* no request for this long while draining: only idle ones left */
    JOIN_POLL_MS = 10,        /* how often a process waiting to join its port checks readiness */
    ACCEPT_QUEUED_MAX = 1024, /* connections taken from the queue when giving the port up */
};

void ms_server_block_signals(void)
{
    sigset_t set;

    /* taken by sigwait in ms_server_wait_and_drain; threads created later inherit the mask */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN); /* a peer closing a socket is an error code, not a death */
}

struct ms_server *ms_server_new(const struct ms_server_config *cfg, void *svc)
{
    struct ms_server *srv = calloc(1, sizeof(*srv));

    if (!srv)
        return NULL;
    ms_server_block_signals();
    srv->cfg = *cfg;
    srv->svc = svc;
    srv->router = ms_router_new();
    srv->health = ms_health_new();
    msi_access_metrics_init(srv);
    ms_process_metrics_register();
    if (!srv->router || !srv->health || msi_builtin_routes_add(srv) != 0) {
        ms_server_free(srv);
        return NULL;
    }
    return srv;
}

void ms_server_free(struct ms_server *srv)
{
    if (!srv)
        return;
    ms_server_drain(srv); /* stops the daemon if it still runs */
    ms_router_free(srv->router);
    ms_health_free(srv->health);
    free(srv);
}

int ms_server_add_routes(struct ms_server *srv, const struct ms_route *routes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = ms_router_add(srv->router, &routes[i]);
        if (rc) {
            ms_logf(MS_LOG_ERROR, "route %s %s: %s", routes[i].method, routes[i].pattern,
                    ms_strerror(rc));
            return rc;
        }
    }
    return 0;
}

int ms_server_add_check(struct ms_server *srv, const char *name, ms_check_fn fn, void *ctx,
                        bool critical)
{
    return ms_health_add(srv->health, name, fn, ctx, critical);
}

struct ms_faults *ms_server_faults(struct ms_server *srv)
{
    return &srv->cfg.faults;
}

int ms_server_port(const struct ms_server *srv)
{
    return srv->port;
}

/* Fills addr for the configured address and port; sets *ipv6. 0 or MS_EINVAL. */
static int bind_address(const struct ms_server_config *cfg, struct sockaddr_storage *addr,
                        bool *ipv6)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;

    memset(addr, 0, sizeof(*addr));
    *ipv6 = false;
    if (inet_pton(AF_INET, cfg->bind_address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)cfg->port);
        return 0;
    }
    if (inet_pton(AF_INET6, cfg->bind_address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)cfg->port);
        *ipv6 = true;
        return 0;
    }
    return MS_EINVAL;
}

static struct MHD_Daemon *start_daemon(struct ms_server *srv, const struct sockaddr_storage *addr,
                                       bool ipv6)
{
    const struct ms_server_config *cfg = &srv->cfg;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);

    return MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, srv,
        MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->connection_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)FRAMING_CONNECTION_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_END);
}

/* Succeeds when binding addr needs SO_REUSEPORT: another socket of ours (same user, also with
 * SO_REUSEPORT) already holds it, as in a rolling restart. A port held by anything else is not
 * shared, and listening on it fails as it always did. */
static bool port_shared(const struct sockaddr_storage *addr, bool ipv6)
{
    socklen_t len = ipv6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    bool shared = false;
    int one = 1;

    for (int reuse_port = 0; reuse_port <= 1; reuse_port++) {
        int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int rc;
        if (fd < 0)
            return false;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (reuse_port)
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        rc = bind(fd, (const struct sockaddr *)addr, len); /* bound, never listening */
        close(fd);
        if (!reuse_port && rc == 0)
            return false; /* nobody holds it */
        shared = reuse_port && rc == 0;
    }
    return shared;
}

static int listen_now(struct ms_server *srv)
{
    const union MHD_DaemonInfo *info;
    struct MHD_Daemon *daemon = start_daemon(srv, &srv->addr, srv->ipv6);

    if (!daemon) {
        ms_logf(MS_LOG_ERROR, "cannot listen on %s:%d", srv->cfg.bind_address, srv->cfg.port);
        return MS_EUNAVAIL;
    }
    info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!srv->port) /* a joiner's port is set before it starts, for ms_server_port */
        srv->port = info ? info->port : srv->cfg.port;
    srv->daemon = daemon;
    ms_log_json_new(MS_LOG_INFO, json_pack("{s:s,s:s,s:i,s:s,s:i}", "event", "listening", "address",
                                           srv->cfg.bind_address, "port", srv->port, "version",
                                           srv->cfg.version, "threads", srv->cfg.threads));
    return 0;
}

/* The joiner thread: listens once the readiness checks pass (see ms_server_start). */
static void *join_when_ready(void *arg)
{
    struct ms_server *srv = arg;

    while (!atomic_load(&srv->stop_joining)) {
        char *body = NULL;
        size_t len = 0;
        int status = ms_health_report(srv->health, false, ms_now_ms(), &body, &len);
        free(body);
        if (status == 200) {
            if (listen_now(srv) != 0) {
                srv->start_error = MS_EUNAVAIL;
                raise(SIGTERM); /* taken by ms_server_wait_and_drain, which reports the error */
            }
            break;
        }
        ms_sleep_ms(JOIN_POLL_MS);
    }
    return NULL;
}

/* Starts the server's own threads beside MHD's: the delay queue and the deadline watch. */
static int helpers_start(struct ms_server *srv)
{
    /* idle connections may take half the slots, no more (deadline.h) */
    const struct deadline_limits limits = {
        .timeout_ms = (int64_t)srv->cfg.connection_timeout_s * 1000,
        .first_request_ms = srv->cfg.first_request_timeout_ms,
        .fresh_max = (size_t)(srv->cfg.max_connections + 1) / 2,
    };

    if (msi_delay_queue_start(&srv->delays))
        return MS_ENOMEM;
    if (msi_deadline_watch_start(&srv->deadlines, &limits, srv->client_timeouts)) {
        msi_delay_queue_stop(&srv->delays);
        return MS_ENOMEM;
    }
    srv->helpers_running = true;
    return 0;
}

/* Stops what helpers_start started, if it did; only once no connection is left. */
static void helpers_stop(struct ms_server *srv)
{
    if (!srv->helpers_running)
        return;
    msi_deadline_watch_stop(&srv->deadlines);
    msi_delay_queue_stop(&srv->delays);
    srv->helpers_running = false;
}

int ms_server_start(struct ms_server *srv)
{
    int rc;

    if (bind_address(&srv->cfg, &srv->addr, &srv->ipv6)) {
        ms_logf(MS_LOG_ERROR, "BIND_ADDRESS %s is not an IP address", srv->cfg.bind_address);
        return MS_EINVAL;
    }
    rc = helpers_start(srv);
    if (rc)
        return rc;
    /* A process started on the port of a running one (a rolling restart's new instance) joins it
     * only once ready, as Kubernetes adds a pod to its Service only once ready: listening at once
     * would have the kernel hand it connections that it could only answer 503 (its migrations
     * not run yet). Alone on its port it listens at once, so /health answers while its
     * dependencies are still down. */
    if (srv->cfg.port != 0 && port_shared(&srv->addr, srv->ipv6)) {
        srv->port = srv->cfg.port;
        ms_log_json_new(
            MS_LOG_INFO,
            json_pack("{s:s,s:i}", "event", "port_shared_joining_when_ready", "port", srv->port));
        if (pthread_create(&srv->joiner, NULL, join_when_ready, srv) == 0) {
            srv->joining = true;
            return 0;
        }
    }
    rc = listen_now(srv);
    if (rc)
        helpers_stop(srv);
    return rc;
}

static void wait_for_signal(void)
{
    sigset_t set;
    int sig = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    while (sigwait(&set, &sig) != 0)
        ;
    ms_log_json_new(MS_LOG_INFO, json_pack("{s:s,s:s}", "event", "shutdown", "signal",
                                           sig == SIGTERM ? "SIGTERM" : "SIGINT"));
}

static unsigned open_connections(struct ms_server *srv)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

    return info ? info->num_connections : 0;
}

/* Waits until every connection is closed (each answer now says Connection: close), or no request
 * has been in flight for DRAIN_LINGER_MS (what is left are idle keep-alive connections, which
 * the stop closes), or the drain period is over. Returns how many requests remain. */
static long drain(struct ms_server *srv)
{
    int64_t now = ms_now_ms(), deadline = now + srv->cfg.drain_ms, idle_since = now;
    long left;

    while (now < deadline && open_connections(srv) > 0) {
        left = atomic_load(&srv->in_flight);
        if (left > 0)
            idle_since = now;
        else if (now - idle_since >= DRAIN_LINGER_MS)
            break;
        ms_sleep_ms(5);
        now = ms_now_ms();
    }
    return atomic_load(&srv->in_flight);
}

/* Gives the port up to whoever else listens on it: SO_REUSEPORT (MHD's LISTENING_ADDRESS_REUSE)
 * lets a new instance bind the same port before this one stops, and the kernel spreads new
 * connections over both. After MHD_quiesce_daemon no thread accepts here any more, so the
 * connections already queued on this socket are handed to MHD, and shutdown() then takes the
 * socket out of the group at once: from then on every new connection goes to the other
 * instance, none waits here to be reset when the socket closes. The descriptor itself stays
 * valid until the daemon has stopped, as MHD requires. A connection that arrives between the
 * last accept and shutdown() is still reset, unless net.ipv4.tcp_migrate_req=1 moves it to the
 * other listener. */
static void leave_port(struct ms_server *srv, MHD_socket listener)
{
    int flags = fcntl(listener, F_GETFL);

    if (flags >= 0)
        fcntl(listener, F_SETFL, flags | O_NONBLOCK);
    for (int i = 0; i < ACCEPT_QUEUED_MAX; i++) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof(addr);
        int fd = accept4(listener, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            break; /* none left (EAGAIN), or nothing more this socket can give */
        /* MHD closes the socket itself if it cannot take it */
        MHD_add_connection(srv->daemon, fd, (struct sockaddr *)&addr, len);
    }
    shutdown(listener, SHUT_RDWR);
}

int ms_server_wait_and_drain(struct ms_server *srv)
{
    wait_for_signal();
    ms_server_drain(srv);
    return srv->start_error;
}

/* Stops a joiner still waiting for readiness; afterwards srv->daemon no longer changes. */
static void stop_joining(struct ms_server *srv)
{
    if (!srv->joining)
        return;
    atomic_store(&srv->stop_joining, true);
    pthread_join(srv->joiner, NULL);
    srv->joining = false;
}

int ms_server_drain(struct ms_server *srv)
{
    MHD_socket listener;
    long left;

    stop_joining(srv);
    if (!srv->daemon) { /* never started, or it never got to listen */
        helpers_stop(srv);
        return 0;
    }
    atomic_store(&srv->draining, true); /* /ready answers 503 from now on */
    if (srv->cfg.shutdown_delay_ms)
        ms_sleep_ms(srv->cfg.shutdown_delay_ms);
    listener = MHD_quiesce_daemon(srv->daemon);
    if (listener != MHD_INVALID_SOCKET)
        leave_port(srv, listener);
    /* Only now: a client told to reconnect earlier could have been queued here again. */
    atomic_store(&srv->closing, true);
    msi_delay_queue_flush(&srv->delays); /* delayed requests are answered now, not dropped */
    left = drain(srv);
    MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
    if (listener != MHD_INVALID_SOCKET)
        close(listener); /* MHD leaves the quiesced socket to us, to close after the stop */
    helpers_stop(srv);   /* every connection is closed now */
    ms_log_json_new(MS_LOG_INFO,
                    json_pack("{s:s,s:i}", "event", "stopped", "abandoned", (int)left));
    return 0;
}
