/*
 * Prometheus text helpers: see prom_text.h.
 */
#include "config.h"

#include "util/prom_text.h"

#include <event2/buffer.h>
#include <stdatomic.h>

void prom_text_histogram(struct evbuffer *out, const char *name, const char *labels, const histogram *h)
{
	uint64_t cumulative = 0;
	const char *sep = labels[0] ? "," : "";
	for (int i = 0; i < HISTOGRAM_BUCKETS; i++) {
		cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
		evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, histogram_bounds[i],
		                    (unsigned long long)cumulative);
	}
	cumulative += atomic_load_explicit(&h->buckets[HISTOGRAM_BUCKETS], memory_order_relaxed);
	/* +Inf must equal _count: derive both from the same bucket reads */
	evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cumulative);
	double sum = (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6;
	evbuffer_add_printf(out, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels, sum, name, labels,
	                    (unsigned long long)cumulative);
}
