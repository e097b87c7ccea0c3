/* Background tasks: one thread each, a condition variable for naps that end early. */
#include "ms/task.h"

#include <time.h>

#include "ms/err.h"

static void *trampoline(void *arg)
{
    struct ms_task *task = arg;

    task->body(task, task->ctx);
    return NULL;
}

int ms_task_start(struct ms_task *task, void (*body)(struct ms_task *task, void *ctx), void *ctx)
{
    pthread_condattr_t attr;

    pthread_mutex_init(&task->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&task->cond, &attr);
    pthread_condattr_destroy(&attr);
    task->stopping = false;
    task->woken = false;
    task->body = body;
    task->ctx = ctx;
    if (pthread_create(&task->thread, NULL, trampoline, task) != 0) {
        pthread_cond_destroy(&task->cond);
        pthread_mutex_destroy(&task->lock);
        return MS_ENOMEM;
    }
    task->started = true;
    return 0;
}

bool ms_task_stopping(struct ms_task *task)
{
    bool stopping;

    pthread_mutex_lock(&task->lock);
    stopping = task->stopping;
    pthread_mutex_unlock(&task->lock);
    return stopping;
}

bool ms_task_nap(struct ms_task *task, int64_t ms)
{
    struct timespec until;
    bool running;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&task->lock);
    /* a wake that came while the task was working counts: it skips this nap */
    while (!task->stopping && !task->woken)
        if (pthread_cond_timedwait(&task->cond, &task->lock, &until) != 0)
            break; /* the time is up */
    task->woken = false;
    running = !task->stopping;
    pthread_mutex_unlock(&task->lock);
    return running;
}

void ms_task_wake(struct ms_task *task)
{
    pthread_mutex_lock(&task->lock);
    task->woken = true;
    pthread_cond_signal(&task->cond);
    pthread_mutex_unlock(&task->lock);
}

void ms_task_stop(struct ms_task *task)
{
    if (!task->started)
        return;
    pthread_mutex_lock(&task->lock);
    task->stopping = true;
    pthread_cond_signal(&task->cond);
    pthread_mutex_unlock(&task->lock);
    pthread_join(task->thread, NULL);
    pthread_cond_destroy(&task->cond);
    pthread_mutex_destroy(&task->lock);
    task->started = false;
}
