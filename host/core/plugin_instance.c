/*
 * Plugin instances: from a loaded image and its settings to a started
 * worker pool, and back.  Delivery outcomes are logged here (dead letters
 * now; the database issue records them too).
 */
#include "config.h"

#include "core/plugin_instance.h"

#include "db/database.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/crash_file.h"
#include "core/crash_report.h"
#include "core/delivery_watch.h"
#include "core/isolated_plugin.h"
#include "core/refusal_summary.h"
#include "model/pattern.h"
#include "util/json_strict.h"
#include "util/log.h"
#include "util/refcount.h"

/* An instance's log of refused emits (plugin_instance_note_emit_refused()):
 * any thread, atomics only. */
typedef struct emit_refusal_log {
	_Atomic int64_t window_start_us; /* monotonic; 0: none yet */
	_Atomic uint32_t window_logged;  /* refusals logged in full in this window */
	_Atomic uint64_t unwritten;      /* refusals past the burst, in no line yet */
} emit_refusal_log;

struct plugin_instance {
	struct es_plugin_ctx ctx; /* first: host API functions get this back */
	refcount refs;
	plugin_image *image;
	const es_plugin_descriptor *desc; /* the image's checked copy */
	plugin_policy policy;
	char **patterns;
	size_t pattern_count;
	ynode *config; /* the `config:` subtree, owned; NULL when none */
	host_services services;
	void *state; /* the plugin's, from init() */
	bool initialised, started, stopped;
	worker_pool *pool;
	plugin_metrics metrics; /* counter_add() and gauge_set() */
	/* `isolation: process`: the children that run the plugin; NULL when
	 * it runs in-process (then `state` is its init()'s). */
	isolated_plugin *isolated;
	refusal_summary queue_full; /* log lines for events its full queue refused */
	emit_refusal_log emits_refused; /* log lines for the plugin's own emits refused */
	/* shutdown() runs on its own thread so that it has a deadline; one that
	 * overran it is joined by plugin_instance_unref() once it returned. */
	pthread_t shutdown_thread;
	bool shutdown_overran;
	atomic_bool shutdown_returned;
	/* What the crash report names (crash_report.h). */
	crash_site crash_site;
	char file_id[96];
	_Atomic uint64_t poisoned; /* events dead-lettered for having crashed it max_crashes times */
	_Atomic uint64_t exhausted; /* redeliveries dead-lettered: max_attempts made before a restart */
};

/* shutdown() gets what is left of the stop deadline, and at least this. */
#define SHUTDOWN_MIN_MS 1000

/* The event being handled on this worker thread: emit() bounds the depth
 * of event chains with it (plugin_instance_handling()). */
static _Thread_local const es_event *handling;

/* A reason handle() wrote into err is the plugin's text: it may lack its
 * NUL (strncpy's way of filling a buffer) and need not be UTF-8.  It goes
 * into JSON answers, the database and the log, so it is made a string of
 * valid UTF-8 right after the call: the last byte becomes the NUL, and
 * every byte outside a valid sequence becomes '?'. */
static void plugin_reason_repair(char *err, size_t err_size)
{
	if (err_size == 0)
		return;
	err[err_size - 1] = '\0';
	utf8_repair(err);
}

/* isolated_host.handling: the child's emit() is served on this thread, and
 * `handling` gives it the chain depth as for an in-process plugin. */
static void set_handling(const es_event *event)
{
	handling = event;
}

/* An isolated plugin's deliveries go to its children in batches. */
static void deliver_isolated(void *ctx, pool_batch_item *items, size_t n)
{
	plugin_instance *inst = ctx;
	isolated_plugin_deliver_batch(inst->isolated, items, n);
	handling = NULL;
	for (size_t i = 0; i < n; i++)
		plugin_reason_repair(items[i].error, sizeof items[i].error);
}

