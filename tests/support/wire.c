/* Raw HTTP/1.1 exchanges over a non-blocking socket and poll(2). */
#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "ms/clock.h"

/* What has arrived so far. */
struct inbox {
    struct ms_test_bytes b;
    size_t head_len; /* up to and including the blank line; 0 until it has arrived */
};

int ms_test_wire_connect(int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The value of header name in a head block (lines after the status line), or NULL. */
static char *header_in(const char *head, const char *name)
{
    size_t nlen = strlen(name);
    const char *line = strstr(head, "\r\n");

    while (line && line[2]) {
        const char *start = line + 2, *end = strstr(start, "\r\n");
        size_t len = end ? (size_t)(end - start) : strlen(start);
        if (len > nlen && start[nlen] == ':' && strncasecmp(start, name, nlen) == 0) {
            const char *v = start + nlen + 1;
            size_t vlen = len - nlen - 1;
            char *out;
            while (vlen && (*v == ' ' || *v == '\t'))
                v++, vlen--;
            while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            out = malloc(vlen + 1);
            if (out) {
                memcpy(out, v, vlen);
                out[vlen] = '\0';
            }
            return out;
        }
        line = end;
    }
    return NULL;
}

/* How many body bytes the answer has, once its head is in: -1 when it runs to the close. */
static long long body_length(const char *head, long status, bool no_body)
{
    char *cl;
    long long n = -1;

    if (no_body || (status >= 100 && status < 200) || status == 204 || status == 304)
        return 0;
    cl = header_in(head, "Content-Length");
    if (cl) {
        char *end;
        n = strtoll(cl, &end, 10);
        if (*end != '\0' || n < 0)
            n = -1;
        free(cl);
    }
    return n;
}

/* Fills w from what has arrived, and says whether the answer is whole. */
static bool parse(struct inbox *in, bool no_body, struct ms_test_wire *w)
{
    char *blank;
    long long want;
    size_t have;

    if (!in->head_len) {
        blank = in->b.data ? strstr(in->b.data, "\r\n\r\n") : NULL;
        if (!blank)
            return false;
        in->head_len = (size_t)(blank - in->b.data) + 4;
        free(w->head);
        w->head = strndup(in->b.data, in->head_len - 4);
        if (!w->head || sscanf(w->head, "HTTP/1.%*1[01] %3ld", &w->status) != 1)
            w->status = 0;
    }
    want = body_length(w->head ? w->head : "", w->status, no_body);
    have = in->b.len - in->head_len;
    if (want >= 0 && have < (size_t)want)
        return false;
    if (want < 0 && !w->eof)
        return false;
    w->body_len = want >= 0 ? (size_t)want : have;
    free(w->body);
    w->body = malloc(w->body_len + 1);
    if (!w->body)
        return false;
    memcpy(w->body, in->b.data + in->head_len, w->body_len);
    w->body[w->body_len] = '\0';
    return true;
}

/* Sends what poll allows; a refused send stops sending for good (the server may still answer). */
static void send_some(struct ms_test_wire *w, const char *req, size_t len, size_t *sent)
{
    ssize_t n = send(w->fd, req + *sent, len - *sent, MSG_NOSIGNAL);

    if (n > 0)
        *sent += (size_t)n;
    else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        w->err = errno;
        *sent = len;
    }
}

static void receive_some(struct ms_test_wire *w, struct inbox *in)
{
    char buf[16384];
    ssize_t n = recv(w->fd, buf, sizeof(buf), 0);

    if (n > 0) {
        if (ms_test_bytes_add(&in->b, buf, (size_t)n) != 0)
            w->eof = true;
    } else if (n == 0) {
        w->eof = true;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        w->err = errno;
        w->eof = true;
    }
}

int ms_test_wire_exchange(int port, const void *req, size_t len, bool no_body, long timeout_ms,
                          struct ms_test_wire *w)
{
    int64_t start = ms_now_ms(), deadline = start + timeout_ms;
    struct inbox in = {0};
    size_t sent = 0;

    memset(w, 0, sizeof(*w));
    w->fd = ms_test_wire_connect(port);
    if (w->fd < 0) {
        w->err = errno;
        return -1;
    }
    while (!w->complete && !w->eof) {
        struct pollfd p = {.fd = w->fd, .events = POLLIN | (sent < len ? POLLOUT : 0)};
        int64_t left = deadline - ms_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        if ((p.revents & (POLLOUT | POLLERR)) && sent < len)
            send_some(w, req, len, &sent);
        if (p.revents & (POLLIN | POLLHUP | POLLERR))
            receive_some(w, &in);
        w->complete = parse(&in, no_body, w);
    }
    if (!w->complete && w->eof)
        w->complete = parse(&in, no_body, w);
    ms_test_bytes_free(&in.b);
    w->seconds = (double)(ms_now_ms() - start) / 1000.0;
    return w->complete ? 0 : -1;
}

bool ms_test_wire_wait_eof(struct ms_test_wire *w, long timeout_ms)
{
    int64_t deadline = ms_now_ms() + timeout_ms;
    char buf[4096];

    while (!w->eof && w->fd >= 0) {
        struct pollfd p = {.fd = w->fd, .events = POLLIN};
        int64_t left = deadline - ms_now_ms();
        ssize_t n;
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        n = recv(w->fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            w->eof = true;
    }
    return w->eof;
}

char *ms_test_wire_header(const struct ms_test_wire *w, const char *name)
{
    return w->head ? header_in(w->head, name) : NULL;
}

void ms_test_wire_close(struct ms_test_wire *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    free(w->head);
    free(w->body);
    w->head = NULL;
    w->body = NULL;
}
