/* The delay queue: one thread sleeping until the earliest due connection. */
#include "delay.h"

#include <microhttpd.h>

#include "ms/clock.h"
#include "ms/err.h"

/* Pops every node due by now (all of them when now_ms is INT64_MAX); called with the lock. */
static struct delay_node *take_due(struct delay_queue *q, int64_t now_ms)
{
    struct delay_node *due = NULL, **tail = &due;

    while (q->head && q->head->due_ms <= now_ms) {
        *tail = q->head;
        q->head = q->head->next;
        tail = &(*tail)->next;
    }
    *tail = NULL;
    return due;
}

/* Resumes outside the lock: MHD_resume_connection signals the daemon, which may call back. */
static void resume_all(struct delay_node *n)
{
    while (n) {
        struct delay_node *next = n->next; /* n may be reused once its connection runs again */
        MHD_resume_connection(n->conn);
        n = next;
    }
}

static void wait_until(struct delay_queue *q, int64_t due_ms)
{
    /* due_ms is on CLOCK_MONOTONIC, the clock the condition variable was created with */
    struct timespec ts = {.tv_sec = due_ms / 1000, .tv_nsec = (due_ms % 1000) * 1000000};

    pthread_cond_timedwait(&q->wake, &q->lock, &ts);
}

static void *run(void *arg)
{
    struct delay_queue *q = arg;

    pthread_mutex_lock(&q->lock);
    while (!q->stopping) {
        struct delay_node *due = take_due(q, ms_now_ms());
        if (due) {
            pthread_mutex_unlock(&q->lock);
            resume_all(due);
            pthread_mutex_lock(&q->lock);
            continue;
        }
        if (q->head)
            wait_until(q, q->head->due_ms);
        else
            pthread_cond_wait(&q->wake, &q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

int msi_delay_queue_start(struct delay_queue *q)
{
    pthread_condattr_t attr;

    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->wake, &attr);
    pthread_condattr_destroy(&attr);
    q->head = NULL;
    q->stopping = false;
    if (pthread_create(&q->thread, NULL, run, q) != 0)
        return MS_ENOMEM;
    q->started = true;
    return 0;
}

void msi_delay_queue_add(struct delay_queue *q, struct delay_node *node)
{
    struct delay_node **p;

    pthread_mutex_lock(&q->lock);
    for (p = &q->head; *p && (*p)->due_ms <= node->due_ms; p = &(*p)->next)
        ;
    node->next = *p;
    *p = node;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
}

void msi_delay_queue_flush(struct delay_queue *q)
{
    struct delay_node *all;

    if (!q->started)
        return;
    pthread_mutex_lock(&q->lock);
    all = take_due(q, INT64_MAX);
    pthread_mutex_unlock(&q->lock);
    resume_all(all);
}

void msi_delay_queue_stop(struct delay_queue *q)
{
    if (!q->started)
        return;
    msi_delay_queue_flush(q);
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->lock);
    q->started = false;
}