/* How many of items[0..n) one batch call takes: an event read back from
 * the database (a redelivery after the daemon died, or a replay) goes
 * alone, and a call takes the events before it; the rest go back to the
 * queue untouched.  Redelivered events are those a crash may have come
 * from: alone, a crash names its event. */
static size_t solo_redeliveries(pool_batch_item *items, size_t n)
{
	size_t take = n;
	for (size_t i = 0; i < n && take == n; i++)
		if (items[i].event->redelivered)
			take = i == 0 ? 1 : i;
	for (size_t i = take; i < n; i++)
		items[i].started = false;
	return take;
}

/* A plugin with handle_batch() (SDK 1.1), in-process: one call for the
 * batch.  A crash inside a call of one event is that event's (the crash
 * rules count it); inside a call of several, which event caused it is
 * unknown, so it is recorded for none of them (it counts for the plugin's
 * quarantine only): the daemon dies with every event of the call
 * unfinished, the next start redelivers them (with a database), and
 * redelivered events are handed over one per call, where a further crash
 * names its event.  The price: one crash more before a poison event is
 * dead-lettered, and redeliveries go one per call. */
static void deliver_batch(void *ctx, pool_batch_item *items, size_t n)
{
	plugin_instance *inst = ctx;
	if (n == 0)
		return;
	n = solo_redeliveries(items, n);
	const es_event **events = calloc(n, sizeof *events);
	es_result *results = calloc(n, sizeof *results);
	char **errs = calloc(n, sizeof *errs);
	if (!events || !results || !errs) {
		for (size_t i = 0; i < n; i++) {
			items[i].result = ES_RETRY;
			snprintf(items[i].error, sizeof items[i].error, "out of memory");
		}
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		events[i] = items[i].event;
		results[i] = ES_RETRY;
		errs[i] = items[i].error;
	}
	handling = items[0].event;
	if (n == 1)
		crash_report_enter(&inst->crash_site, items[0].event->id, items[0].event->seq, items[0].attempt);
	else
		crash_report_enter_call(&inst->crash_site, "handle_batch() of several events");
	inst->desc->handle_batch(inst->state, events, n, results, errs, sizeof items[0].error);
	crash_report_leave();
	handling = NULL;
	for (size_t i = 0; i < n; i++) {
		items[i].result = results[i];
		plugin_reason_repair(items[i].error, sizeof items[i].error);
	}
out:
	free(events);
	free(results);
	free(errs);
}

/* A plugin with handle_async() (SDK 1.1): the call starts the delivery;
 * the plugin completes `handle` later through the host API
 * (delivery_complete, host_api.c), which ends it in the worker pool. */
static void deliver_async(void *ctx, const es_event *event, es_delivery *handle)
{
	plugin_instance *inst = ctx;
	handling = event;
	crash_report_enter(&inst->crash_site, event->id, event->seq, worker_pool_current_attempt());
	inst->desc->handle_async(inst->state, event, handle);
	crash_report_leave();
	handling = NULL;
}

static es_result deliver(void *ctx, const es_event *event, char *err, size_t err_size)
{
	plugin_instance *inst = ctx;
	handling = event;
	crash_report_enter(&inst->crash_site, event->id, event->seq, worker_pool_current_attempt());
	es_result r = inst->desc->handle(inst->state, event, err, err_size);
	crash_report_leave();
	handling = NULL;
	plugin_reason_repair(err, err_size);
	return r;
}

