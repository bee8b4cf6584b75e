/*
 * The set of plugin instances built from a config and the plugin directory:
 * scan, load, check, init.  A plugin that cannot be loaded is refused with
 * one log line and the others go on.
 *
 * Ownership: the registry holds one reference to each instance;
 * plugin_registry_clear() drops them.
 */
#ifndef ES_PLUGIN_REGISTRY_H
#define ES_PLUGIN_REGISTRY_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "es_config.h"
#include "plugin_instance.h"

typedef struct plugin_registry {
	plugin_instance **instances;
	size_t count;
} plugin_registry;

typedef struct registry_report {
	size_t loaded;
	size_t refused;  /* files that failed to load, check or init */
	size_t disabled; /* configured with enabled: false */
	size_t skipped;  /* not configured, and plugins.load_unconfigured is false */
	size_t problems; /* refused + directory problems + settings naming no plugin */
} registry_report;

/* Load every plugin of config->plugin_dir.  Each problem is logged; when
 * `out` is non-NULL, each is also printed there as `file[:line:col]: msg`
 * (--check-config).  Returns -1 only when the directory itself cannot be
 * used; refused plugins are counted in the report. */
int plugin_registry_load(const es_config *config, const host_services *services, uid_t service_uid,
                         plugin_registry *registry, registry_report *report, FILE *out);
/* Start every instance's workers; an instance that fails to start is
 * removed and counted as refused. */
void plugin_registry_start(plugin_registry *registry, registry_report *report);
/* Stop every instance with one shared deadline; returns undelivered. */
uint64_t plugin_registry_stop(plugin_registry *registry, int64_t deadline_us);
void plugin_registry_clear(plugin_registry *registry);

#endif
