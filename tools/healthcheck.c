/* The container healthcheck: GET http://127.0.0.1:$PORT<path> (default /ready) over a plain
 * socket; exit 0 on a 2xx answer, 1 on anything else or after 2 s. No curl in the images. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HC_TIMEOUT_S 2

/* Whatever is still pending when the deadline passes, the answer is "unhealthy". */
static void on_alarm(int sig)
{
    (void)sig;
    _exit(1);
}

/* PORT as the services read it; 0 when unset or not a port. */
static int port_from_env(void)
{
    const char *s = getenv("PORT");
    char *end;
    long port;

    if (!s || !*s)
        return 0;
    port = strtol(s, &end, 10);
    return (*end || port < 1 || port > 65535) ? 0 : (int)port;
}

/* Sends the request on fd and reads the status line; 0 when it is HTTP 2xx. */
static int probe(int fd, const char *path)
{
    char buf[256];
    size_t got = 0;
    ssize_t n;
    int len = snprintf(buf, sizeof(buf), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);

    if (len < 0 || (size_t)len >= sizeof(buf) || write(fd, buf, (size_t)len) != len)
        return -1;
    while (got < 12 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    /* "HTTP/1.x 2xx" */
    return (got >= 12 && strncmp(buf, "HTTP/1.", 7) == 0 && buf[9] == '2') ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = on_alarm};
    struct sockaddr_in addr = {.sin_family = AF_INET};
    const char *path = argc > 1 ? argv[1] : "/ready";
    int port = port_from_env(), fd, rc;

    if (port == 0 || path[0] != '/' || strpbrk(path, " \r\n")) {
        fprintf(stderr, "usage: PORT=<port> healthcheck [/path]\n");
        return 1;
    }
    sigaction(SIGALRM, &sa, NULL);
    alarm(HC_TIMEOUT_S);
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
        return 1;
    rc = probe(fd, path);
    close(fd);
    return rc == 0 ? 0 : 1;
}
