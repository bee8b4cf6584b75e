/* Polling a condition with a deadline in the unit tests that drive threads.
 *
 * WAIT_FOR(f, cond): with f->lock (a pthread_mutex_t) held, wait on
 * f->changed (a pthread_cond_t the code under test's fakes broadcast) until
 * `cond` holds, rechecking every 10 ms; fails the test after 5 s. */
#ifndef ES_TEST_WAIT_FOR_H
#define ES_TEST_WAIT_FOR_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "util/clock.h"

static inline struct timespec wait_for_tick(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 10000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

#define WAIT_FOR(f, cond)                                                        \
	do {                                                                     \
		int64_t until_ = clock_monotonic_us() + 5000000;                 \
		pthread_mutex_lock(&(f)->lock);                                  \
		while (!(cond) && clock_monotonic_us() < until_) {               \
			struct timespec ts_ = wait_for_tick();                   \
			pthread_cond_timedwait(&(f)->changed, &(f)->lock, &ts_); \
		}                                                                \
		bool ok_ = (cond);                                               \
		pthread_mutex_unlock(&(f)->lock);                                \
		if (!ok_)                                                        \
			fail_msg("timed out waiting for: %s", #cond);            \
	} while (0)

#endif