static void on_outcome(void *ctx, const es_event *event, delivery_outcome outcome, uint32_t attempts, bool timed_out,
                       const char *error)
{
	plugin_instance *inst = ctx;
	const char *name = inst->desc->name;
	if (event->watch)
		delivery_watch_record(event->watch, name, outcome, attempts, timed_out, error);
	/* The event is immutable but for its settle count (database.h). */
	database_outcome(inst->services.db, (es_event *)event, name, outcome, attempts, timed_out, error);
	switch (outcome) {
	case DELIVERY_OK:
		break;
	case DELIVERY_RETRYING:
		LOG_DEBUG(name, "event %s (%s): attempt %u failed (%s); retrying", event->id, event->name, attempts,
		          error ? error : "no reason given");
		break;
	case DELIVERY_DEAD:
		LOG_WARN(name, "event %s (%s) dead-lettered after %u attempt%s: %s%s", event->id, event->name, attempts,
		         attempts == 1 ? "" : "s", timed_out ? "timed out: " : "", error ? error : "no reason given");
		break;
	case DELIVERY_UNDELIVERED:
		break; /* counted and summarised by plugin_instance_stop() */
	}
}

/* A redelivery dead-letters `event` for this plugin instead of delivering
 * it: `reason` (the dead letter's error; the log says `subject` before it)
 * broke the rule `rule` = `limit`. */
static void dead_at_redelivery(plugin_instance *inst, es_event *event, _Atomic uint64_t *counter, const char *subject,
                               const char *reason, const char *rule, uint32_t limit, uint32_t attempts)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
	LOG_WARN(inst->desc->name, "event %s (%s) dead-lettered instead of delivered again: %s%s (%s %u)", event->id,
	         event->name, subject, reason, rule, limit);
	database_outcome(inst->services.db, event, inst->desc->name, DELIVERY_DEAD, attempts, false, reason);
}

void plugin_instance_poisoned(plugin_instance *inst, es_event *event, uint32_t crashes)
{
	char reason[64];
	snprintf(reason, sizeof reason, "crashed the plugin %u times", crashes);
	dead_at_redelivery(inst, event, &inst->poisoned, "it ", reason, "max_crashes", inst->policy.max_crashes, crashes);
}

uint64_t plugin_instance_poisoned_count(const plugin_instance *inst)
{
	return atomic_load_explicit(&inst->poisoned, memory_order_relaxed);
}

void plugin_instance_exhausted(plugin_instance *inst, es_event *event, uint32_t attempts)
{
	char reason[96];
	snprintf(reason, sizeof reason, "no attempts left: %u made before a restart", attempts);
	dead_at_redelivery(inst, event, &inst->exhausted, "", reason, "max_attempts", inst->policy.max_attempts, attempts);
}

uint64_t plugin_instance_exhausted_count(const plugin_instance *inst)
{
	return atomic_load_explicit(&inst->exhausted, memory_order_relaxed);
}

static void free_patterns(plugin_instance *inst)
{
	for (size_t i = 0; i < inst->pattern_count; i++)
		free(inst->patterns[i]);
	free(inst->patterns);
	inst->patterns = NULL;
	inst->pattern_count = 0;
}

static bool set_patterns(plugin_instance *inst, const char *const *list, size_t count, char *err, size_t err_size)
{
	inst->patterns = calloc(count ? count : 1, sizeof *inst->patterns);
	if (!inst->patterns) {
		snprintf(err, err_size, "out of memory");
		return false;
	}
	for (size_t i = 0; i < count; i++) {
		char why[200];
		if (!pattern_valid(list[i], why, sizeof why)) {
			snprintf(err, err_size, "subscription: %s", why);
			return false;
		}
		inst->patterns[i] = strdup(list[i]);
		if (!inst->patterns[i]) {
			snprintf(err, err_size, "out of memory");
			return false;
		}
		inst->pattern_count++;
	}
	return true;
}

static size_t count_null_terminated(const char *const *list)
{
	size_t n = 0;
	while (list && list[n])
		n++;
	return n;
}

/* The subscriptions an instance runs with: its settings' (or, when the
 * config gives none, the plugin's defaults), then those the database adds.
 * *list is malloc'd (NULL when out of memory); returns the count. */
