/*
 * Reloads: see reload.h and docs/operations.md.
 */
#include "config.h"

#include "control/reload.h"

#include "db/database.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model/es_event.h"
#include "util/log.h"
#include "core/plugin_instance.h"
#include "core/plugin_registry.h"
#include "util/systemd_notify.h"

/* How long a reload waits for requests still routed by the old table. */
#define OLD_TABLE_WAIT_US 5000000
/* Beyond a wait's own deadline, what the watchdog allows for the work
 * around it (a log line, a dlclose) before the pings stop. */
#define WATCHDOG_SLACK_US 1000000

struct reload_state {
	es_daemon *daemon;
	struct event *run; /* activated by requests; runs on the main loop */
	pthread_mutex_t lock;   /* guards the fields below */
	char pending_by[160];   /* who asked since the last run */
	uint64_t running_upto;  /* requests the current run serves */
	reload_report report;
};

static void append(char *buf, size_t size, const char *sep, const char *text)
{
	size_t len = strlen(buf);
	if (len + strlen(sep) + strlen(text) + 1 < size)
		snprintf(buf + len, size - len, "%s%s", len ? sep : "", text);
}

/* Keys whose change a reload applies, or cannot apply without a restart:
 * the config's keys come from its table (es_config_describe_changes()); the
 * database's subscription rows are not keys of the file. */
static void describe_key_changes(const es_config *a, const es_config *b, char *changed, size_t changed_size,
                                 char *restart, size_t restart_size)
{
	es_config_describe_changes(a, b, changed, changed_size, restart, restart_size);
	bool rows_differ = a->db_subscription_count != b->db_subscription_count;
	for (size_t i = 0; i < a->db_subscription_count && !rows_differ; i++)
		rows_differ = strcmp(a->db_subscriptions[i].plugin, b->db_subscriptions[i].plugin) != 0 ||
		              strcmp(a->db_subscriptions[i].pattern, b->db_subscriptions[i].pattern) != 0;
	if (rows_differ)
		append(changed, changed_size, ", ", "event_subscriptions (database)");
}

