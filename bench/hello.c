/* The ceiling of make bench: a bare libmicrohttpd hello-world started with the daemon flags and
 * options of common/src/server.c (internal polling thread pool, epoll, the same limits and the
 * same answer-on-the-second-call that keeps connections alive in MHD 0.9.75), answering every
 * request with one prebuilt 200 {"status":"ok"}. No routing, JSON, metrics or logs: what is
 * left is MHD and the kernel, so a service's throughput over this one is what the suite adds.
 *
 *   PORT=<port> [THREADS=<n>] bench-hello     listens on 127.0.0.1 until SIGTERM or SIGINT */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char body[] = "{\"status\":\"ok\"}\n";
static char marker; /* *ctx of a request whose headers arrived: answer on the next call */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **ctx)
{
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (!*ctx) {
        *ctx = &marker;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, cls);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    *ctx = NULL;
}

/* An integer environment variable in [lo, hi], or def when unset; -1 when invalid. */
static int env_int(const char *name, int def, int lo, int hi)
{
    const char *s = getenv(name);
    char *end;
    long v;

    if (!s || !*s)
        return def;
    v = strtol(s, &end, 10);
    return (*end || v < lo || v > hi) ? -1 : (int)v;
}

/* The services' default (common/src/server_config.c): four workers per core, at most 64. */
static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n > 0 ? (int)(n < 16 ? n * 4 : 64) : 4;
}

/* The one answer, prebuilt and shared by every request. */
static struct MHD_Response *make_response(void)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);

    if (resp && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") !=
                    MHD_YES) {
        MHD_destroy_response(resp);
        return NULL;
    }
    return resp;
}

/* The daemon, with server.c's flags and limits (its 64 KiB of memory per connection too). */
static struct MHD_Daemon *start(int port, int threads, struct MHD_Response *resp)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    addr.sin_port = htons((unsigned short)port);
    return MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
            MHD_USE_ERROR_LOG,
        0, NULL, NULL, on_request, resp, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_CONNECTION_TIMEOUT, 15u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
}

int main(void)
{
    int port = env_int("PORT", 0, 1, 65535),
        threads = env_int("THREADS", default_threads(), 1, 256);
    struct MHD_Response *resp;
    struct MHD_Daemon *d;
    sigset_t set;
    int sig;

    if (port <= 0 || threads < 0) {
        fprintf(stderr, "usage: PORT=<1..65535> [THREADS=<1..256>] bench-hello\n");
        return 2;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    resp = make_response();
    if (!resp)
        return 1;
    d = start(port, threads, resp);
    if (!d) {
        fprintf(stderr, "bench-hello: cannot listen on 127.0.0.1:%d\n", port);
        MHD_destroy_response(resp);
        return 1;
    }
    printf("bench-hello: listening on 127.0.0.1:%d with %d threads\n", port, threads);
    fflush(stdout);
    while (sigwait(&set, &sig) != 0)
        ;
    MHD_stop_daemon(d);
    MHD_destroy_response(resp);
    return 0;
}