static size_t combined_patterns(const es_plugin_descriptor *desc, const plugin_settings *settings,
                                const char *const *extra, size_t extra_count, const char ***list)
{
	const char *const *base = settings && settings->subscribe ? (const char *const *)settings->subscribe
	                                                           : desc->default_subscriptions;
	size_t n = settings && settings->subscribe ? settings->subscribe_count : count_null_terminated(base);
	*list = calloc(n + extra_count + 1, sizeof **list);
	if (!*list)
		return 0;
	for (size_t i = 0; i < n; i++)
		(*list)[i] = base[i];
	for (size_t i = 0; i < extra_count; i++)
		(*list)[n + i] = extra[i];
	return n + extra_count;
}

static plugin_policy effective_policy(const es_plugin_descriptor *desc, const plugin_settings *settings,
                                      const plugin_policy *defaults)
{
	plugin_policy p = settings ? settings->policy : *defaults;
	if (desc->flags & ES_PLUGIN_SERIAL)
		p.workers = 1;
	return p;
}


plugin_instance *plugin_instance_create(plugin_image *image, const plugin_settings *settings,
                                        const plugin_policy *defaults, const char *const *extra, size_t extra_count,
                                        const host_services *services, char *err, size_t err_size)
{
	plugin_instance *inst = calloc(1, sizeof *inst);
	if (!inst) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	refcount_init(&inst->refs);
	inst->ctx.instance = inst;
	plugin_image_ref(image);
	inst->image = image;
	inst->desc = plugin_image_descriptor(image);
	inst->services = *services;
	crash_file_identity(plugin_image_stat(image), inst->file_id, sizeof inst->file_id);
	inst->crash_site = (crash_site){.plugin = inst->desc->name, .file_id = inst->file_id};
	plugin_metrics_init(&inst->metrics);
	inst->policy = effective_policy(inst->desc, settings, defaults);
	if ((inst->desc->flags & ES_PLUGIN_SERIAL) && settings && settings->workers_set && settings->policy.workers > 1) {
		snprintf(err, err_size, "plugin is serial (one worker) but the config sets workers: %u",
		         settings->policy.workers);
		goto out_fail;
	}
	const char **patterns;
	size_t pattern_count = combined_patterns(inst->desc, settings, extra, extra_count, &patterns);
	bool ok = patterns && set_patterns(inst, patterns, pattern_count, err, err_size);
	if (!patterns)
		snprintf(err, err_size, "out of memory");
	free(patterns);
	if (!ok)
		goto out_fail;
	if (settings && settings->config && !(inst->config = ynode_clone(settings->config))) {
		snprintf(err, err_size, "out of memory");
		goto out_fail;
	}

	/* An asynchronous handler completes from the plugin's own threads: a
	 * child has no way to carry that (its channel answers each call), and a
	 * batch handler is another way to call the same plugin. */
	if (inst->desc->handle_async && inst->policy.isolated) {
		snprintf(err, err_size, "isolation: process is not supported for a plugin with handle_async() "
		         "(its completions come from its own threads, which a child cannot report); "
		         "run it in-process");
		goto out_fail;
	}
	if (inst->desc->handle_async && inst->desc->handle_batch) {
		snprintf(err, err_size, "the plugin sets both handle_async() and handle_batch(); use one");
		goto out_fail;
	}

	/* With a database every delivery's outcome is recorded, successes too. */
	pool_handler handler = {.handle = deliver, .on_outcome = on_outcome, .ctx = inst,
	                        .report_ok = database_running(services->db)};
	if (inst->desc->handle_batch) {
		handler.handle_batch = deliver_batch;
		handler.batch_max = inst->policy.batch_max;
		handler.batch_linger_ms = inst->policy.batch_linger_ms;
	}
	if (inst->desc->handle_async)
		handler.handle_async = deliver_async;
	if (inst->policy.isolated && !services->check_only)
		handler.handle_batch = deliver_isolated;
	inst->pool = worker_pool_create(inst->desc->name, &inst->policy, &handler);
	if (!inst->pool) {
		snprintf(err, err_size, "cannot create the worker pool");
		goto out_fail;
	}

	if (services->check_only)
		return inst; /* not initialised: neither init() nor shutdown() runs */
	if (inst->policy.isolated) {
		/* init() runs in each child; a refusal refuses the instance.  The
		 * children's calls to the host are served through the same table
		 * and context an in-process plugin gets. */
		isolated_host host = {.api = services->api, .ctx = &inst->ctx, .service_uid = geteuid(),
		                      .max_event_size = services->max_event_size, .crashes = services->crashes,
		                      .file_id = inst->file_id,
		                      .rules = {.max_crashes = inst->policy.max_crashes,
		                                .quarantine_after = inst->policy.quarantine_after,
		                                .quarantine_window_s = inst->policy.quarantine_window_s},
		                      .patterns = (const char *const *)inst->patterns,
		                      .pattern_count = inst->pattern_count, .handling = set_handling,
		                      .batch_handler = inst->desc->handle_batch != NULL};
		inst->isolated = isolated_plugin_create(&host, plugin_image_path(image), inst->desc->name, inst->desc->version,
		                                        inst->config, &inst->policy, err, err_size);
		if (!inst->isolated)
			goto out_fail;
		return inst;
	}
	LOG_INFO("host", "loading plugin %s", inst->desc->name); /* the last line before a crash in init() */
	crash_report_enter_call(&inst->crash_site, "init()");
	es_status st = inst->desc->init(&inst->ctx, services->api, &inst->state);
	crash_report_leave();
	if (st != ES_STATUS_OK) {
		snprintf(err, err_size, "init() failed with status %d (see the plugin's log lines above)", (int)st);
		goto out_fail;
	}
	inst->initialised = true;
	return inst;

out_fail:
	plugin_instance_unref(inst);
	return NULL;
}

