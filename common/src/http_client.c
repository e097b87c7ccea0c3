/* Calls to other services: one reused libcurl handle per thread, a breaker per upstream,
 * retries with backoff for idempotent calls, trace headers forwarded, metrics per attempt. */
#include "ms/http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ms/budget.h"
#include "ms/clock.h"
#include "ms/err.h"
#include "ms/metrics.h"
#include "ms/trace.h"

#define BODY_MAX ((size_t)1 << 20) /* larger answers are refused, never truncated */

enum outcome { OUTCOME_SUCCESS, OUTCOME_ERROR, OUTCOME_TIMEOUT, OUTCOME_REJECTED, OUTCOME_N };

static const char *const outcome_names[OUTCOME_N] = {"success", "error", "timeout", "rejected"};

enum { NSTATES = 3 }; /* closed, open, half-open: the values of enum ms_breaker_state */

struct ms_upstream {
    char *name;
    char *base_url; /* without a trailing slash */
    int connect_timeout_ms;
    int timeout_ms;         /* the whole call, retries included */
    int per_try_timeout_ms; /* one attempt */
    int max_retries;
    int backoff_base_ms;
    int backoff_cap_ms;
    struct ms_breaker breaker;
    /* Guards published: the last state shown in the gauge and counted as a transition, so
     * threads that observe the same change count it once. */
    pthread_mutex_t publish_lock;
    enum ms_breaker_state published;
    uint64_t published_changes; /* the breaker's change count when published was shown */
    struct ms_series *requests[OUTCOME_N];
    struct ms_series *duration;
    struct ms_series *state_gauge;
    struct ms_series *transitions[NSTATES];
    struct ms_series *retries;
};

/* The response body as it arrives, bounded by BODY_MAX. */
struct body_buf {
    char *data;
    size_t len;
    size_t cap;
    bool too_big;
    bool no_mem;
};

/* A retry is only worth starting with at least this much of the budget left. */
enum { MIN_ATTEMPT_MS = 5 };

/* What one attempt needs besides the upstream; built once per ms_http_request. */
struct call {
    const char *method;
    const char *url;
    const char *body;
    size_t body_len;
    bool send_body;
    struct curl_slist *headers;
    int64_t deadline_ms; /* no attempt or backoff runs past it */
};

static pthread_key_t handle_key;
static pthread_once_t handle_once = PTHREAD_ONCE_INIT;
static bool handle_key_ok;

static void handle_destroy(void *h)
{
    curl_easy_cleanup(h);
}

static void handle_key_create(void)
{
    /* The destructor frees the handle of any pool thread that exits without cleaning up. */
    handle_key_ok = pthread_key_create(&handle_key, handle_destroy) == 0;
}

/* This thread's handle, created on first use and kept so its connections are reused. */
static CURL *thread_handle(void)
{
    CURL *h;

    pthread_once(&handle_once, handle_key_create);
    if (!handle_key_ok)
        return NULL;
    h = pthread_getspecific(handle_key);
    if (h)
        return h;
    h = curl_easy_init();
    if (h && pthread_setspecific(handle_key, h) != 0) {
        curl_easy_cleanup(h);
        h = NULL;
    }
    return h;
}

