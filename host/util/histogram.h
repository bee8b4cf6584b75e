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

/* Observations one thread collects without atomics and adds to a shared
 * histogram now and then (histogram_add_tally): a worker counts a batch of
 * deliveries this way instead of three atomic adds on a shared line each. */
typedef struct histogram_tally {
	uint64_t buckets[HISTOGRAM_BUCKETS + 1];
	uint64_t count;
	uint64_t sum_us;
} histogram_tally;

void histogram_tally_us(histogram_tally *t, int64_t us);
/* Add `t` to `h` and empty `t`. */
void histogram_add_tally(histogram *h, histogram_tally *t);

#endif
