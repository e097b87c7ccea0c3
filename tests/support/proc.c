/* Test helpers for processes, ports and scratch directories. */
#include "proc.h"

#include "ms/clock.h"
#include "ms/rand.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Can a socket bind 127.0.0.1:port right now? */
static bool bindable(int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (fd < 0)
        return false;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    close(fd);
    return ok;
}

int ms_test_free_port(void)
{
    /* Ports come from 10000..19999: below the kernel's ephemeral range (32768..), where the
     * outgoing connections of tests running alongside would race the service for the bind,
     * and below the 20000..31999 the shell checks of tests/deploy use. The last ports handed
     * out are remembered, since their services may not have bound them yet. */
    static int given[64];
    static size_t ngiven;

    for (int tries = 0; tries < 500; tries++) {
        int port = 10000 + (int)ms_rand_below(10000);
        bool seen = false;
        for (size_t i = 0; i < ngiven && i < 64; i++)
            seen = seen || given[i] == port;
        if (seen || !bindable(port))
            continue;
        given[ngiven++ % 64] = port;
        return port;
    }
    return -1;
}

/* Whether entry ("NAME=VALUE") sets the same variable as override. */
static bool same_name(const char *entry, const char *override)
{
    size_t n = strcspn(override, "=");

    return strncmp(entry, override, n) == 0 && entry[n] == '=';
}

/* The current environment with the overrides applied, as a NULL-terminated array whose
 * strings are borrowed; free() the array only. */
static char **merged_env(const char *const env_extra[])
{
    size_t n_env = 0, n_extra = 0, n = 0;
    char **env;

    while (environ[n_env] != NULL)
        n_env++;
    while (env_extra != NULL && env_extra[n_extra] != NULL)
        n_extra++;
    env = calloc(n_env + n_extra + 1, sizeof(env[0]));
    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < n_env; i++) {
        bool overridden = false;

        for (size_t j = 0; j < n_extra; j++)
            overridden = overridden || same_name(environ[i], env_extra[j]);
        if (!overridden)
            env[n++] = environ[i];
    }
    for (size_t j = 0; j < n_extra; j++)
        env[n++] = (char *)env_extra[j];
    return env;
}

pid_t ms_test_spawn(const char *const argv[], const char *const env_extra[], const char *log_path)
{
    char **env = merged_env(env_extra);
    int log_fd = -1;
    pid_t pid = -1;

    if (env == NULL)
        return -1;
    /* Everything the child needs is prepared before fork: a threaded parent's child may only
     * call async-signal-safe functions. */
    if (log_path != NULL) {
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0)
            goto out;
    }
    pid = fork();
    if (pid == 0) {
        if (log_fd >= 0 && (dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0))
            _exit(127);
        execvpe(argv[0], (char *const *)argv, env);
        _exit(127);
    }
out:
    if (log_fd >= 0)
        close(log_fd);
    free(env);
    return pid;
}

static int exit_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* Whether a process that is not our child has ended: it no longer exists, or it is a zombie
 * that init has not reaped yet. */
static bool process_gone(pid_t pid)
{
    char path[64], buf[512];
    const char *state;
    FILE *f;
    size_t n;

    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return true;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    state = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    return state == NULL || (state[1] == ' ' && state[2] == 'Z');
}

/* Waits up to timeout_ms for pid to end: 1 with *status set, 0 on timeout, -1 on error.
 * A process that is not our child (a daemon) is watched with kill(pid, 0); *status is 0. */
static int wait_for(pid_t pid, int timeout_ms, int *status)
{
    struct timespec tick = {.tv_nsec = 10 * 1000000L};

    for (int waited = 0;; waited += 10) {
        pid_t r = waitpid(pid, status, WNOHANG);

        if (r == pid)
            return 1;
        if (r < 0 && errno == ECHILD) {
            *status = 0;
            if (process_gone(pid))
                return 1;
        } else if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (waited >= timeout_ms)
            return 0;
        nanosleep(&tick, NULL);
    }
}

int ms_test_stop(pid_t pid, int sig, int timeout_ms)
{
    int status = 0, rc;

    if (pid <= 0)
        return -1;
    kill(pid, sig);
    rc = wait_for(pid, timeout_ms, &status);
    if (rc == 0) {
        kill(pid, SIGKILL);
        rc = wait_for(pid, 10000, &status);
    }
    return rc == 1 ? exit_status(status) : -1;
}

int ms_test_exited(pid_t pid)
{
    int status = 0;

    return pid > 0 && wait_for(pid, 0, &status) == 1 ? exit_status(status) : -1;
}

int ms_test_run(const char *cmdline)
{
    int status = system(cmdline);

    if (status == -1 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

char *ms_test_tmpdir(const char *prefix)
{
    size_t len = strlen("/tmp/") + strlen(prefix) + strlen("XXXXXX") + 1;
    char *path = malloc(len);

    if (path == NULL)
        return NULL;
    snprintf(path, len, "/tmp/%sXXXXXX", prefix);
    if (mkdtemp(path) == NULL) {
        free(path);
        return NULL;
    }
    return path;
}

/* One pass over the file: true when a line holds every needle. */
static bool log_scan(const char *path, const char *const *needles)
{
    char line[8192];
    bool found = false;
    FILE *f = fopen(path, "r");

    while (f && !found && fgets(line, sizeof(line), f)) {
        found = true;
        for (const char *const *n = needles; found && *n; n++)
            found = strstr(line, *n) != NULL;
    }
    if (f)
        fclose(f);
    return found;
}

bool ms_test_log_has(const char *path, const char *const *needles, long timeout_ms)
{
    int64_t deadline = ms_now_ms() + timeout_ms;

    while (!log_scan(path, needles)) {
        if (ms_now_ms() >= deadline)
            return false;
        ms_sleep_ms(50);
    }
    return true;
}