void ms_http_client_thread_cleanup(void)
{
    CURL *h;

    pthread_once(&handle_once, handle_key_create);
    if (!handle_key_ok)
        return;
    h = pthread_getspecific(handle_key);
    if (!h)
        return;
    pthread_setspecific(handle_key, NULL);
    curl_easy_cleanup(h);
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static int or_default(int v, int def)
{
    return v > 0 ? v : def;
}

/* Looks up every series once, so an attempt only does atomic updates. */
static void upstream_series_init(struct ms_upstream *u)
{
    struct ms_family *req, *dur, *state, *trans, *retries;

    req = ms_counter_family("upstream_requests_total",
                            "Attempts of calls to other services, by outcome.", "upstream,outcome");
    dur = ms_histogram_family("upstream_request_duration_seconds",
                              "Duration of each attempt of a call to another service.", "upstream",
                              NULL, 0);
    state = ms_gauge_family("circuit_breaker_state",
                            "Circuit breaker state: 0 closed, 1 open, 2 half-open.", "upstream");
    trans =
        ms_counter_family("circuit_breaker_transitions_total",
                          "Circuit breaker state changes, by the state entered.", "upstream,to");
    retries = ms_counter_family("upstream_retries_total",
                                "Retries of idempotent calls to other services.", "upstream");
    for (int i = 0; i < OUTCOME_N; i++)
        u->requests[i] = ms_series_get(req, (const char *const[]){u->name, outcome_names[i]});
    for (int i = 0; i < NSTATES; i++) {
        const char *to = ms_breaker_state_name((enum ms_breaker_state)i);
        u->transitions[i] = ms_series_get(trans, (const char *const[]){u->name, to});
    }
    u->duration = ms_series_get(dur, (const char *const[]){u->name});
    u->state_gauge = ms_series_get(state, (const char *const[]){u->name});
    u->retries = ms_series_get(retries, (const char *const[]){u->name});
    ms_gauge_set(u->state_gauge, MS_BREAKER_CLOSED);
}

struct ms_upstream *ms_upstream_new(const struct ms_upstream_config *cfg)
{
    struct ms_upstream *u = calloc(1, sizeof(*u));
    size_t n;

    if (!u)
        return NULL;
    u->name = dup_or_empty(cfg->name);
    u->base_url = dup_or_empty(cfg->base_url);
    if (!u->name || !u->base_url) {
        free(u->name);
        free(u->base_url);
        free(u);
        return NULL;
    }
    n = strlen(u->base_url);
    while (n > 0 && u->base_url[n - 1] == '/')
        u->base_url[--n] = '\0';
    u->connect_timeout_ms = or_default(cfg->connect_timeout_ms, 200);
    u->timeout_ms = or_default(cfg->timeout_ms, 1000);
    u->per_try_timeout_ms = or_default(cfg->per_try_timeout_ms, u->timeout_ms);
    u->max_retries = cfg->max_retries > 0 ? cfg->max_retries : (cfg->max_retries < 0 ? 0 : 2);
    u->backoff_base_ms = or_default(cfg->backoff_base_ms, 25);
    u->backoff_cap_ms = or_default(cfg->backoff_cap_ms, 250);
    ms_breaker_init(&u->breaker, &cfg->breaker);
    pthread_mutex_init(&u->publish_lock, NULL);
    u->published = MS_BREAKER_CLOSED;
    upstream_series_init(u);
    return u;
}

void ms_upstream_free(struct ms_upstream *u)
{
    if (!u)
        return;
    ms_breaker_destroy(&u->breaker);
    pthread_mutex_destroy(&u->publish_lock);
    free(u->name);
    free(u->base_url);
    free(u);
}

enum ms_breaker_state ms_upstream_breaker_state(struct ms_upstream *u)
{
    return ms_breaker_state_get(&u->breaker);
}

void ms_http_response_free(struct ms_http_response *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->content_type);
    memset(r, 0, sizeof(*r));
}

/* Shows a state change in the gauge and counts it, once however many threads observe it. A
 * thread that read the state before another thread's newer change never overwrites it: the
 * snapshot's change count orders them. */
static void publish_state(struct ms_upstream *u)
{
    uint64_t changes;
    enum ms_breaker_state s = ms_breaker_snapshot(&u->breaker, &changes);

    pthread_mutex_lock(&u->publish_lock);
    if (changes > u->published_changes) {
        u->published_changes = changes;
        if (s != u->published) {
            u->published = s;
            ms_gauge_set(u->state_gauge, s);
            ms_counter_inc(u->transitions[s]);
        }
    }
    pthread_mutex_unlock(&u->publish_lock);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body_buf *b = userdata;
    size_t n = size * nmemb; /* size is always 1 for write callbacks */
    size_t want;
    char *grown;

    if (n > BODY_MAX - b->len) {
        b->too_big = true;
        return 0; /* any short count makes curl abort with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        want = b->cap ? b->cap : 4096;
        while (want < b->len + n + 1)
            want *= 2;
        if (want > BODY_MAX + 1)
            want = BODY_MAX + 1; /* room for the limit plus the terminating NUL */
        grown = realloc(b->data, want);
        if (!grown) {
            b->no_mem = true;
            return 0;
        }
        b->data = grown;
        b->cap = want;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    static const char name[] = "content-type:";
    char **content_type = userdata;
    size_t n = size * nmemb;
    size_t start = sizeof(name) - 1;

    /* A status line starts a new response (1xx): forget what an earlier one said. */
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        free(*content_type);
        *content_type = NULL;
        return n;
    }
    if (n < start || strncasecmp(ptr, name, start) != 0)
        return n;
    while (start < n && (ptr[start] == ' ' || ptr[start] == '\t'))
        start++;
    while (n > start && (ptr[n - 1] == '\r' || ptr[n - 1] == '\n' || ptr[n - 1] == ' '))
        n--;
    free(*content_type);
    *content_type = strndup(ptr + start, n - start); /* NULL on failure: reported as absent */
    return size * nmemb;
}

