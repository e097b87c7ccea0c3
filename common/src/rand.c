/* xoshiro256** per thread: no lock, no shared state, seeded once per thread from the kernel. */
#include "ms/rand.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
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

/* Writes the low digits hex digits of v at out, most significant first. */
static char *put_hex(char *out, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";

    for (int i = digits - 1; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
    return out + digits;
}

/* By hand rather than with snprintf: a request id is made for every request without one, and
 * the format string cost more than the random numbers. */
void ms_uuid4(char *buf, size_t cap)
{
    uint64_t a = ms_rand64(), b = ms_rand64();
    char id[MS_UUID_LEN + 1], *p = id;
    size_t n;

    p = put_hex(p, a >> 32, 8);
    *p++ = '-';
    p = put_hex(p, a >> 16, 4);
    *p++ = '-';
    *p++ = '4';
    p = put_hex(p, a, 3);
    *p++ = '-';
    p = put_hex(p, ((b >> 48) & 0x3fff) | 0x8000, 4);
    *p++ = '-';
    p = put_hex(p, b, 12);
    *p = '\0';
    if (cap == 0)
        return;
    n = cap - 1 < MS_UUID_LEN ? cap - 1 : MS_UUID_LEN; /* cut short like snprintf */
    memcpy(buf, id, n);
    buf[n] = '\0';
}