/* reopen() and shutdown() name the plugin if they crash the daemon. */
static void call_reopen(plugin_instance *inst)
{
	crash_report_enter_call(&inst->crash_site, "reopen()");
	inst->desc->reopen(inst->state);
	crash_report_leave();
}

static void call_shutdown_now(plugin_instance *inst)
{
	crash_report_enter_call(&inst->crash_site, "shutdown()");
	inst->desc->shutdown(inst->state);
	crash_report_leave();
}

static void *shutdown_main(void *arg)
{
	plugin_instance *inst = arg;
	call_shutdown_now(inst);
	atomic_store(&inst->shutdown_returned, true);
	return NULL;
}

/* Call the plugin's shutdown() and wait for it until `deadline_us`, but at
 * least SHUTDOWN_MIN_MS.  One that overruns is left running: the plugin
 * stays loaded (its code mapped, its state untouched) and the thread is
 * joined when the instance is freed, if it returned by then. */
static void call_shutdown(plugin_instance *inst, int64_t deadline_us)
{
	int64_t min_deadline = clock_monotonic_us() + (int64_t)SHUTDOWN_MIN_MS * 1000;
	if (deadline_us < min_deadline)
		deadline_us = min_deadline;
	int rc = pthread_create(&inst->shutdown_thread, NULL, shutdown_main, inst);
	if (rc != 0) {
		LOG_WARN(inst->desc->name, "cannot start a thread for shutdown() (%s): calling it without a deadline",
		         strerror(rc));
		call_shutdown_now(inst);
		return;
	}
	int64_t left = deadline_us - clock_monotonic_us();
	struct timespec until = clock_realtime_in(left); /* see clock_realtime_in() */
	if (pthread_timedjoin_np(inst->shutdown_thread, NULL, &until) == 0)
		return;
	inst->shutdown_overran = true;
	LOG_ERROR(inst->desc->name, "shutdown() did not return before the shutdown deadline; "
	          "left running, the plugin stays loaded");
}

int plugin_instance_start(plugin_instance *inst)
{
	if (worker_pool_start(inst->pool) != 0)
		return -1;
	inst->started = true;
	if (inst->isolated && isolated_plugin_start(inst->isolated) != 0)
		return -1;
	return 0;
}

