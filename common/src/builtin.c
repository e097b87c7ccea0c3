/* The routes every service has: liveness, readiness, metrics, and the fault admin endpoint. */
#include <stdlib.h>

#include "ms/clock.h"
#include "ms/err.h"
#include "ms/log.h"
#include "server_internal.h"

static void health(struct ms_req *req, struct ms_res *res)
{
    (void)req;
    ms_res_json_new(res, 200, json_pack("{s:s}", "status", "ok"));
}

static void ready(struct ms_req *req, struct ms_res *res)
{
    struct ms_server *srv = req->server;
    char *body = NULL;
    size_t len = 0;
    int status =
        ms_health_report(srv->health, atomic_load(&srv->draining), ms_now_ms(), &body, &len);

    if (status < 0) {
        ms_res_error(res, MS_ENOMEM, "readiness report");
        return;
    }
    ms_res_body_new(res, status, MS_CONTENT_TYPE_JSON, body, len);
}

static void metrics(struct ms_req *req, struct ms_res *res)
{
    size_t len = 0;
    char *text = ms_metrics_render(&len);

    (void)req;
    if (!text) {
        ms_res_error(res, MS_ENOMEM, "metrics rendering");
        return;
    }
    ms_res_body_new(res, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static void faults_get(struct ms_req *req, struct ms_res *res)
{
    ms_res_json_new(res, 200, ms_faults_to_json(&req->server->cfg.faults));
}

static void faults_changed(struct ms_req *req, struct ms_res *res)
{
    json_t *now = ms_faults_to_json(&req->server->cfg.faults);

    ms_log_json_new(MS_LOG_WARN, json_pack("{s:s,s:O,s:s}", "event", "faults_changed", "faults",
                                           now, "request_id", req->request_id));
    ms_res_json_new(res, 200, now);
}

static void faults_put(struct ms_req *req, struct ms_res *res)
{
    struct ms_verr e;

    if (ms_faults_set_json(&req->server->cfg.faults, req->json, &e)) {
        ms_res_error(res, MS_EINVAL, "%s", e.msg);
        return;
    }
    faults_changed(req, res);
}

static void faults_delete(struct ms_req *req, struct ms_res *res)
{
    ms_faults_set(&req->server->cfg.faults, &(struct ms_faults_spec){0});
    faults_changed(req, res);
}

static const struct ms_route probe_routes[] = {
    {"GET", "/health", health, 0, MS_ROUTE_INFRA},
    {"GET", "/ready", ready, 0, MS_ROUTE_INFRA},
    {"GET", "/metrics", metrics, 0, MS_ROUTE_INFRA},
};

static const struct ms_route admin_routes[] = {
    {"GET", "/admin/faults", faults_get, 0, MS_ROUTE_INFRA},
    {"PUT", "/admin/faults", faults_put, 4096, MS_ROUTE_INFRA | MS_ROUTE_JSON},
    {"DELETE", "/admin/faults", faults_delete, 0, MS_ROUTE_INFRA},
};

int msi_builtin_routes_add(struct ms_server *srv)
{
    int rc =
        ms_server_add_routes(srv, probe_routes, sizeof(probe_routes) / sizeof(probe_routes[0]));

    if (rc == 0 && srv->cfg.admin_enabled)
        rc =
            ms_server_add_routes(srv, admin_routes, sizeof(admin_routes) / sizeof(admin_routes[0]));
    return rc;
}
