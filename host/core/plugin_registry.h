/*
 * The set of plugin instances built from a config and the plugin directory:
 * scan, load, check, init.  A plugin that cannot be loaded is refused with
 * one log line and the others go on.
 *
 * Ownership: plugin_registry_new() returns an empty registry owned by the
 * caller (the daemon holds the one in force), freed with
 * plugin_registry_free(), which drops the registry's reference to each
 * instance.  Threads: the main thread only.
 */
#ifndef ES_PLUGIN_REGISTRY_H
#define ES_PLUGIN_REGISTRY_H

#include <stddef.h>
#include <stdio.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "model/es_config.h"
#include "core/plugin_instance.h"

/* Opaque: only plugin_registry.c reads a registry's fields. */
typedef struct plugin_registry plugin_registry;

/* What a reload changed, as plugin names joined with ", ". */
typedef struct registry_changes {
	char added[512];
	char removed[512];
	char replaced[512];
	size_t kept;
} registry_changes;

typedef struct registry_report {
	size_t loaded;
	size_t refused;  /* files that failed to load, check or init */
	size_t disabled; /* configured with enabled: false */
	size_t skipped;  /* not configured, and plugins.load_unconfigured is false */
	size_t quarantined; /* crashed too often (crash_ledger.h): not loaded */
	size_t problems; /* refused + directory problems + settings naming no plugin */
} registry_report;

/* An empty registry; NULL when out of memory. */
plugin_registry *plugin_registry_new(void);
/* Drop the references to the instances and free the registry (NULL: nothing). */
void plugin_registry_free(plugin_registry *registry);

/* The instances, in load order: plugin_registry_count() of them, valid
 * while the registry is; and how many files were refused. */
size_t plugin_registry_count(const plugin_registry *registry);
plugin_instance *const *plugin_registry_instances(const plugin_registry *registry);
size_t plugin_registry_refused_count(const plugin_registry *registry);

/* Load every plugin of config->plugin_dir into the empty `registry`.  Each problem is logged; when
 * `out` is non-NULL, each is also printed there as `file[:line:col]: msg`
 * (--check-config).  Returns -1 only when the directory itself cannot be
 * used; refused plugins are counted in the report. */
int plugin_registry_load(const es_config *config, const host_services *services, uid_t service_uid,
                         plugin_registry *registry, registry_report *report, FILE *out);
/* For a reload: build the empty `next` from the new config and the directory as it
 * is now.  Instances whose file and settings are unchanged are shared with
 * `old` (a new reference), changed and new files are loaded and initialised
 * (not started).  A new or changed file that cannot be loaded, checked or
 * initialised fails the whole rebuild: -1 with `file: reason` in err and
 * `next` left empty.  A file refused before and unchanged stays refused
 * without failing.  `old` is not modified. */
int plugin_registry_rebuild(const plugin_registry *old, const es_config *config, const host_services *services,
                            uid_t service_uid, plugin_registry *next, registry_changes *changes, char *err,
                            size_t err_size);
/* Start the instances of `next` that are not in `old`; -1 (with err) when
 * one fails, after stopping those it started. */
int plugin_registry_start_new(const plugin_registry *old, plugin_registry *next, char *err, size_t err_size);
/* Whether `instance` is in the registry. */
bool plugin_registry_contains(const plugin_registry *registry, const plugin_instance *instance);

/* Start every instance's workers; an instance that fails to start is
 * removed and counted as refused. */
void plugin_registry_start(plugin_registry *registry, registry_report *report);
/* Stop every instance with one shared deadline; returns undelivered. */
uint64_t plugin_registry_stop(plugin_registry *registry, int64_t deadline_us);

#endif
