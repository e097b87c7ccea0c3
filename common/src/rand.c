/* xoshiro256** per thread: no lock, no shared state, seeded once per thread from the kernel. */
#include "ms/rand.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

static _Thread_local uint64_t state[4];
static _Thread_local bool seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* In a child after fork: the parent's state was copied, so the child would repeat the
 * parent's (and every sibling's) sequence; draw a fresh seed on next use instead. */
static void forget_seed(void)
{
    seeded = false;
}

static void install_atfork(void)
{
    pthread_atfork(NULL, NULL, forget_seed);
}

static void seed(void)
{
    pthread_once(&atfork_once, install_atfork);
    if (getrandom(state, sizeof(state), 0) != (ssize_t)sizeof(state)) {
        /* getrandom cannot fail for 32 bytes after boot; the fallback only keeps state non-zero */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        state[0] = (uint64_t)ts.tv_nsec | 1;
        state[1] = (uint64_t)ts.tv_sec ^ (uintptr_t)&ts;
        state[2] = 0x9e3779b97f4a7c15ULL;
        state[3] = 0xbf58476d1ce4e5b9ULL;
    }
    seeded = true;
}

uint64_t ms_rand64(void)
{
    uint64_t result, t;

    if (!seeded)
        seed();
    result = rotl(state[1] * 5, 7) * 9;
    t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    return result;
}

uint64_t ms_rand_below(uint64_t bound)
{
    /* Lemire's multiply-shift; the tiny bias is irrelevant for jitter and percentages. */
    return (uint64_t)(((unsigned __int128)ms_rand64() * bound) >> 64);
}

void ms_uuid4(char *buf, size_t cap)
{
    uint64_t a = ms_rand64(), b = ms_rand64();

    snprintf(buf, cap, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
             (unsigned)((b >> 48) & 0x3fff) | 0x8000, (unsigned long long)(b & 0xffffffffffffULL));
}
