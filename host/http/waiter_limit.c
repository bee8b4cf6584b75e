/*
 * The bound on waiting requests.  See waiter_limit.h.
 */
#include "config.h"

#include "http/waiter_limit.h"

#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdio.h>

#include "http/http_api_internal.h"
#include "util/prom_text.h"

static _Atomic uint32_t waiting;
static _Atomic uint64_t refused;

bool waiter_limit_take(uint32_t max)
{
	uint32_t n = atomic_load(&waiting);
	do {
		if (n >= max) {
			atomic_fetch_add_explicit(&refused, 1, memory_order_relaxed);
			return false;
		}
	} while (!atomic_compare_exchange_weak(&waiting, &n, n + 1));
	return true;
}

void waiter_limit_give(void)
{
	atomic_fetch_sub(&waiting, 1);
}

void waiter_limit_refuse(api_request *r, uint32_t max)
{
	char msg[200];
	snprintf(msg, sizeof msg,
	         "%u requests are already waiting for an outcome (server.max_waiters); retry later, or send "
	         "without waiting",
	         max);
	api_header(r, "Retry-After", "1");
	api_error(r, 503, "too_many_waiters", msg);
}

void waiter_limit_metrics_render(struct evbuffer *out)
{
	prom_text_header(out, "eventsys_http_waiters", "gauge",
	                 "Requests waiting for an outcome (?wait=true, admin reload).");
	evbuffer_add_printf(out, "eventsys_http_waiters %u\n", atomic_load(&waiting));
	prom_text_header(out, "eventsys_http_waiters_refused_total", "counter",
	                 "Requests answered 503 because server.max_waiters were already waiting.");
	evbuffer_add_printf(out, "eventsys_http_waiters_refused_total %llu\n", (unsigned long long)atomic_load(&refused));
}
