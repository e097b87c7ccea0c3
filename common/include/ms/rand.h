/* Fast per-thread pseudo-random numbers for ids, jitter and fault percentages (not for secrets). */
#ifndef MS_RAND_H
#define MS_RAND_H

#include <stdint.h>

/* A 64-bit pseudo-random number from this thread's generator, seeded from getrandom(). */
uint64_t ms_rand64(void);

/* A uniform integer in [0, bound); bound must be > 0. */
uint64_t ms_rand_below(uint64_t bound);

#endif
