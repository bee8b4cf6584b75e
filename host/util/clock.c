/*
 * The host's clocks: see clock.h.
 */
#include "config.h"

#include "util/clock.h"

#include <stdbool.h>
#include <time.h>

int64_t clock_realtime_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void clock_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

struct timespec clock_monotonic_in(int64_t us)
{
	if (us < 0)
		us = 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t ns = ts.tv_nsec + (us % 1000000) * 1000;
	ts.tv_sec += (time_t)(us / 1000000 + ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	return ts;
}

struct timespec clock_realtime_in(int64_t us)
{
	if (us < 0)
		us = 0;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t ns = ts.tv_nsec + (us % 1000000) * 1000;
	ts.tv_sec += (time_t)(us / 1000000 + ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	return ts;
}

int clock_cond_wait_us(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t wait_us)
{
	struct timespec until = clock_monotonic_in(wait_us);
	return pthread_cond_timedwait(cond, lock, &until);
}

int64_t clock_monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#define REALTIME_OFFSET_REFRESH_US 10000

int64_t clock_realtime_at_us(int64_t monotonic_us)
{
	static _Thread_local int64_t offset_us, read_at_us;
	static _Thread_local bool valid;
	if (!valid || monotonic_us - read_at_us >= REALTIME_OFFSET_REFRESH_US || monotonic_us < read_at_us) {
		read_at_us = clock_monotonic_us();
		offset_us = clock_realtime_us() - read_at_us;
		valid = true;
	}
	return monotonic_us + offset_us;
}
