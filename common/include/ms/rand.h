/* Fast per-thread pseudo-random numbers for ids, jitter and fault percentages (not for secrets). */
#ifndef MS_RAND_H
#define MS_RAND_H

#include <stddef.h>
#include <stdint.h>

/* A 64-bit pseudo-random number from this thread's generator, seeded from getrandom(), and
 * seeded afresh in a child after fork (so forked processes never repeat each other). */
uint64_t ms_rand64(void);

/* A uniform integer in [0, bound); bound must be > 0. */
uint64_t ms_rand_below(uint64_t bound);

/* A random UUID (version 4, RFC 9562 layout: 36 characters) into buf, which must hold at least
 * MS_UUID_LEN + 1 bytes. Used for request ids (the form Envoy generates, so ids look alike
 * across the mesh) and for order ids. Unique in practice, not unguessable. */
enum { MS_UUID_LEN = 36 };
void ms_uuid4(char *buf, size_t cap);

#endif
