/* Time: a monotonic clock for durations and deadlines, the wall clock for logs. */
#ifndef MS_CLOCK_H
#define MS_CLOCK_H

#include <stdint.h>

/* Milliseconds on the monotonic clock (never jumps; only differences mean anything). */
int64_t ms_now_ms(void);

/* Nanoseconds on the monotonic clock. */
int64_t ms_now_ns(void);

/* Seconds since the Unix epoch, wall clock, with sub-second precision. */
double ms_wall_seconds(void);

/* Sleeps for ms milliseconds, resuming after signals. */
void ms_sleep_ms(int64_t ms);

#endif
