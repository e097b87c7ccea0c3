/* Time to ready for make bench: starts a command, polls GET http://127.0.0.1:PORT/ready every
 * millisecond, prints the milliseconds from exec to the first 200 on stdout, then stops the
 * command (SIGTERM, SIGKILL after 5 s) and waits for it. The command's own output goes to
 * stderr.
 *
 *   bench-ready PORT TIMEOUT_MS COMMAND [ARG...]
 * Exit status: 0 ready, 1 not ready in time or the command exited, 2 usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One GET /ready; 1 when it answered 200, 0 otherwise (refused, not yet listening, 503). */
static int ready_once(int port)
{
    static const char req[] = "GET /ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 1};
    char buf[16];
    size_t got = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0;

    if (fd < 0)
        return 0;
    addr.sin_port = htons((unsigned short)port);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
        while (got < 12 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
            got += (size_t)n;
        buf[got] = '\0';
        ok = got >= 12 && strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 9, "200", 3) == 0;
    }
    close(fd);
    return ok;
}

/* SIGTERM, then SIGKILL if it is still there after 5 s; reaps it. */
static void stop(pid_t pid)
{
    double deadline = now_ms() + 5000;
    int status;

    kill(pid, SIGTERM);
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return;
        }
        usleep(2000);
    }
}

int main(int argc, char **argv)
{
    int port = argc > 3 ? atoi(argv[1]) : 0, timeout_ms = argc > 3 ? atoi(argv[2]) : 0, status;
    double start, deadline;
    pid_t pid;

    if (port < 1 || port > 65535 || timeout_ms < 1) {
        fprintf(stderr, "usage: bench-ready PORT TIMEOUT_MS COMMAND [ARG...]\n");
        return 2;
    }
    start = now_ms();
    pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execvp(argv[3], argv + 3);
        fprintf(stderr, "bench-ready: %s: %s\n", argv[3], strerror(errno));
        _exit(127);
    }
    deadline = start + timeout_ms;
    while (now_ms() < deadline) {
        if (ready_once(port)) {
            printf("%.1f\n", now_ms() - start);
            stop(pid);
            return 0;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "bench-ready: %s exited before /ready answered 200\n", argv[3]);
            return 1;
        }
        usleep(1000);
    }
    fprintf(stderr, "bench-ready: %s not ready within %d ms\n", argv[3], timeout_ms);
    stop(pid);
    return 1;
}
