/* Test helpers for processes, ports and scratch directories. */
#ifndef MS_TEST_PROC_H
#define MS_TEST_PROC_H

#include <stdbool.h>
#include <sys/types.h>

/* A TCP port on 127.0.0.1 that could be bound a moment ago, from 10000..19999 (below the
 * kernel's ephemeral range) and not among the last ones handed out by this process. -1 when
 * none is found. Another process may take it before the caller binds it; tests accept that. */
int ms_test_free_port(void);

/* Starts argv[0] (searched in PATH) with argv, the current environment plus the NAME=VALUE
 * entries of env_extra (NULL-terminated, may be NULL; they override), stdout and stderr
 * appended to log_path (NULL: inherited). Returns the child's PID or -1. */
pid_t ms_test_spawn(const char *const argv[], const char *const env_extra[], const char *log_path);

/* Sends sig to pid and waits for it to exit, sending SIGKILL after timeout_ms. Returns its exit
 * status (128 + signal number if a signal ended it), or -1 if it could not be waited for. */
int ms_test_stop(pid_t pid, int sig, int timeout_ms);

/* Whether pid has ended, without waiting: its exit status as ms_test_stop gives it (the child
 * reaped), or -1 while it runs. */
int ms_test_exited(pid_t pid);

/* Runs cmdline through /bin/sh. Returns its exit status, or -1 if it did not exit normally. */
int ms_test_run(const char *cmdline);

/* Waits up to timeout_ms for a line of the file at path that holds every string of needles
 * (NULL-terminated): a service writes its log line after the answer has gone out. */
bool ms_test_log_has(const char *path, const char *const *needles, long timeout_ms);

/* Creates a fresh directory /tmp/<prefix>XXXXXX. Returns its path (free() it) or NULL. */
char *ms_test_tmpdir(const char *prefix);

#endif
