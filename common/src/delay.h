/* Internal to the server: holds suspended connections until their injected delay has passed,
 * so a delayed request occupies no worker thread while it waits. */
#ifndef MS_DELAY_H
#define MS_DELAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct MHD_Connection;

/* Embedded in the request that waits: the queue allocates nothing. */
struct delay_node {
    int64_t due_ms;
    struct MHD_Connection *conn;
    struct delay_node *next;
};

struct delay_queue {
    pthread_mutex_t lock;    /* guards head and stopping */
    pthread_cond_t wake;     /* on CLOCK_MONOTONIC */
    struct delay_node *head; /* sorted by due_ms */
    bool stopping;
    bool started;
    pthread_t thread;
};

/* Starts the timer thread. 0 or MS_ENOMEM. */
int msi_delay_queue_start(struct delay_queue *q);

/* Queues a connection the caller has just suspended; it is resumed at node->due_ms. */
void msi_delay_queue_add(struct delay_queue *q, struct delay_node *node);

/* Resumes every waiting connection now (shutdown), leaving the thread running. */
void msi_delay_queue_flush(struct delay_queue *q);

/* Resumes what waits, stops and joins the thread. Safe if never started. */
void msi_delay_queue_stop(struct delay_queue *q);

#endif
