/* The services the tests started, recorded in memory shared with the processes Check forks for
 * its tests, so that what a failed test left running is stopped once the run is over
 * (ms_test_services_stop_all, declared in http.h). Used by http.c and runner.c. In its default
 * fork mode Check itself SIGKILLs a test's process group when the test ends; this catches what
 * that does not: tests run with CK_FORK=no or ms_test_main(..., false), services started by
 * unchecked fixtures, and it stops them with SIGTERM first. */
#ifndef MS_TEST_REGISTRY_H
#define MS_TEST_REGISTRY_H

#include <sys/types.h>

/* Maps the shared table; ms_test_main calls it before Check forks. Safe to call again.
 * 0 or -1. */
int ms_test_registry_init(void);

/* Records that pid runs the binary at path bin. Without ms_test_registry_init first the table
 * is made here, and then only this process and its later children see the record. */
void ms_test_registry_add(pid_t pid, const char *bin);

/* Forgets pid (after it was stopped). */
void ms_test_registry_remove(pid_t pid);

#endif
