/*
 * The two clocks of the host, in microseconds: realtime for what is shown
 * (event times, RFC 3339 text) and monotonic for every interval, timeout
 * and deadline (immune to clock changes).
 */
#ifndef ES_CLOCK_H
#define ES_CLOCK_H

#include <stdint.h>

int64_t clock_realtime_us(void);
int64_t clock_monotonic_us(void);

#endif
