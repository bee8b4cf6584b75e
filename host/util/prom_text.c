/*
 * Prometheus text helpers: see prom_text.h.
 */
#include "config.h"

#include "util/prom_text.h"

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

void prom_text_header(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s ", name);
	for (const char *p = help; *p;) {
		size_t plain = strcspn(p, "\\\n");
		evbuffer_add(out, p, plain);
		p += plain;
		if (*p) {
			evbuffer_add(out, *p == '\\' ? "\\\\" : "\\n", 2);
			p++;
		}
	}
	evbuffer_add_printf(out, "\n# TYPE %s %s\n", name, type);
}

const char *prom_text_label(char *buf, size_t size, const char *name, const char *value)
{
	if (size == 0)
		return buf;
	int n = snprintf(buf, size, "%s=\"", name);
	size_t len = n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
	for (const char *p = value; *p; p++) {
		const char *piece = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
		size_t piece_len = piece ? 2 : 1;
		if (len + piece_len + 2 > size) /* room for the closing quote and the NUL */
			break;
		memcpy(buf + len, piece ? piece : p, piece_len);
		len += piece_len;
	}
	if (len + 2 <= size)
		buf[len++] = '"';
	buf[len] = '\0';
	return buf;
}

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
