/*
 * A latency histogram with fixed buckets, safe to observe from many threads
 * at once without a lock (atomic counters), read by the metrics endpoint.
 */
#ifndef ES_HISTOGRAM_H
#define ES_HISTOGRAM_H

#include <stdatomic.h>
#include <stdint.h>

#define HISTOGRAM_BUCKETS 14

/* Upper bounds in seconds, ascending; +Inf is implied. */
extern const double histogram_bounds[HISTOGRAM_BUCKETS];

typedef struct histogram {
	_Atomic uint64_t buckets[HISTOGRAM_BUCKETS + 1]; /* per bucket, not cumulative; last: above all */
	_Atomic uint64_t count;
	_Atomic uint64_t sum_us;
} histogram;

void histogram_observe_us(histogram *h, int64_t us);

#endif