/* Stop `inst` (see plugin_instance_stop()), or retire it for a reload
 * (`retiring`; see plugin_instance_retire()): then a handler call still
 * running at the deadline is waited for until its own deadline, and its
 * outcome is what it returned, so that the instance can be shut down and
 * unloaded rather than kept for a thread that was not stuck. */
static uint64_t stop_instance(plugin_instance *inst, int64_t deadline_us, bool retiring, plugin_instance *successor,
                              int64_t room_wait_us, uint64_t *handed_over)
{
	if (inst->stopped)
		return 0;
	inst->stopped = true;
	refusal_summary_flush(&inst->queue_full, inst->desc->name);
	uint64_t handed = 0;
	worker_pool *heir = successor && successor->started && !successor->stopped ? successor->pool : NULL;
	uint64_t undelivered = 0;
	if (inst->started)
		undelivered = retiring ? worker_pool_stop_handing_over(inst->pool, deadline_us, heir, room_wait_us, &handed)
		                       : worker_pool_stop(inst->pool, deadline_us);
	if (handed)
		LOG_INFO(inst->desc->name, "%llu event%s not started before the shutdown deadline handed to the new instance",
		         (unsigned long long)handed, handed == 1 ? "" : "s");
	if (handed_over)
		*handed_over = handed;
	if (inst->isolated && isolated_plugin_stop(inst->isolated, deadline_us) > 0 && inst->started) {
		/* shutdown() ran in each child.  A worker still held a child past
		 * the deadline: that child was killed, so the worker's wait ends
		 * at once; give it a moment to return before counting it stuck. */
		int64_t until = clock_monotonic_us() + 1000000;
		while (worker_pool_stuck(inst->pool) > 0 && clock_monotonic_us() < until) {
			struct timespec ts = {.tv_sec = 0, .tv_nsec = 5000000};
			nanosleep(&ts, NULL);
		}
	}
	uint32_t stuck = inst->started ? worker_pool_stuck(inst->pool) : 0;
	if (undelivered)
		LOG_WARN(inst->desc->name, "%llu event%s not delivered before the shutdown deadline",
		         (unsigned long long)undelivered, undelivered == 1 ? "" : "s");
	if (stuck) {
		LOG_ERROR(inst->desc->name,
		          "%u worker%s still inside handle(); not calling shutdown() and keeping the plugin loaded", stuck,
		          stuck == 1 ? " is" : "s are");
		return undelivered;
	}
	if (inst->initialised && inst->desc->shutdown)
		call_shutdown(inst, deadline_us);
	inst->initialised = false;
	return undelivered;
}

uint64_t plugin_instance_stop(plugin_instance *inst, int64_t deadline_us)
{
	return stop_instance(inst, deadline_us, false, NULL, 0, NULL);
}

uint64_t plugin_instance_retire(plugin_instance *inst, int64_t deadline_us, plugin_instance *successor,
                                int64_t room_wait_us, uint64_t *handed_over)
{
	return stop_instance(inst, deadline_us, true, successor, room_wait_us, handed_over);
}

void plugin_instance_reopen(plugin_instance *inst)
{
	if (inst->isolated && inst->started && inst->desc->reopen) {
		/* Paused, every child is idle but one held by a stuck worker
		 * (killed at its deadline and restarted later: it needs no
		 * reopen()). */
		int64_t deadline = clock_monotonic_us() + (int64_t)inst->policy.timeout_ms * 1000 + 100000;
		worker_pool_pause(inst->pool, deadline);
		isolated_plugin_reopen(inst->isolated, clock_monotonic_us() + (int64_t)inst->policy.timeout_ms * 1000);
		worker_pool_resume(inst->pool);
		return;
	}
	if (!inst->initialised || !inst->desc->reopen)
		return;
	if (!inst->started) {
		call_reopen(inst);
		return;
	}
	/* A running handler ends within the deadline or is abandoned (stuck):
	 * either way the wait is bounded by it. */
	int64_t deadline = clock_monotonic_us() + (int64_t)inst->policy.timeout_ms * 1000 + 100000;
	uint32_t inside = worker_pool_pause(inst->pool, deadline);
	if (inside == 0)
		call_reopen(inst);
	else
		LOG_WARN(inst->desc->name, "reopen() skipped: %u handler%s still running past the %u ms deadline", inside,
		         inside == 1 ? "" : "s", inst->policy.timeout_ms);
	worker_pool_resume(inst->pool);
}

