/*
 * Summarised log lines for refusals by full queues.  See refusal_summary.h.
 */
#include "config.h"

#include "core/refusal_summary.h"

#include "model/es_event.h"
#include "util/log.h"

#define INTERVAL_US ((int64_t)REFUSAL_SUMMARY_INTERVAL_S * 1000000)

bool refusal_summary_count(refusal_summary *s, uint64_t *count, int64_t *previous_us, int64_t *now_us)
{
	atomic_fetch_add_explicit(&s->unwritten, 1, memory_order_relaxed);
	int64_t now = clock_monotonic_us();
	int64_t last = atomic_load_explicit(&s->written_us, memory_order_relaxed);
	if (last != 0 && now - last < INTERVAL_US)
		return false;
	/* One thread writes the line; the others' refusals are in its count
	 * or in the next one. */
	if (!atomic_compare_exchange_strong(&s->written_us, &last, now))
		return false;
	*count = atomic_exchange(&s->unwritten, 0);
	*previous_us = last;
	*now_us = now;
	return true;
}

bool refusal_summary_settle(refusal_summary *s, bool now, uint64_t *count)
{
	int64_t last = atomic_load(&s->written_us);
	if (last == 0 || (!now && clock_monotonic_us() - last < INTERVAL_US))
		return false;
	if (!atomic_compare_exchange_strong(&s->written_us, &last, 0))
		return false;
	*count = atomic_exchange(&s->unwritten, 0);
	return true;
}

bool refusal_budget_take(refusal_budget *b, uint64_t *unwritten)
{
	/* in hundredths of a second: 32 bits last 497 days, and the
	 * difference below is read modulo 2^32 */
	uint32_t now = (uint32_t)(clock_monotonic_us() / 10000);
	uint64_t seen = atomic_load_explicit(&b->window_lines, memory_order_relaxed);
	uint64_t next;
	do {
		if (seen == 0 || (uint32_t)(now - (uint32_t)(seen >> 32)) >= INTERVAL_US / 10000)
			next = (uint64_t)now << 32 | 1; /* an interval starts with this line */
		else if ((seen & 0xffffffffu) < REFUSAL_BUDGET_LINES)
			next = seen + 1;
		else {
			atomic_fetch_add_explicit(&b->unwritten, 1, memory_order_relaxed);
			return false;
		}
	} while (!atomic_compare_exchange_weak(&b->window_lines, &seen, next));
	*unwritten = atomic_exchange(&b->unwritten, 0);
	return true;
}

uint64_t refusal_budget_settle(refusal_budget *b)
{
	if (atomic_load_explicit(&b->unwritten, memory_order_relaxed) == 0)
		return 0; /* cheap when there is none */
	return atomic_exchange(&b->unwritten, 0);
}

void refusal_summary_note(refusal_summary *s, const char *plugin, const char *id, const char *name)
{
	uint64_t n;
	int64_t last, now;
	if (!refusal_summary_count(s, &n, &last, &now))
		return;
	if (last == 0)
		LOG_WARN("http",
		         "event %s (%s) refused: queue of plugin '%s' is full (%llu refused); further refusals are "
		         "counted and logged every %d s",
		         id, name, plugin, (unsigned long long)n, REFUSAL_SUMMARY_INTERVAL_S);
	else
		LOG_WARN("http", "queue of plugin '%s' is full: %llu more events refused in the last %.1f s (latest %s (%s))",
		         plugin, (unsigned long long)n, (double)(now - last) / 1e6, id, name);
}

static void end_episode(refusal_summary *s, const char *plugin, bool now, const char *how)
{
	uint64_t n;
	if (refusal_summary_settle(s, now, &n))
		LOG_WARN("http", "queue of plugin '%s' %s: %llu more events refused since the last line", plugin, how,
		         (unsigned long long)n);
}

void refusal_summary_accepted(refusal_summary *s, const char *plugin)
{
	if (atomic_load_explicit(&s->written_us, memory_order_relaxed) == 0)
		return; /* cheap when there is no episode */
	end_episode(s, plugin, false, "accepts events again");
}

void refusal_summary_flush(refusal_summary *s, const char *plugin)
{
	end_episode(s, plugin, true, "stops");
}
