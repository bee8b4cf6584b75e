/*
 * A running plugin: its loaded image, its settings, the state its init()
 * returned, and its own worker pool.
 *
 * Ownership: reference-counted.  The registry holds one reference, each
 * routing table that routes to the instance holds one.  The last unref
 * frees the pool and drops the image; plugin_instance_stop() must have been
 * called first when the instance was started.
 *
 * Threads: create/start/stop on the main thread; matches/pool/name from
 * any thread.
 */
#ifndef ES_PLUGIN_INSTANCE_H
#define ES_PLUGIN_INSTANCE_H

#include <stdbool.h>
#include <stdint.h>

#include <event-system/plugin.h>

#include "core/isolated_plugin.h"
#include "core/plugin_loader.h"
#include "core/plugin_metrics.h"
#include "core/worker_pool.h"
#include "db/database.h"
#include "model/es_config.h"
#include "model/es_event.h"
#include "util/yaml_tree.h"

/* The router is above instances (router.h): an instance only carries the
 * daemon's router for emit(), it never calls it. */
typedef struct router router;
struct crash_ledger;

typedef struct plugin_instance plugin_instance;

/* What the host offers plugins beyond their own instance.  Filled by the
 * composition root (main.c) and copied into each instance. */
typedef struct host_services {
	/* The function table handed to each plugin's init() (host_api_table(),
	 * core/host_api.h, which sits above instances: they call it only
	 * through this table).  Static; valid for the life of the process. */
	const es_host_api *api;
	struct crash_ledger *crashes; /* quarantines (crash_ledger.h); NULL: none (owned by the daemon) */
	router *router;        /* where emit() sends events */
	database *db;          /* where outcomes are recorded; NULL: no database (owned by the daemon) */
	struct js_link *jetstream; /* queue.backend jetstream: where emit() publishes; else NULL (the daemon's) */
	size_t max_event_size; /* limit for emitted data */
	/* --check-config: load and check plugins without calling their code:
	 * no init() (nor shutdown()), so a check has no side effects a plugin
	 * author would not expect (files written, connections made). */
	bool check_only;
} host_services;

/* The context a plugin's calls hand back to the host: its instance. */
struct es_plugin_ctx {
	plugin_instance *instance;
};

/* Create an instance of `image` (takes a new image reference) with
 * `settings` (NULL: none configured; `defaults` then apply) and `extra`
 * subscriptions besides its own (the database's event_subscriptions).
 * Calls the plugin's init().  NULL on failure with the reason in err. */
plugin_instance *plugin_instance_create(plugin_image *image, const plugin_settings *settings,
                                        const plugin_policy *defaults, const char *const *extra, size_t extra_count,
                                        const host_services *services, char *err, size_t err_size);
int plugin_instance_start(plugin_instance *instance);
/* Drain until `deadline_us` (monotonic), stop the workers, call shutdown().
 * Returns the number of undelivered events. */
uint64_t plugin_instance_stop(plugin_instance *instance, int64_t deadline_us);
/* The same for an instance a reload replaces by `successor` (a started
 * instance of the same plugin; NULL: none, the plugin was removed): the
 * deliveries it has not started by the deadline are handed to the
 * successor, which owns them from then on (worker_pool_stop_handing_over(),
 * which waits up to `room_wait_us` for room in the successor's queue);
 * only what cannot be handed over is undelivered (returned); the number
 * handed over goes to *handed_over (may be NULL).  A handler still running
 * at the deadline is waited for until its own deadline (timeout_ms), so
 * this may return that much later; once it returned, shutdown() is called
 * and the instance can be unloaded.  Only a handler stuck past its own
 * deadline keeps the instance loaded, as with plugin_instance_stop(). */
uint64_t plugin_instance_retire(plugin_instance *instance, int64_t deadline_us, plugin_instance *successor,
                                int64_t room_wait_us, uint64_t *handed_over);
/* Ask the plugin to reopen its files (SIGHUP), never while a handler runs:
 * the pool is paused first; when a handler is still running (or stuck) past
 * the plugin's handler deadline, reopen() is skipped and that is logged. */
void plugin_instance_reopen(plugin_instance *instance);

/* Whether an instance created now from `settings`/`defaults` would run
 * exactly like this one (same policy, subscriptions and config): a reload
 * keeps such an instance untouched. */
bool plugin_instance_same_settings(const plugin_instance *instance, const plugin_settings *settings,
                                   const plugin_policy *defaults, const char *const *extra, size_t extra_count);

void plugin_instance_ref(plugin_instance *instance);
void plugin_instance_unref(plugin_instance *instance);

bool plugin_instance_matches(const plugin_instance *instance, const char *event_name);
worker_pool *plugin_instance_pool(const plugin_instance *instance);
/* For the log: its full queue refused `event` / its queue took one (a
 * refusal episode is summarised, see refusal_summary.h). */
void plugin_instance_note_queue_full(plugin_instance *instance, const es_event *event);
void plugin_instance_note_accepted(plugin_instance *instance);
/* For the log: the host refused an event the plugin emitted (`name`, the
 * reason `why`).  The first ten of each ten seconds are logged with their
 * reason, the others counted into one line when the next ten seconds
 * start (a plugin emitting in a loop would write a line for each); the
 * count not written yet is written by flush, which unref does last. */
void plugin_instance_note_emit_refused(plugin_instance *instance, const char *name, const char *why);
void plugin_instance_flush_emits_refused(plugin_instance *instance);
const char *plugin_instance_name(const plugin_instance *instance);
const plugin_image *plugin_instance_image(const plugin_instance *instance);
const plugin_policy *plugin_instance_policy(const plugin_instance *instance);
size_t plugin_instance_subscriptions(const plugin_instance *instance, const char *const **patterns);
/* Redelivery found that `event` crashed this plugin `crashes` times, at
 * least its max_crashes: dead-letter it for this plugin ("crashed the
 * plugin N times"), count and log it.  Settles one delivery of the event. */
void plugin_instance_poisoned(plugin_instance *instance, es_event *event, uint32_t crashes);
uint64_t plugin_instance_poisoned_count(const plugin_instance *instance);
/* Redelivery found that earlier runs made `attempts` attempts of `event`
 * for this plugin, at least its max_attempts: dead-letter it ("no attempts
 * left: N made before a restart"), count and log it.  Settles one delivery
 * of the event. */
void plugin_instance_exhausted(plugin_instance *instance, es_event *event, uint32_t attempts);
uint64_t plugin_instance_exhausted_count(const plugin_instance *instance);
/* The identity of the file it was loaded from (crash_file_identity()). */
const char *plugin_instance_file_id(const plugin_instance *instance);
/* Whether it runs isolated (`isolation: process`), and then its children's
 * pids and restart counts in *out. */
bool plugin_instance_isolation(plugin_instance *instance, isolated_status *out);
/* Plugin-defined counters and gauges; returns how many are in use. */
size_t plugin_instance_counters(plugin_instance *instance, const plugin_counter **counters);
/* The table itself, owned by the instance (host API, /metrics). */
plugin_metrics *plugin_instance_metrics(plugin_instance *instance);

/* For the host API (host_api.c): the plugin's `config:` subtree (owned by
 * the instance, NULL when none), its services, and the event the calling
 * worker thread is handling (NULL outside handle()), which bounds emit()'s
 * chains and is the parent of what it emits. */
const ynode *plugin_instance_config(const plugin_instance *instance);
const host_services *plugin_instance_services(const plugin_instance *instance);
const es_event *plugin_instance_handling(void);

#endif
