/*
 * Plugin-defined counters and gauges (see plugin_metrics.h).
 */
#include "config.h"

#include "core/plugin_metrics.h"

#include <stdio.h>
#include <string.h>

#include "util/log.h"

_Static_assert(ES_PLUGIN_MAX_METRICS == 32, "the refusal message names the limit");

void plugin_metrics_init(plugin_metrics *m)
{
	memset(m, 0, sizeof *m);
	pthread_mutex_init(&m->lock, NULL);
	atomic_init(&m->count, 0);
	atomic_init(&m->refused, 0);
	atomic_init(&m->refusal_logged, false);
}

void plugin_metrics_destroy(plugin_metrics *m)
{
	pthread_mutex_destroy(&m->lock);
}

bool plugin_metric_name_valid(const char *name)
{
	if (!name || !(name[0] >= 'a' && name[0] <= 'z'))
		return false;
	size_t n = 0;
	for (; name[n]; n++) {
		char c = name[n];
		if (n >= PLUGIN_METRIC_NAME_MAX || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

static void refuse(plugin_metrics *m, const char *plugin, const char *name, const char *why)
{
	atomic_fetch_add_explicit(&m->refused, 1, memory_order_relaxed);
	bool expected = false;
	if (atomic_compare_exchange_strong(&m->refusal_logged, &expected, true))
		LOG_WARN(plugin,
		         "metric '%.40s' refused: %s (logged once; further refusals are counted in "
		         "eventsys_plugin_metric_refused_total)",
		         name ? name : "(null)", why);
}

/* The entry for `name` of that kind, created when new; NULL when refused. */
static plugin_counter *find_or_add(plugin_metrics *m, const char *plugin, const char *name, bool gauge)
{
	/* Before the lookup: it compares names with strcmp(). */
	if (!name) {
		refuse(m, plugin, name, "the name is NULL");
		return NULL;
	}
	size_t n = atomic_load_explicit(&m->count, memory_order_acquire);
	plugin_counter *found = NULL;
	for (size_t i = 0; i < n && !found; i++)
		if (strcmp(m->items[i].name, name) == 0)
			found = &m->items[i];
	if (!found) {
		if (!plugin_metric_name_valid(name)) {
			refuse(m, plugin, name, "a name is 1-31 characters of a-z, 0-9 and _, starting with a letter");
			return NULL;
		}
		pthread_mutex_lock(&m->lock);
		n = atomic_load_explicit(&m->count, memory_order_relaxed);
		size_t i = 0;
		while (i < n && strcmp(m->items[i].name, name) != 0)
			i++;
		if (i == n && n < ES_PLUGIN_MAX_METRICS) {
			plugin_counter *c = &m->items[i];
			snprintf(c->name, sizeof c->name, "%s", name); /* fits: checked above */
			c->gauge = gauge;
			atomic_init(&c->value, 0);
			atomic_store_explicit(&m->count, n + 1, memory_order_release);
		}
		found = i < ES_PLUGIN_MAX_METRICS ? &m->items[i] : NULL;
		pthread_mutex_unlock(&m->lock);
		if (!found) {
			refuse(m, plugin, name, "the plugin already has 32 counters and gauges (the limit)");
			return NULL;
		}
	}
	if (found->gauge != gauge) {
		refuse(m, plugin, name, gauge ? "the name is a counter" : "the name is a gauge");
		return NULL;
	}
	return found;
}

void plugin_metrics_counter_add(plugin_metrics *m, const char *plugin, const char *name, uint64_t delta)
{
	plugin_counter *c = find_or_add(m, plugin, name, false);
	if (c)
		atomic_fetch_add_explicit(&c->value, delta, memory_order_relaxed);
}

void plugin_metrics_gauge_set(plugin_metrics *m, const char *plugin, const char *name, int64_t value)
{
	plugin_counter *c = find_or_add(m, plugin, name, true);
	if (c)
		atomic_store_explicit(&c->value, (uint64_t)value, memory_order_relaxed);
}

size_t plugin_metrics_list(plugin_metrics *m, const plugin_counter **items)
{
	*items = m->items;
	return atomic_load_explicit(&m->count, memory_order_acquire);
}

uint64_t plugin_metrics_refused(plugin_metrics *m)
{
	return atomic_load_explicit(&m->refused, memory_order_relaxed);
}
