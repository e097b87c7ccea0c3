/* A background task: a thread that a service starts after ms_server_new and stops cleanly at
 * shutdown, with a sleep that ends early when the task is woken or told to stop. The
 * migrator, outbox publishers, reapers and stream consumers all run on it. */
#ifndef MS_TASK_H
#define MS_TASK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct ms_task {
    pthread_mutex_t lock; /* guards stopping and woken */
    pthread_cond_t cond;  /* on CLOCK_MONOTONIC */
    bool stopping;
    bool woken;
    bool started;
    pthread_t thread;
    void (*body)(struct ms_task *task, void *ctx);
    void *ctx;
};

/* Runs body(task, ctx) on a new thread. body returns when ms_task_stopping (or ms_task_nap)
 * says so. 0 or MS_ENOMEM. */
int ms_task_start(struct ms_task *task, void (*body)(struct ms_task *task, void *ctx), void *ctx);

/* Has ms_task_stop been called? For loops that must not start another round. */
bool ms_task_stopping(struct ms_task *task);

/* Sleeps up to ms, returning early when woken or stopped. Returns false once the task is
 * stopping, so a body can loop `while (ms_task_nap(task, interval)) work();`. */
bool ms_task_nap(struct ms_task *task, int64_t ms);

/* Ends the current (or the next) nap early: there is work now. */
void ms_task_wake(struct ms_task *task);

/* Tells the task to stop, wakes it and joins its thread. Safe if never started. */
void ms_task_stop(struct ms_task *task);

#endif
