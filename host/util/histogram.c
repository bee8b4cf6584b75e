/*
 * Fixed-bucket latency histograms.
 */
#include "config.h"

#include "util/histogram.h"

const double histogram_bounds[HISTOGRAM_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,    0.25,  0.5,    1,     2.5,  5,     10};

/* The same bounds in microseconds, for a comparison without floating point. */
static const int64_t bounds_us[HISTOGRAM_BUCKETS] = {500,    1000,   2500,    5000,    10000,   25000,   50000,
                                                     100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

static int bucket_of(int64_t us)
{
	int i = 0;
	while (i < HISTOGRAM_BUCKETS && us > bounds_us[i])
		i++;
	return i;
}

void histogram_observe_us(histogram *h, int64_t us)
{
	if (us < 0)
		us = 0;
	int i = bucket_of(us);
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (uint64_t)us, memory_order_relaxed);
}

void histogram_tally_us(histogram_tally *t, int64_t us)
{
	if (us < 0)
		us = 0;
	t->buckets[bucket_of(us)]++;
	t->count++;
	t->sum_us += (uint64_t)us;
}

void histogram_add_tally(histogram *h, histogram_tally *t)
{
	if (!t->count)
		return;
	for (int i = 0; i <= HISTOGRAM_BUCKETS; i++)
		if (t->buckets[i])
			atomic_fetch_add_explicit(&h->buckets[i], t->buckets[i], memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, t->count, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, t->sum_us, memory_order_relaxed);
	*t = (histogram_tally){0};
}
