/* The integration tests' HTTP client and service launcher. */
#include "http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "metrics.h"
#include "ms/clock.h"
#include "proc.h"
#include "registry.h"

struct buf {
    char *data;
    size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buf *b = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(b->data, b->len + n + 1);

    if (!grown)
        return 0;
    memcpy(grown + b->len, ptr, n);
    b->data = grown;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buf *b = userdata;

    /* a new status line starts a new header block (after 100 Continue or redirects) */
    if (size * nmemb > 5 && strncmp(ptr, "HTTP/", 5) == 0)
        b->len = 0;
    return on_data(ptr, size, nmemb, userdata);
}

/* The caller's headers; without an Expect header of theirs, curl's own "Expect: 100-continue"
 * is turned off, so that a body goes out at once, as most clients send it. */
static struct curl_slist *header_list(const char *const *headers)
{
    struct curl_slist *list = NULL;
    bool expect = false;

    for (size_t i = 0; headers && headers[i]; i++) {
        list = curl_slist_append(list, headers[i]);
        expect = expect || strncasecmp(headers[i], "Expect:", 7) == 0;
    }
    return expect ? list : curl_slist_append(list, "Expect:");
}

int ms_test_http(const char *method, const char *url, const char *body, const char *const *headers,
                 long timeout_ms, struct ms_test_response *out)
{
    struct buf data = {0}, head = {0};
    struct curl_slist *list = header_list(headers);
    CURL *c = curl_easy_init();
    CURLcode rc;

    memset(out, 0, sizeof(*out));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &data);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &head);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &out->seconds);
    curl_easy_cleanup(c);
    curl_slist_free_all(list);
    out->body = data.data ? data.data : strdup("");
    out->body_len = data.len;
    out->headers = head.data ? head.data : strdup("");
    return rc == CURLE_OK ? 0 : -1;
}

int ms_test_get(int port, const char *path, struct ms_test_response *out)
{
    char url[512];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    return ms_test_http("GET", url, NULL, NULL, 5000, out);
}

char *ms_test_header(const struct ms_test_response *r, const char *name)
{
    size_t nlen = strlen(name);

    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            return strndup(v, (size_t)(line + len - v));
        }
        line += len + (end ? 2 : 0);
    }
    return NULL;
}

json_t *ms_test_json(const struct ms_test_response *r)
{
    return json_loadb(r->body, r->body_len, 0, NULL);
}

void ms_test_response_free(struct ms_test_response *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

long ms_test_wait_status(int port, const char *path, long want_status, long timeout_ms)
{
    int64_t start = ms_now_ms();

    for (;;) {
        struct ms_test_response r;
        long status;

        ms_test_get(port, path, &r);
        status = r.status;
        ms_test_response_free(&r);
        if (status == want_status)
            return (long)(ms_now_ms() - start);
        if (ms_now_ms() - start > timeout_ms)
            return -1;
        ms_sleep_ms(20);
    }
}

/* build/services/<name>/<name> */
static void service_binary(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/services/%s/%s", MS_BINARY_DIR, name, name);
}

int ms_test_service_start_on(struct ms_test_service *svc, const char *name, int port,
                             const char *const *env)
{
    char bin[512], port_env[32];
    const char *full_env[64] = {port_env, "BIND_ADDRESS=127.0.0.1", "LOG_LEVEL=debug"};
    size_t n = 3;

    svc->port = port > 0 ? port : ms_test_free_port();
    snprintf(port_env, sizeof(port_env), "PORT=%d", svc->port);
    service_binary(bin, sizeof(bin), name);
    snprintf(svc->log_path, sizeof(svc->log_path), "/tmp/ms-test-%s-%d.log", name, svc->port);
    for (size_t i = 0; env && env[i] && n < 63; i++)
        full_env[n++] = env[i];
    full_env[n] = NULL;
    unlink(svc->log_path);
    svc->pid = ms_test_spawn((const char *const[]){bin, NULL}, full_env, svc->log_path);
    if (svc->pid <= 0)
        return -1;
    ms_test_registry_add(svc->pid, bin);
    return ms_test_wait_status(svc->port, "/health", 200, 10000) >= 0 ? 0 : -1;
}

int ms_test_service_start(struct ms_test_service *svc, const char *name, const char *const *env)
{
    return ms_test_service_start_on(svc, name, 0, env);
}

int ms_test_service_stop(struct ms_test_service *svc, int sig, int timeout_ms)
{
    int status;

    if (svc->pid <= 0)
        return -1;
    status = ms_test_stop(svc->pid, sig, timeout_ms);
    if (status != -1) /* else still recorded, for ms_test_services_stop_all to try again */
        ms_test_registry_remove(svc->pid);
    svc->pid = 0;
    return status;
}

/* Copies the last lines of the file at path to stderr (the log of a service that died). */
static void tail_to_stderr(const char *path, int lines)
{
    char cmd[400];

    snprintf(cmd, sizeof(cmd), "tail -n %d '%s' >&2", lines, path);
    if (ms_test_run(cmd) != 0)
        fprintf(stderr, "(no log at %s)\n", path);
}

int ms_test_service_exited(struct ms_test_service *svc)
{
    int status = ms_test_exited(svc->pid);

    if (status < 0)
        return -1;
    fprintf(stderr, "service pid %d ended on its own (exit status %d); %s ends:\n", (int)svc->pid,
            status, svc->log_path);
    tail_to_stderr(svc->log_path, 40);
    ms_test_registry_remove(svc->pid);
    svc->pid = 0;
    return status;
}

/* The first line of the file at path, without its newline, in line ("" if none). */
static void first_line_of(const char *path, char *line, size_t cap)
{
    FILE *f = fopen(path, "r");

    line[0] = '\0';
    if (f == NULL)
        return;
    if (fgets(line, (int)cap, f) == NULL)
        line[0] = '\0';
    line[strcspn(line, "\n")] = '\0';
    fclose(f);
}

int ms_test_config_error(const char *service, const char *const *env, char *first_line, size_t cap)
{
    char bin[512], log_path[128];
    pid_t pid;
    int status;

    if (cap > 0)
        first_line[0] = '\0';
    service_binary(bin, sizeof(bin), service);
    snprintf(log_path, sizeof(log_path), "/tmp/ms-test-%s-config-%d.log", service, (int)getpid());
    unlink(log_path);
    pid = ms_test_spawn((const char *const[]){bin, NULL}, env, log_path);
    if (pid <= 0)
        return -1;
    ms_test_registry_add(pid, bin);
    status = ms_test_stop(pid, 0, 10000); /* signal 0: only wait, then SIGKILL */
    if (status != -1)
        ms_test_registry_remove(pid);
    if (cap > 0)
        first_line_of(log_path, first_line, cap);
    unlink(log_path);
    return status;
}

double ms_test_metric(int port, const char *prefix)
{
    struct ms_test_response r;
    double value = -1;

    if (ms_test_get(port, "/metrics", &r) == 0)
        value = ms_test_sample_in(r.body, prefix);
    ms_test_response_free(&r);
    return value;
}
