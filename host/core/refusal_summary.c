/*
 * Summarised log lines for refusals by full queues.  See refusal_summary.h.
 */
#include "config.h"

#include "core/refusal_summary.h"

#include "model/es_event.h"
#include "util/log.h"

#define INTERVAL_US ((int64_t)REFUSAL_SUMMARY_INTERVAL_S * 1000000)

void refusal_summary_note(refusal_summary *s, const char *plugin, const char *id, const char *name)
{
	atomic_fetch_add_explicit(&s->unwritten, 1, memory_order_relaxed);
	int64_t now = clock_monotonic_us();
	int64_t last = atomic_load_explicit(&s->written_us, memory_order_relaxed);
	if (last != 0 && now - last < INTERVAL_US)
		return;
	/* One thread writes the line; the others' refusals are in its count
	 * or in the next one. */
	if (!atomic_compare_exchange_strong(&s->written_us, &last, now))
		return;
	uint64_t n = atomic_exchange(&s->unwritten, 0);
	if (last == 0)
		LOG_WARN("http",
		         "event %s (%s) refused: queue of plugin '%s' is full (%llu refused); further refusals are "
		         "counted and logged every %d s",
		         id, name, plugin, (unsigned long long)n, REFUSAL_SUMMARY_INTERVAL_S);
	else
		LOG_WARN("http", "queue of plugin '%s' is full: %llu more events refused in the last %.1f s (latest %s (%s))",
		         plugin, (unsigned long long)n, (double)(now - last) / 1e6, id, name);
}

static void end_episode(refusal_summary *s, const char *plugin, int64_t last, const char *how)
{
	if (!atomic_compare_exchange_strong(&s->written_us, &last, 0))
		return;
	uint64_t n = atomic_exchange(&s->unwritten, 0);
	LOG_WARN("http", "queue of plugin '%s' %s: %llu more events refused since the last line", plugin, how,
	         (unsigned long long)n);
}

void refusal_summary_accepted(refusal_summary *s, const char *plugin)
{
	int64_t last = atomic_load_explicit(&s->written_us, memory_order_relaxed);
	if (last == 0 || clock_monotonic_us() - last < INTERVAL_US)
		return;
	end_episode(s, plugin, last, "accepts events again");
}

void refusal_summary_flush(refusal_summary *s, const char *plugin)
{
	int64_t last = atomic_load(&s->written_us);
	if (last != 0)
		end_episode(s, plugin, last, "stops");
}
