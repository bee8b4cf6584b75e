/*
 * The two clocks of the host, in microseconds: realtime for what is shown
 * (event times, RFC 3339 text) and monotonic for every interval, timeout
 * and deadline (immune to clock changes).
 */
#ifndef ES_CLOCK_H
#define ES_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

int64_t clock_realtime_us(void);
int64_t clock_monotonic_us(void);
/* The wall-clock time at the monotonic instant `monotonic_us` (a recent
 * one), without reading the realtime clock each time: each thread keeps
 * the offset between the two clocks and reads it again every 10 ms, so a
 * change of the wall clock shows within 10 ms.  Each clock read costs
 * tens of nanoseconds (more in a virtual machine); creating an event
 * needs both times. */
int64_t clock_realtime_at_us(int64_t monotonic_us);

/* The monotonic time `us` from now (< 0: now), as the absolute timespec
 * monotonic condition variables take. */
struct timespec clock_monotonic_in(int64_t us);
/* The same on the realtime clock, for pthread_timedjoin_np(), which takes
 * no other; timed joins stay on it because ThreadSanitizer does not see
 * pthread_clockjoin_np() as a join (it reports the joined thread's last
 * writes as races with freeing its memory). */
struct timespec clock_realtime_in(int64_t us);

/* Condition variables wait on the monotonic clock too: every one in the
 * host is made with clock_cond_init() and waited on with
 * clock_cond_wait_us(), so a change of the wall clock neither cuts a wait
 * short nor stretches it. */
void clock_cond_init(pthread_cond_t *cond);
/* Wait on `cond` (with `lock` held) for at most `wait_us` (< 0: 0); returns
 * pthread_cond_timedwait()'s result (ETIMEDOUT when the time ran out). */
int clock_cond_wait_us(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t wait_us);

#endif