static void set_options(const struct ms_upstream *u, CURL *h, const struct call *c,
                        struct body_buf *buf, char **content_type)
{
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM for timeouts in threads */
    int64_t left = c->deadline_ms - ms_now_ms();
    long timeout = (long)(left < u->per_try_timeout_ms ? left : u->per_try_timeout_ms);

    if (timeout < 1)
        timeout = 1;
    /* the connect timeout must stay below the total, or curl lets the connect use it all */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)u->connect_timeout_ms < timeout ? (long)u->connect_timeout_ms : timeout);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, buf);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, content_type);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
    if (strcmp(c->method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L); /* else curl waits for a body never sent */
    if (c->send_body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body ? c->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
    }
}

static int map_curl_error(CURLcode cc, const struct body_buf *buf)
{
    if (buf->too_big)
        return MS_ETOOBIG;
    if (buf->no_mem || cc == CURLE_OUT_OF_MEMORY)
        return MS_ENOMEM;
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return MS_ETIMEDOUT;
    return MS_EUNAVAIL;
}

/* One network exchange on the reset handle. Fills *out only when a response arrived. */
static int perform(const struct ms_upstream *u, CURL *h, const struct call *c,
                   struct ms_http_response *out)
{
    struct body_buf buf = {0};
    char *content_type = NULL;
    CURLcode cc;
    int rc = 0;

    curl_easy_reset(h); /* options go, live connections stay for keep-alive */
    set_options(u, h, c, &buf, &content_type);
    cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        rc = map_curl_error(cc, &buf);
        goto out;
    }
    if (!buf.data) {
        buf.data = calloc(1, 1); /* an empty body is still a string the caller may read */
        if (!buf.data) {
            rc = MS_ENOMEM;
            goto out;
        }
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = buf.data;
    out->body_len = buf.len;
    out->content_type = content_type;
    buf.data = NULL;
    content_type = NULL;
out:
    free(buf.data);
    free(content_type);
    return rc;
}

static bool retryable_status(long status)
{
    return status == 502 || status == 503 || status == 504;
}

static void count_attempt(struct ms_upstream *u, int rc, long status, int64_t start_ns)
{
    enum outcome o = OUTCOME_SUCCESS;

    ms_histogram_observe(u->duration, (double)(ms_now_ns() - start_ns) / 1e9);
    if (rc == MS_ETIMEDOUT)
        o = OUTCOME_TIMEOUT;
    else if (rc < 0 || status >= 500)
        o = OUTCOME_ERROR;
    ms_counter_inc(u->requests[o]);
}

/* One attempt through the breaker. *retry tells whether another attempt could help. */
static int attempt(struct ms_upstream *u, CURL *h, const struct call *c,
                   struct ms_http_response *out, bool *retry)
{
    bool transport_failure, failure;
    int64_t start_ns;
    int rc;

    *retry = false;
    if (!ms_breaker_allow(&u->breaker, ms_now_ms())) {
        publish_state(u);
        ms_counter_inc(u->requests[OUTCOME_REJECTED]);
        return MS_EUNAVAIL; /* no retry: open_ms outlasts any backoff */
    }
    publish_state(u); /* open -> half-open shows here */
    start_ns = ms_now_ns();
    rc = perform(u, h, c, out);
    count_attempt(u, rc, out->status, start_ns);
    /* An oversized answer or our own lack of memory says nothing about the upstream's health. */
    transport_failure = rc == MS_EUNAVAIL || rc == MS_ETIMEDOUT;
    failure = transport_failure || (rc == 0 && out->status >= 500);
    ms_breaker_record(&u->breaker, !failure, ms_now_ms(), NULL);
    publish_state(u);
    *retry = transport_failure || (rc == 0 && retryable_status(out->status));
    return rc;
}

