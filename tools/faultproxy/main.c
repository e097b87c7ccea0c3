/* faultproxy: a TCP proxy between a service and one dependency that injects network faults
 * (latency, jitter, bandwidth, lost answers, resets, blackhole, half-open), switched at run time
 * through its admin HTTP API. Wiring only: settings, the admin server, the proxy loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultproxy.h"
#include "ms/config.h"
#include "ms/err.h"
#include "ms/log.h"
#include "ms/server.h"

enum { ADDR_MAX_LEN = 300, DEFAULT_ADMIN_PORT = 7000 };

/* The admin routes' context. */
struct app {
    struct fp_settings settings;
    struct fp_proxy *proxy;
};

static void faults_get(struct ms_req *req, struct ms_res *res)
{
    struct app *app = req->svc;

    ms_res_json_new(res, 200, fp_settings_to_json(&app->settings));
}

static void faults_changed(struct ms_req *req, struct ms_res *res)
{
    struct app *app = req->svc;
    json_t *now = fp_settings_to_json(&app->settings);

    fp_proxy_wake(app->proxy);
    ms_log_json_new(MS_LOG_WARN, json_pack("{s:s,s:O,s:s}", "event", "faults_changed", "faults",
                                           now, "request_id", req->request_id));
    ms_res_json_new(res, 200, now);
}

static void faults_put(struct ms_req *req, struct ms_res *res)
{
    struct app *app = req->svc;
    struct ms_verr e;

    if (fp_settings_set_json(&app->settings, req->json, &e)) {
        ms_res_error(res, MS_EINVAL, "%s", e.msg);
        return;
    }
    faults_changed(req, res);
}

static void faults_delete(struct ms_req *req, struct ms_res *res)
{
    struct app *app = req->svc;

    fp_settings_clear(&app->settings);
    faults_changed(req, res);
}

static void connections_get(struct ms_req *req, struct ms_res *res)
{
    struct app *app = req->svc;

    ms_res_json_new(res, 200,
                    json_pack("{s:I}", "active", (json_int_t)fp_proxy_active(app->proxy)));
}

static void connections_delete(struct ms_req *req, struct ms_res *res)
{
    struct app *app = req->svc;
    long n = fp_proxy_reset_all(app->proxy);

    ms_log_json_new(MS_LOG_WARN, json_pack("{s:s,s:I,s:s}", "event", "connections_reset", "reset",
                                           (json_int_t)n, "request_id", req->request_id));
    ms_res_json_new(res, 200, json_pack("{s:I}", "reset", (json_int_t)n));
}

static const struct ms_route routes[] = {
    {"GET", "/admin/faults", faults_get, 0, MS_ROUTE_INFRA},
    {"PUT", "/admin/faults", faults_put, 4096, MS_ROUTE_INFRA | MS_ROUTE_JSON},
    {"DELETE", "/admin/faults", faults_delete, 0, MS_ROUTE_INFRA},
    {"GET", "/admin/connections", connections_get, 0, MS_ROUTE_INFRA},
    {"DELETE", "/admin/connections", connections_delete, 0, MS_ROUTE_INFRA},
};

static int addr_from_env(const char *name, struct sockaddr_storage *out, socklen_t *len)
{
    const char *text = NULL;

    if (ms_config_str(name, "", ADDR_MAX_LEN, &text))
        return MS_EINVAL;
    if (!*text) {
        fprintf(stderr, "%s: missing: expected host:port\n", name);
        return MS_EINVAL;
    }
    if (fp_parse_addr(text, out, len)) {
        fprintf(stderr, "%s: invalid value \"%s\": expected host:port\n", name, text);
        return MS_EINVAL;
    }
    return 0;
}

static int load_settings(struct ms_server_config *server, struct fp_proxy_config *proxy,
                         struct fp_settings *faults)
{
    int max_queued_kib = 0;

    if (ms_config_str("PROXY_NAME", "faultproxy", 64, &proxy->name) ||
        ms_log_init_from_env(proxy->name) ||
        ms_server_config_load(server, proxy->name, DEFAULT_ADMIN_PORT) ||
        addr_from_env("PROXY_LISTEN", &proxy->listen_addr, &proxy->listen_len) ||
        addr_from_env("PROXY_UPSTREAM", &proxy->upstream_addr, &proxy->upstream_len) ||
        ms_config_i("PROXY_MAX_CONNECTIONS", 4096, 1, 1000000, &proxy->max_connections) ||
        ms_config_i("PROXY_MAX_QUEUED_KIB", 1024, 16, 1048576, &max_queued_kib) ||
        fp_settings_init(faults))
        return -1;
    proxy->max_queued_bytes = (long)max_queued_kib * 1024;
    if (!getenv("THREADS"))
        server->threads = 2;       /* admin calls are rare: no pool sized for a service's load */
    server->admin_enabled = false; /* the service's HTTP faults: this proxy has its own */
    return 0;
}

int main(void)
{
    struct ms_server_config server = {0};
    struct fp_proxy_config proxy = {0};
    struct app app = {0};
    struct ms_server *srv = NULL;
    int status = EXIT_FAILURE;

    if (load_settings(&server, &proxy, &app.settings))
        return MS_CONFIG_EXIT;
    json_object_seed(0);
    srv = ms_server_new(&server, &app); /* first: it sets the signal mask threads inherit */
    if (!srv)
        goto out;
    app.proxy = fp_proxy_new(&proxy, &app.settings);
    if (!app.proxy || ms_server_add_routes(srv, routes, sizeof(routes) / sizeof(routes[0])) ||
        fp_proxy_start(app.proxy) || ms_server_start(srv))
        goto out;
    ms_logf(MS_LOG_INFO, "proxy %s listening on port %d, admin on port %d", proxy.name,
            fp_proxy_port(app.proxy), ms_server_port(srv));
    ms_server_wait_and_drain(srv);
    status = EXIT_SUCCESS;
out:
    ms_server_free(srv);
    fp_proxy_free(app.proxy);
    fp_settings_destroy(&app.settings);
    return status;
}
