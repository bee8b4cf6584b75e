/*
 * The counters and gauges one plugin instance defines through the host API
 * (counter_add, gauge_set): a fixed table of ES_PLUGIN_MAX_METRICS names,
 * each created on first use, read by /metrics and the plugin status.
 *
 * Ownership: the table is a member of its plugin instance; entries are
 * never removed, so a reader may walk the first plugin_metrics_list()
 * entries without a lock while plugin threads update values.
 */
#ifndef ES_PLUGIN_METRICS_H
#define ES_PLUGIN_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event-system/plugin.h>

#define PLUGIN_METRIC_NAME_MAX 31

typedef struct plugin_counter {
	char name[PLUGIN_METRIC_NAME_MAX + 1];
	bool gauge;               /* set with gauge_set(); else a counter */
	_Atomic uint64_t value;   /* a gauge's int64_t, stored as its bits */
} plugin_counter;

typedef struct plugin_metrics {
	pthread_mutex_t lock; /* guards adding a name */
	plugin_counter items[ES_PLUGIN_MAX_METRICS];
	_Atomic size_t count;
	_Atomic uint64_t refused;  /* updates refused: bad name, table full, wrong kind */
	atomic_bool refusal_logged; /* the first refusal is logged, the rest counted */
} plugin_metrics;

void plugin_metrics_init(plugin_metrics *m);
void plugin_metrics_destroy(plugin_metrics *m);

/* Whether `name` is a metric name: 1-31 of [a-z0-9_], a letter first. */
bool plugin_metric_name_valid(const char *name);

/* Add to / set the named counter or gauge, creating it.  A refused name
 * (invalid, the table full, or the name already used by the other kind) is
 * counted, and logged once per table, tagged with `plugin`. */
void plugin_metrics_counter_add(plugin_metrics *m, const char *plugin, const char *name, uint64_t delta);
void plugin_metrics_gauge_set(plugin_metrics *m, const char *plugin, const char *name, int64_t value);

/* The entries in use. */
size_t plugin_metrics_list(plugin_metrics *m, const plugin_counter **items);
uint64_t plugin_metrics_refused(plugin_metrics *m);

#endif
