/* The per-thread request budget (ms/budget.h). */
#include "ms/budget.h"

#include <stdlib.h>

#include "ms/clock.h"

static _Thread_local int64_t deadline;

void ms_budget_set(int64_t deadline_ms)
{
    deadline = deadline_ms;
}

int64_t ms_budget_deadline(void)
{
    return deadline;
}

bool ms_budget_spent(void)
{
    return deadline != 0 && deadline <= ms_now_ms();
}

int64_t ms_budget_cap(int64_t wait_ms)
{
    int64_t left;

    if (deadline == 0)
        return wait_ms;
    left = deadline - ms_now_ms();
    if (left < 0)
        left = 0;
    return left < wait_ms ? left : wait_ms;
}

int64_t ms_budget_deadline_after(int64_t wait_ms)
{
    int64_t end = ms_now_ms() + wait_ms;

    return deadline != 0 && deadline < end ? deadline : end;
}

void ms_budget_grace(int64_t grace_ms)
{
    int64_t least = ms_now_ms() + grace_ms;

    if (deadline != 0 && deadline < least)
        deadline = least;
}

/* The most a caller's wait is shortened by, for the answer's way back. */
enum { MARGIN_MAX_MS = 50 };

int64_t ms_budget_for_request(int64_t default_ms, const char *header)
{
    char *end;
    long long v;

    if (header == NULL || *header < '0' || *header > '9')
        return default_ms;
    v = strtoll(header, &end, 10);
    if (*end != '\0' || v <= 0)
        return default_ms;
    /* a tenth of it, at most 50 ms, so that our 503 reaches the caller before its time-out */
    v -= v / 10 < MARGIN_MAX_MS ? v / 10 : MARGIN_MAX_MS;
    return v < default_ms ? (v > 0 ? v : 1) : default_ms;
}