/* Wait (bounded) until no request still routes through `old`. */
static void wait_unused(routing_table *old)
{
	int64_t until = clock_monotonic_us() + OLD_TABLE_WAIT_US;
	while (routing_table_users(old) > 0 && clock_monotonic_us() < until) {
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	if (routing_table_users(old) > 0)
		LOG_WARN("reload", "requests still use the previous routing table after %d s; going on",
		         OLD_TABLE_WAIT_US / 1000000);
}

/* A reload that failed after starting the instances of `next` that are not
 * in `current`: stop those (the others are the running ones). */
static void stop_new_instances(const plugin_registry *current, plugin_registry *next, const es_config *config)
{
	int64_t deadline = clock_monotonic_us() + (int64_t)config->shutdown_timeout_ms * 1000;
	plugin_instance *const *list = plugin_registry_instances(next);
	for (size_t i = 0; i < plugin_registry_count(next); i++)
		if (!plugin_registry_contains(current, list[i]))
			plugin_instance_stop(list[i], deadline);
}

/* The instance of `next` that replaces `inst` (the same plugin, by name;
 * not `inst` itself), or NULL when the plugin was removed. */
static plugin_instance *successor_of(const plugin_registry *next, const plugin_instance *inst)
{
	plugin_instance *const *list = plugin_registry_instances(next);
	for (size_t i = 0; i < plugin_registry_count(next); i++)
		if (list[i] != inst && strcmp(plugin_instance_name(list[i]), plugin_instance_name(inst)) == 0)
			return list[i];
	return NULL;
}

static void finish(struct reload_state *rs, const char *by, bool ok, int64_t t0, const char *error,
                   const char *changes)
{
	es_daemon *d = rs->daemon;
	double ms = (double)(clock_monotonic_us() - t0) / 1000.0;
	pthread_mutex_lock(&rs->lock);
	reload_report *r = &rs->report;
	r->completed++;
	r->served = rs->running_upto;
	if (!ok)
		r->failures++;
	r->generation = d->generation;
	r->last_ok = ok;
	r->last_time_us = clock_realtime_us();
	r->last_duration_ms = ms;
	snprintf(r->last_by, sizeof r->last_by, "%s", by);
	snprintf(r->last_error, sizeof r->last_error, "%s", ok ? "" : error);
	snprintf(r->last_changes, sizeof r->last_changes, "%s", changes);
	pthread_mutex_unlock(&rs->lock);
	char detail[1200];
	if (ok) {
		snprintf(detail, sizeof detail, "ok, generation %llu, %.1f ms; %s", (unsigned long long)d->generation, ms,
		         changes[0] ? changes : "nothing changed");
		LOG_INFO("audit", "reload by %s: %s", by, detail);
	} else {
		snprintf(detail, sizeof detail, "failed after %.1f ms, generation %llu kept: %s", ms,
		         (unsigned long long)d->generation, error);
		LOG_ERROR("audit", "reload by %s: %s", by, detail);
	}
	database_audit(d->db, by, ok ? "reload.ok" : "reload.failed", detail);
	char status[300];
	snprintf(status, sizeof status, "generation %llu; last reload %s", (unsigned long long)d->generation,
	         ok ? "ok" : "failed");
	systemd_notify_ready(status);
}

/* Read the config file as a reload would: the config, or NULL with every
 * error as `file:line:column: message` joined in `error` (logged when
 * `log` is set). */
static es_config *load_config_file(const es_daemon *d, bool log, char *error, size_t error_size)
{
	config_errors errs;
	es_config *config = es_config_load(d->config_path, NULL, &errs);
	if (config)
		return config;
	if (log)
		config_errors_report(&errs, d->config_path, NULL);
	for (size_t i = 0; i < errs.count; i++) {
		char one[400];
		if (errs.items[i].line)
			snprintf(one, sizeof one, "%s:%u:%u: %s", d->config_path, errs.items[i].line, errs.items[i].column,
			         errs.items[i].message);
		else
			snprintf(one, sizeof one, "%s: %s", d->config_path, errs.items[i].message);
		append(error, error_size, "; ", one);
	}
	return NULL;
}

int reload_check_config_file(es_daemon *d, char *error, size_t error_size)
{
	error[0] = '\0';
	es_config *config = load_config_file(d, false, error, error_size);
	if (!config)
		return -1;
	es_config_unref(config);
	return 0;
}

static void perform(struct reload_state *rs, const char *by)
{
	es_daemon *d = rs->daemon;
	int64_t t0 = clock_monotonic_us();
	systemd_notify_reloading();
	LOG_INFO("reload", "reload requested by %s: reading %s", by, d->config_path);

	char error[1024] = "";
	es_config *next_config = load_config_file(d, true, error, sizeof error);
	if (!next_config) {
		finish(rs, by, false, t0, error, "");
		return;
	}
	if (d->plugin_dir_override) {
		free(next_config->plugin_dir);
		next_config->plugin_dir = strdup(d->plugin_dir_override);
	}
	/* A reload never weakens authentication by accident (an empty or cut
	 * file has no auth: section). */
	if (es_config_check_reload_auth(d->config, next_config, d->served_host, error, sizeof error) != 0) {
		es_config_unref(next_config);
		finish(rs, by, false, t0, error, "");
		return;
	}
	/* The database's subscriptions are part of the config being loaded. */
	if (database_read_subscriptions(d->db, next_config, d->config, error, sizeof error) != 0) {
		LOG_ERROR("reload", "%s", error);
		es_config_unref(next_config);
		finish(rs, by, false, t0, error, "");
		return;
	}

	char keys[512] = "", restart[256] = "";
	describe_key_changes(d->config, next_config, keys, sizeof keys, restart, sizeof restart);
	/* event.max_event_size sized what cannot change under a running daemon:
	 * libevent's body limit and the read-ahead of every HTTP thread, the
	 * emit limit of kept plugins, the frame limit of isolated plugins'
	 * children.  Half of them changed live would refuse (or kill a child
	 * on) an event the other half accepted, so the running daemon keeps
	 * the value it started with everywhere, and the report says so. */
	next_config->max_event_size = d->config->max_event_size;

	host_services services = d->services;
	services.max_event_size = next_config->max_event_size;
	plugin_registry *next = plugin_registry_new();
	registry_changes changes;
	if (!next) {
		es_config_unref(next_config);
		finish(rs, by, false, t0, "out of memory", "");
		return;
	}
	if (plugin_registry_rebuild(d->registry, next_config, &services, geteuid(), next, &changes, error,
	                            sizeof error) != 0 ||
	    plugin_registry_start_new(d->registry, next, error, sizeof error) != 0) {
		plugin_registry_free(next);
		es_config_unref(next_config);
		finish(rs, by, false, t0, error, "");
		return;
	}
	routing_table *table = routing_table_build(plugin_registry_instances(next), plugin_registry_count(next),
	                                           d->generation + 1, next_config);
	if (!table) {
		plugin_registry_stop(next, clock_monotonic_us());
		plugin_registry_free(next);
		es_config_unref(next_config);
		finish(rs, by, false, t0, "out of memory building the routing table", "");
		return;
	}

	/* JetStream: the consumers of plugins added or replaced exist with
	 * their new settings before any node routes to them by this table; if
	 * JetStream cannot do it, nothing changes. */
	if (js_consumers_prepare(d->consumers, plugin_registry_instances(next), plugin_registry_count(next), error,
	                         sizeof error) != 0) {
		routing_table_unref(table);
		stop_new_instances(d->registry, next, next_config);
		plugin_registry_free(next);
		es_config_unref(next_config);
		finish(rs, by, false, t0, error, "");
		return;
	}

	/* The switch: from here on every new event is routed by the new table. */
	routing_table *old = router_exchange(d->router, table);
	d->generation++;
	d->services = services;
	log_configure(next_config->log_level, next_config->log_format);
	/* The waits below are bounded, each by its own deadline: the watchdog
	 * pings go on through them (util/systemd_notify.h). */
	systemd_watchdog_busy_until(clock_monotonic_us() + OLD_TABLE_WAIT_US + WATCHDOG_SLACK_US);
	wait_unused(old);
	routing_table_unref(old);
	/* JetStream: pull for the new instances (their consumers are ready),
	 * stop pulling for the retired */
	js_consumers_follow(d->consumers, table);

	/* Instances that left drain their queues until the deadline (a handler
	 * running then until its own deadline), stop and unload.  What a
	 * replaced one has not started by then is handed to
	 * its successor (the new instance of the same plugin), which owns it
	 * from then on: a reload loses nothing accepted unless the plugin was
	 * removed (or its new queue is full), and that is counted here. */
	int64_t deadline = clock_monotonic_us() + (int64_t)next_config->shutdown_timeout_ms * 1000;
	systemd_watchdog_busy_until(deadline + WATCHDOG_SLACK_US);
	plugin_instance *const *running = plugin_registry_instances(d->registry);
	uint64_t lost = 0, handed = 0;
	for (size_t i = 0; i < plugin_registry_count(d->registry); i++) {
		plugin_instance *inst = running[i];
		if (plugin_registry_contains(next, inst))
			continue;
		plugin_instance *successor = successor_of(next, inst);
		/* a handler running at the deadline is waited for until its own
		 * (plugin_instance_retire()): timeout_ms at most from now */
		int64_t handler_wait_us = (int64_t)plugin_instance_policy(inst)->timeout_ms * 1000;
		int64_t now = clock_monotonic_us();
		/* then the hand-over may wait as long again for room in the
		 * new queue (worker_pool_stop_handing_over()) */
		int64_t room_wait_us = (int64_t)next_config->shutdown_timeout_ms * 1000;
		systemd_watchdog_busy_until((deadline > now ? deadline : now) + handler_wait_us + room_wait_us +
		                            WATCHDOG_SLACK_US);
		uint64_t handed_now = 0;
		uint64_t undelivered = plugin_instance_retire(inst, deadline, successor, room_wait_us, &handed_now);
		handed += handed_now;
		lost += undelivered;
		if (undelivered)
			LOG_WARN("reload", "plugin '%s' (%s) retired with %llu undelivered event%s (%s)",
			         plugin_instance_name(inst), plugin_image_path(plugin_instance_image(inst)),
			         (unsigned long long)undelivered, undelivered == 1 ? "" : "s",
			         successor ? "not handed to its new instance: no room there, or its stream redelivers them"
			                   : "it was removed from the config");
		else
			LOG_INFO("reload", "plugin '%s' (%s) retired", plugin_instance_name(inst),
			         plugin_image_path(plugin_instance_image(inst)));
	}
	pthread_mutex_lock(&rs->lock);
	rs->report.undelivered += lost;
	rs->report.handed_over += handed;
	pthread_mutex_unlock(&rs->lock);
	plugin_instance *const *staying = plugin_registry_instances(next);
	for (size_t i = 0; i < plugin_registry_count(next); i++)
		if (plugin_registry_contains(d->registry, staying[i])) {
			/* at most timeout_ms for the pause and again for an isolated
			 * plugin's children (plugin_instance_reopen()) */
			int64_t timeout_us = (int64_t)plugin_instance_policy(staying[i])->timeout_ms * 1000;
			systemd_watchdog_busy_until(clock_monotonic_us() + 2 * timeout_us + WATCHDOG_SLACK_US);
			plugin_instance_reopen(staying[i]);
		}
	systemd_watchdog_busy_until(0);
	plugin_registry_free(d->registry);
	d->registry = next;
	atomic_store(&d->plugins_refused, plugin_registry_refused_count(d->registry));
	es_config_unref(d->config);
	d->config = next_config;

	char summary[1024] = "";
	char part[600];
	if (changes.added[0]) {
		snprintf(part, sizeof part, "plugins added: %s", changes.added);
		append(summary, sizeof summary, "; ", part);
	}
	if (changes.removed[0]) {
		snprintf(part, sizeof part, "plugins removed: %s", changes.removed);
		append(summary, sizeof summary, "; ", part);
	}
	if (changes.replaced[0]) {
		snprintf(part, sizeof part, "plugins replaced: %s", changes.replaced);
		append(summary, sizeof summary, "; ", part);
	}
	if (keys[0]) {
		snprintf(part, sizeof part, "keys changed: %s", keys);
		append(summary, sizeof summary, "; ", part);
	}
	if (next_config->db_subscriptions_state == DB_SUBSCRIPTIONS_PREVIOUS)
		append(summary, sizeof summary, "; ", "event_subscriptions not readable: kept the rows read before");
	if (restart[0]) {
		LOG_WARN("reload", "%s changed but needs a restart to take effect; still serving the previous values",
		         restart);
		snprintf(part, sizeof part, "needs a restart: %s", restart);
		append(summary, sizeof summary, "; ", part);
	}
	finish(rs, by, true, t0, "", summary);
}

static void on_run(evutil_socket_t fd, short what, void *arg)
{
	struct reload_state *rs = arg;
	char by[160];
	pthread_mutex_lock(&rs->lock);
	snprintf(by, sizeof by, "%s", rs->pending_by[0] ? rs->pending_by : "unknown");
	rs->pending_by[0] = '\0';
	rs->running_upto = rs->report.requests;
	pthread_mutex_unlock(&rs->lock);
	if (atomic_load(&rs->daemon->stopping))
		return;
	perform(rs, by);
}

int reload_init(es_daemon *d, struct event_base *base)
{
	struct reload_state *rs = calloc(1, sizeof *rs);
	if (!rs)
		return -1;
	rs->daemon = d;
	rs->run = event_new(base, -1, 0, on_run, rs);
	if (!rs->run) {
		free(rs);
		return -1;
	}
	pthread_mutex_init(&rs->lock, NULL);
	rs->report.generation = d->generation;
	d->reload = rs;
	return 0;
}

void reload_free(es_daemon *d)
{
	struct reload_state *rs = d->reload;
	if (!rs)
		return;
	event_free(rs->run);
	pthread_mutex_destroy(&rs->lock);
	free(rs);
	d->reload = NULL;
}

uint64_t reload_request(es_daemon *d, const char *who)
{
	struct reload_state *rs = d->reload;
	pthread_mutex_lock(&rs->lock);
	uint64_t number = ++rs->report.requests;
	/* Requests before the run starts coalesce: one reload, all names. */
	if (!strstr(rs->pending_by, who))
		append(rs->pending_by, sizeof rs->pending_by, ", ", who);
	event_active(rs->run, EV_READ, 0); /* thread-safe; repeated activations run once */
	pthread_mutex_unlock(&rs->lock);
	return number;
}

void reload_report_get(es_daemon *d, reload_report *out)
{
	struct reload_state *rs = d->reload;
	pthread_mutex_lock(&rs->lock);
	*out = rs->report;
	pthread_mutex_unlock(&rs->lock);
}
