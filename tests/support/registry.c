/* The shared registry of started services (see registry.h). */
#include "registry.h"

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "http.h"
#include "ms/clock.h"
#include "proc.h"

enum {
    MAX_SERVICES = 128,
    STOP_GRACE_MS = 3000, /* after SIGTERM, before SIGKILL */
};

struct entry {
    pid_t pid;          /* 0: free; -1: being filled in */
    char exe[PATH_MAX]; /* the binary's canonical path, to tell a reused PID from the service */
};

static struct entry *table;

int ms_test_registry_init(void)
{
    void *p;

    if (table != NULL)
        return 0;
    p = mmap(NULL, MAX_SERVICES * sizeof(*table), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("ms_test_registry_init: mmap");
        return -1;
    }
    table = p; /* zero-filled: every entry free */
    return 0;
}

/* Whether pid is (still) running the binary at exe, read from /proc/<pid>/exe. A zombie has no
 * exe; a binary rebuilt while it ran reads back as "<exe> (deleted)". */
static bool runs_binary(pid_t pid, const char *exe)
{
    char link[64], target[PATH_MAX + 16];
    size_t len = strlen(exe);
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
    n = readlink(link, target, sizeof(target) - 1);
    if (n < 0)
        return false;
    target[n] = '\0';
    return strncmp(target, exe, len) == 0 &&
           (target[len] == '\0' || strcmp(target + len, " (deleted)") == 0);
}

/* Frees entry i if it still holds pid (another process may have freed or reused it). */
static void release(size_t i, pid_t pid)
{
    __atomic_compare_exchange_n(&table[i].pid, &pid, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Frees the entries of processes that have ended without being stopped through the registry. */
static void prune(void)
{
    for (size_t i = 0; i < MAX_SERVICES; i++) {
        pid_t pid = __atomic_load_n(&table[i].pid, __ATOMIC_ACQUIRE);

        if (pid > 0 && !runs_binary(pid, table[i].exe))
            release(i, pid);
    }
}

static bool claim(pid_t pid, const char *exe)
{
    for (size_t i = 0; i < MAX_SERVICES; i++) {
        pid_t expected = 0;

        if (__atomic_compare_exchange_n(&table[i].pid, &expected, -1, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            snprintf(table[i].exe, sizeof(table[i].exe), "%s", exe);
            __atomic_store_n(&table[i].pid, pid, __ATOMIC_RELEASE);
            return true;
        }
    }
    return false;
}

void ms_test_registry_add(pid_t pid, const char *bin)
{
    char exe[PATH_MAX];

    if (pid <= 0 || ms_test_registry_init() != 0)
        return;
    if (realpath(bin, exe) == NULL)
        snprintf(exe, sizeof(exe), "%s", bin);
    ms_test_registry_remove(pid); /* a stale record of an earlier process with this number */
    if (claim(pid, exe))
        return;
    prune();
    if (!claim(pid, exe))
        fprintf(stderr, "ms_test: service registry full; %s (pid %d) is not recorded\n", bin,
                (int)pid);
}

void ms_test_registry_remove(pid_t pid)
{
    if (table == NULL || pid <= 0)
        return;
    for (size_t i = 0; i < MAX_SERVICES; i++)
        release(i, pid);
}

void ms_test_services_stop_all(void)
{
    pid_t pids[MAX_SERVICES];
    size_t n = 0;
    int64_t deadline;

    if (table == NULL)
        return;
    /* SIGTERM to all first, so that they shut down side by side */
    for (size_t i = 0; i < MAX_SERVICES; i++) {
        pid_t pid = __atomic_load_n(&table[i].pid, __ATOMIC_ACQUIRE);

        if (pid <= 0)
            continue;
        if (runs_binary(pid, table[i].exe) && kill(pid, SIGTERM) == 0) {
            fprintf(stderr, "ms_test: stopping %s (pid %d), left running\n", table[i].exe,
                    (int)pid);
            pids[n++] = pid;
        }
        release(i, pid);
    }
    /* then wait for each (reaping our own children), with SIGKILL once the grace is over */
    deadline = ms_now_ms() + STOP_GRACE_MS;
    for (size_t k = 0; k < n; k++) {
        int64_t left = deadline - ms_now_ms();

        ms_test_stop(pids[k], SIGTERM, left > 0 ? (int)left : 0);
    }
}