/* The upstream's base URL followed by path, with exactly one slash between them. */
static char *join_url(const char *base, const char *path)
{
    size_t nb = strlen(base), np;
    char *url;

    while (*path == '/')
        path++;
    np = strlen(path);
    url = malloc(nb + 1 + np + 1);
    if (!url)
        return NULL;
    memcpy(url, base, nb);
    url[nb] = '/';
    memcpy(url + nb + 1, path, np + 1);
    return url;
}

/* Appends a copy of line; on allocation failure frees the list and returns false. */
static bool append_line(struct curl_slist **list, const char *line)
{
    struct curl_slist *grown = curl_slist_append(*list, line);

    if (!grown) {
        curl_slist_free_all(*list);
        *list = NULL;
        return false;
    }
    *list = grown;
    return true;
}

/* Appends "name: value"; on allocation failure frees the list and returns false. */
static bool append_header(struct curl_slist **list, const char *name, const char *value)
{
    size_t size = strlen(name) + 2 + strlen(value) + 1;
    char *line = malloc(size);
    bool ok;

    if (!line) {
        curl_slist_free_all(*list);
        *list = NULL;
        return false;
    }
    snprintf(line, size, "%s: %s", name, value);
    ok = append_line(list, line);
    free(line);
    return ok;
}

/* Trace headers of the request being served, how long we wait for this call (the called
 * service's budget, ms/budget.h), then the caller's extra lines. NULL on failure. */
static struct curl_slist *build_headers(const char *const *extra, bool json_body, int64_t left_ms)
{
    const struct ms_trace *trace = ms_trace_current();
    struct curl_slist *list = NULL;
    char budget[24];

    /* "Expect:" with no value stops curl from waiting for 100-continue before a body. */
    if (!append_line(&list, "Expect:"))
        return NULL;
    snprintf(budget, sizeof(budget), "%lld", (long long)left_ms);
    if (!append_header(&list, MS_BUDGET_HEADER, budget))
        return NULL;
    if (json_body && !append_line(&list, "Content-Type: application/json"))
        return NULL;
    for (int i = 0; trace && i < MS_TRACE_NHEADERS; i++)
        if (trace->values[i] && !append_header(&list, ms_trace_header_names[i], trace->values[i]))
            return NULL;
    for (; extra && *extra; extra++)
        if (!append_line(&list, *extra))
            return NULL;
    return list;
}

static bool method_has_body(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0;
}

int ms_http_request(struct ms_upstream *u, const char *method, const char *path, const char *body,
                    size_t body_len, const char *const *headers, bool idempotent,
                    struct ms_http_response *out)
{
    struct call c = {.method = method, .body = body, .body_len = body ? body_len : 0};
    char *url = join_url(u->base_url, path);
    CURL *h = thread_handle();
    bool retry;
    int64_t left_ms;
    int rc = MS_ENOMEM;

    memset(out, 0, sizeof(*out));
    /* Methods that carry a body always send Content-Length, even 0, so no server waits. */
    c.send_body = body || method_has_body(method);
    /* the call's own time-out, or less if the request's budget ends first */
    c.deadline_ms = ms_budget_deadline_after(u->timeout_ms);
    if (ms_budget_spent()) {
        rc = MS_ETIMEDOUT; /* spent before the call: not the upstream's failure, not counted */
        goto out;
    }
    left_ms = c.deadline_ms - ms_now_ms();
    /* at least 1: the next service reads 0 as no budget at all */
    c.headers = build_headers(headers, body != NULL, left_ms > 0 ? left_ms : 1);
    c.url = url;
    if (!url || !h || !c.headers)
        goto out;
    for (int n = 0;; n++) {
        int64_t pause;
        rc = attempt(u, h, &c, out, &retry);
        if (!retry || !idempotent || n >= u->max_retries)
            break;
        /* a retry that cannot finish before the deadline would only make the caller wait */
        pause = ms_backoff_ms(n, u->backoff_base_ms, u->backoff_cap_ms);
        if (ms_now_ms() + pause + MIN_ATTEMPT_MS >= c.deadline_ms)
            break;
        ms_http_response_free(out);
        ms_counter_inc(u->retries);
        ms_sleep_ms(pause);
    }
out:
    curl_slist_free_all(c.headers);
    free(url);
    return rc;
}