bool plugin_instance_same_settings(const plugin_instance *inst, const plugin_settings *settings,
                                   const plugin_policy *defaults, const char *const *extra,
                                   size_t extra_count)
{
	plugin_policy p = effective_policy(inst->desc, settings, defaults);
	const plugin_policy *q = &inst->policy;
	if (p.workers != q->workers || p.queue_size != q->queue_size || p.timeout_ms != q->timeout_ms ||
	    p.max_attempts != q->max_attempts || p.backoff_initial_ms != q->backoff_initial_ms ||
	    p.backoff_max_ms != q->backoff_max_ms || p.backoff_multiplier != q->backoff_multiplier ||
	    p.max_stuck_workers != q->max_stuck_workers || p.max_crashes != q->max_crashes ||
	    p.quarantine_after != q->quarantine_after || p.quarantine_window_s != q->quarantine_window_s ||
	    p.isolated != q->isolated || p.memory_limit_mb != q->memory_limit_mb ||
	    p.open_files_limit != q->open_files_limit || p.batch_max != q->batch_max ||
	    p.batch_linger_ms != q->batch_linger_ms || p.wakeup_coalesce_us != q->wakeup_coalesce_us)
		return false;
	const char **patterns;
	size_t n = combined_patterns(inst->desc, settings, extra, extra_count, &patterns);
	bool same = patterns && n == inst->pattern_count;
	for (size_t i = 0; same && i < n; i++)
		same = strcmp(patterns[i], inst->patterns[i]) == 0;
	free(patterns);
	return same && ynode_equal(settings ? settings->config : NULL, inst->config);
}

void plugin_instance_ref(plugin_instance *inst)
{
	refcount_get(&inst->refs);
}

void plugin_instance_unref(plugin_instance *inst)
{
	if (!inst || !refcount_put(&inst->refs))
		return;
	if (inst->initialised && !inst->started && inst->desc->shutdown)
		call_shutdown_now(inst); /* created but never started (check-config, failed start) */
	if (inst->isolated && !inst->stopped)
		isolated_plugin_stop(inst->isolated, clock_monotonic_us()); /* created, never run */
	if (inst->shutdown_overran) {
		if (!atomic_load(&inst->shutdown_returned)) {
			LOG_ERROR(inst->desc->name, "not unloading: its shutdown() is still running");
			return;
		}
		pthread_join(inst->shutdown_thread, NULL);
	}
	if (inst->pool && worker_pool_destroy(inst->pool) != 0) {
		/* A thread is still inside the plugin: leave pool, instance and
		 * image alive for it rather than unmap code it is running. */
		LOG_ERROR(inst->desc->name, "not unloading: a worker is still inside the plugin");
		return;
	}
	plugin_instance_flush_emits_refused(inst); /* nothing of the plugin runs any more */
	isolated_plugin_free(inst->isolated);
	free_patterns(inst);
	ynode_free(inst->config);
	plugin_metrics_destroy(&inst->metrics);
	plugin_image_unref(inst->image);
	free(inst);
}

bool plugin_instance_matches(const plugin_instance *inst, const char *event_name)
{
	for (size_t i = 0; i < inst->pattern_count; i++)
		if (pattern_match(inst->patterns[i], event_name))
			return true;
	return false;
}

