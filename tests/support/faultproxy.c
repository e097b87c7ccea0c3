/* The fault-injecting proxy for tests: the binary started on free ports, its admin API. */
#include "faultproxy.h"
#include "registry.h"

#include "http.h"
#include "proc.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

const char *ms_test_proxy_binary(void)
{
    return MS_BINARY_DIR "/tools/faultproxy/faultproxy";
}

int ms_test_proxy_start(struct ms_test_proxy *px, const char *name, int upstream_port,
                        const char *const *env)
{
    char listen[64], up[64], port[32], pname[64];
    const char *argv[] = {ms_test_proxy_binary(), NULL};
    const char *all[24] = {listen, up, port, pname, "BIND_ADDRESS=127.0.0.1", "LOG_LEVEL=warn"};
    size_t n = 6;

    snprintf(px->name, sizeof(px->name), "%s", name);
    px->port = ms_test_free_port();
    px->admin = ms_test_free_port();
    snprintf(listen, sizeof(listen), "PROXY_LISTEN=127.0.0.1:%d", px->port);
    snprintf(up, sizeof(up), "PROXY_UPSTREAM=127.0.0.1:%d", upstream_port);
    snprintf(port, sizeof(port), "PORT=%d", px->admin);
    snprintf(pname, sizeof(pname), "PROXY_NAME=%s", name);
    snprintf(px->log_path, sizeof(px->log_path), "/tmp/ms-faultproxy-%s-%d.log", name,
             (int)getpid());
    for (; env && *env && n < 23; env++)
        all[n++] = *env;
    all[n] = NULL;
    px->pid = ms_test_spawn(argv, all, px->log_path);
    if (px->pid < 0)
        return -1;
    /* recorded like the services, so a proxy a failed test left running is stopped at the end */
    ms_test_registry_add(px->pid, ms_test_proxy_binary());
    return ms_test_wait_status(px->admin, "/health", 200, 10000) < 0 ? -1 : 0;
}

long ms_test_proxy_admin(const struct ms_test_proxy *px, const char *method, const char *path,
                         const char *body)
{
    char url[128];
    struct ms_test_response r = {0};
    long status;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", px->admin, path);
    ms_test_http(method, url, body, NULL, 5000, &r);
    status = r.status;
    ms_test_response_free(&r);
    return status;
}

int ms_test_proxy_faults(const struct ms_test_proxy *px, const char *json)
{
    return ms_test_proxy_admin(px, "PUT", "/admin/faults", json) == 200 ? 0 : -1;
}

int ms_test_proxy_clean(const struct ms_test_proxy *px)
{
    if (ms_test_proxy_admin(px, "DELETE", "/admin/faults", NULL) != 200 ||
        ms_test_proxy_admin(px, "DELETE", "/admin/connections", NULL) != 200)
        return -1;
    return 0;
}

double ms_test_proxy_applied(const struct ms_test_proxy *px, const char *kind)
{
    char series[128];

    snprintf(series, sizeof(series), "faultproxy_faults_total{proxy=\"%s\",kind=\"%s\"}", px->name,
             kind);
    return ms_test_metric(px->admin, series);
}

int ms_test_proxy_stop(struct ms_test_proxy *px)
{
    int status = px->pid > 0 ? ms_test_stop(px->pid, SIGTERM, 5000) : 0;

    if (px->pid > 0 && status != -1)
        ms_test_registry_remove(px->pid);
    px->pid = 0;
    return status;
}