worker_pool *plugin_instance_pool(const plugin_instance *inst)
{
	return inst->pool;
}

void plugin_instance_note_queue_full(plugin_instance *inst, const es_event *event)
{
	refusal_summary_note(&inst->queue_full, inst->desc->name, event->id, event->name);
}

void plugin_instance_note_accepted(plugin_instance *inst)
{
	refusal_summary_accepted(&inst->queue_full, inst->desc->name);
}

/* How many refused emits are logged in full per EMIT_LOG_WINDOW_US; the
 * rest of the window is counted and written as one line when the next
 * window starts, or at flush. */
#define EMIT_LOG_BURST 10
#define EMIT_LOG_WINDOW_US ((int64_t)REFUSAL_SUMMARY_INTERVAL_S * 1000000)

/* A new window: the winner writes what the last one counted. */
static void emit_window_roll(plugin_instance *inst, int64_t now)
{
	emit_refusal_log *l = &inst->emits_refused;
	int64_t start = atomic_load(&l->window_start_us);
	if (now - start < EMIT_LOG_WINDOW_US || !atomic_compare_exchange_strong(&l->window_start_us, &start, now))
		return;
	atomic_store(&l->window_logged, 0);
	uint64_t n = atomic_exchange(&l->unwritten, 0);
	if (n)
		LOG_WARN(inst->desc->name, "%llu more emits refused in the last %.1f s (beyond the first %d logged)",
		         (unsigned long long)n, (double)(now - start) / 1e6, EMIT_LOG_BURST);
}

void plugin_instance_note_emit_refused(plugin_instance *inst, const char *name, const char *why)
{
	emit_refusal_log *l = &inst->emits_refused;
	emit_window_roll(inst, clock_monotonic_us());
	uint32_t logged = atomic_fetch_add(&l->window_logged, 1);
	if (logged < EMIT_LOG_BURST)
		LOG_WARN(inst->desc->name, "emit of '%s' refused: %s%s", name, why,
		         logged + 1 == EMIT_LOG_BURST ? " (further refused emits until the next window are counted in one line)"
		                                      : "");
	else
		atomic_fetch_add(&l->unwritten, 1);
}

void plugin_instance_flush_emits_refused(plugin_instance *inst)
{
	uint64_t n = atomic_exchange(&inst->emits_refused.unwritten, 0);
	if (n)
		LOG_WARN(inst->desc->name, "%llu more emits refused since the last line", (unsigned long long)n);
}

const char *plugin_instance_name(const plugin_instance *inst)
{
	return inst->desc->name;
}

const char *plugin_instance_file_id(const plugin_instance *inst)
{
	return inst->file_id;
}

const plugin_image *plugin_instance_image(const plugin_instance *inst)
{
	return inst->image;
}

const plugin_policy *plugin_instance_policy(const plugin_instance *inst)
{
	return &inst->policy;
}

size_t plugin_instance_subscriptions(const plugin_instance *inst, const char *const **patterns)
{
	*patterns = (const char *const *)inst->patterns;
	return inst->pattern_count;
}

bool plugin_instance_isolation(plugin_instance *inst, isolated_status *out)
{
	if (!inst->isolated) {
		memset(out, 0, sizeof *out);
		return false;
	}
	isolated_plugin_status(inst->isolated, out);
	return true;
}

size_t plugin_instance_counters(plugin_instance *inst, const plugin_counter **counters)
{
	return plugin_metrics_list(&inst->metrics, counters);
}

plugin_metrics *plugin_instance_metrics(plugin_instance *inst)
{
	return &inst->metrics;
}

/* ---- used by host_api.c ---- */

const es_event *plugin_instance_handling(void)
{
	return handling;
}

const ynode *plugin_instance_config(const plugin_instance *inst)
{
	return inst->config;
}

const host_services *plugin_instance_services(const plugin_instance *inst)
{
	return &inst->services;
}

