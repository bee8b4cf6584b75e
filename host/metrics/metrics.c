/*
 * The Prometheus endpoint and the exposition: see metrics.h.
 */
#include "config.h"

#include "metrics/metrics.h"
#include "util/prom_text.h"

#include "db/database.h"
#include "core/js_consumers.h"
#include "core/js_link.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event-system/plugin.h>

#include "http/connection_guard.h"
#include "http/http_api.h"
#include "http/http_loop.h"
#include "util/log.h"
#include "core/crash_ledger.h"
#include "core/plugin_instance.h"
#include "control/reload.h"
#include "http/waiter_limit.h"
#include "core/router.h"

/* plugin="<name>": names are at most 64 characters, escaped at most twice that. */
#define PLUGIN_LABEL_SIZE 144

/* The largest request head a scrape may send. */
#define METRICS_MAX_HEAD 16384

struct metrics_server {
	es_daemon *daemon;
	http_loop loop;          /* its base, evhttp and thread */
	connection_guard *guard; /* backs off a failing accept(), cuts slow requests */
};

/* ---- process_* from /proc/self ---- */

static void render_process(struct evbuffer *out, int64_t started_us)
{
	long ticks = sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	unsigned long utime = 0, stime = 0, vsize = 0;
	long rss = 0, threads = 0;
	FILE *f = fopen("/proc/self/stat", "r");
	if (f) {
		char buf[1024];
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = '\0';
		fclose(f);
		const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
		if (p)
			sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %ld %*d %*u %lu %ld",
			       &utime, &stime, &threads, &vsize, &rss);
	}
	int fds = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				fds++;
		closedir(d);
		fds--; /* the one opendir used */
	}
	struct rlimit rl = {0};
	getrlimit(RLIMIT_NOFILE, &rl);
	prom_text_header(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
	evbuffer_add_printf(out, "process_cpu_seconds_total %.2f\n", (double)(utime + stime) / (double)ticks);
	prom_text_header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	evbuffer_add_printf(out, "process_resident_memory_bytes %ld\n", rss * page);
	prom_text_header(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
	evbuffer_add_printf(out, "process_virtual_memory_bytes %lu\n", vsize);
	prom_text_header(out, "process_open_fds", "gauge", "Number of open file descriptors.");
	evbuffer_add_printf(out, "process_open_fds %d\n", fds);
	prom_text_header(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
	evbuffer_add_printf(out, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	prom_text_header(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
	evbuffer_add_printf(out, "process_start_time_seconds %.3f\n", (double)started_us / 1e6);
	prom_text_header(out, "process_threads", "gauge", "Number of OS threads in the process.");
	evbuffer_add_printf(out, "process_threads %ld\n", threads);
}

/* ---- plugins ---- */

typedef uint64_t (*stat_field)(const pool_stats *s);
#define FIELD(name) \
	static uint64_t field_##name(const pool_stats *s) { return s->name; }
FIELD(received)
FIELD(ok)
FIELD(retried)
FIELD(dead)
FIELD(timed_out)
FIELD(refused)
FIELD(undelivered)
FIELD(depth)
FIELD(capacity)
FIELD(workers)
FIELD(busy)
FIELD(stuck)
FIELD(async_outstanding)
FIELD(async_expired_open)
FIELD(async_late)
FIELD(async_twice)
#undef FIELD

/* One histogram family with a series per plugin of the table. */
static void render_plugin_histograms(struct evbuffer *out, routing_table *t, const char *name, const char *help,
                                     histogram *(*which)(worker_pool *pool))
{
	prom_text_header(out, name, "histogram", help);
	for (size_t i = 0; i < routing_table_size(t); i++) {
		plugin_instance *inst = routing_table_instance(t, i);
		char label[PLUGIN_LABEL_SIZE];
		prom_text_label(label, sizeof label, "plugin", plugin_instance_name(inst));
		prom_text_histogram(out, name, label, which(plugin_instance_pool(inst)));
	}
}

/* What plugins define with counter_add() and gauge_set(): one family each,
 * the plugin's own name in the `name` label (checked: [a-z][a-z0-9_]*). */
static void render_plugin_defined(struct evbuffer *out, routing_table *t)
{
	static const struct {
		const char *name, *type, *help;
		bool gauge;
	} kinds[] = {
		{"eventsys_plugin_custom_total", "counter", "Counters a plugin defines (counter_add), by name.", false},
		{"eventsys_plugin_custom_value", "gauge", "Gauges a plugin defines (gauge_set), by name.", true},
	};
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		prom_text_header(out, kinds[k].name, kinds[k].type, kinds[k].help);
		for (size_t i = 0; i < routing_table_size(t); i++) {
			plugin_instance *inst = routing_table_instance(t, i);
			const plugin_counter *items;
			size_t n = plugin_instance_counters(inst, &items);
			for (size_t j = 0; j < n; j++) {
				if (items[j].gauge != kinds[k].gauge)
					continue;
				uint64_t v = atomic_load_explicit(&items[j].value, memory_order_relaxed);
				if (items[j].gauge)
					evbuffer_add_printf(out, "%s{plugin=\"%s\",name=\"%s\"} %lld\n", kinds[k].name,
					                    plugin_instance_name(inst), items[j].name, (long long)(int64_t)v);
				else
					evbuffer_add_printf(out, "%s{plugin=\"%s\",name=\"%s\"} %llu\n", kinds[k].name,
					                    plugin_instance_name(inst), items[j].name, (unsigned long long)v);
			}
		}
	}
	prom_text_header(out, "eventsys_plugin_metric_refused_total", "counter",
	                 "Updates of plugin-defined metrics refused: an invalid name, or past the limit of 32 per plugin.");
	for (size_t i = 0; i < routing_table_size(t); i++) {
		plugin_instance *inst = routing_table_instance(t, i);
		evbuffer_add_printf(out, "eventsys_plugin_metric_refused_total{plugin=\"%s\"} %llu\n",
		                    plugin_instance_name(inst),
		                    (unsigned long long)plugin_metrics_refused(plugin_instance_metrics(inst)));
	}
}

/* Isolated plugins (`isolation: process`): one series per plugin, the
 * in-process ones with isolated="0" and zeros, so a dashboard needs no
 * special case.  Child pids are not labels (they change): /api/plugins has them. */
static void render_isolation(struct evbuffer *out, routing_table *t)
{
	size_t n = routing_table_size(t);
	isolated_status *st = calloc(n ? n : 1, sizeof *st);
	bool *isolated = calloc(n ? n : 1, sizeof *isolated);
	if (!st || !isolated) {
		free(st);
		free(isolated);
		return;
	}
	char (*labels)[PLUGIN_LABEL_SIZE] = calloc(n ? n : 1, sizeof *labels);
	if (!labels) {
		free(st);
		free(isolated);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		plugin_instance *inst = routing_table_instance(t, i);
		isolated[i] = plugin_instance_isolation(inst, &st[i]);
		prom_text_label(labels[i], sizeof labels[i], "plugin", plugin_instance_name(inst));
	}
	prom_text_header(out, "eventsys_plugin_isolated", "gauge", "1 when the plugin runs in child processes (isolation: process).");
	for (size_t i = 0; i < n; i++)
		evbuffer_add_printf(out, "eventsys_plugin_isolated{%s} %d\n", labels[i], isolated[i] ? 1 : 0);
	static const struct {
		const char *name, *type, *help;
	} series[] = {
		{"eventsys_plugin_processes", "gauge", "Child processes of an isolated plugin running now."},
		{"eventsys_plugin_process_restarts_total", "counter", "Child processes started again after one ended."},
		{"eventsys_plugin_process_deaths_total", "counter", "Child processes that ended unasked (crash, deadline, memory)."},
		{"eventsys_plugin_process_memory_kills_total", "counter", "Child processes killed over memory_limit_mb."},
		{"eventsys_plugin_process_deadline_kills_total", "counter", "Child processes killed because handle() overran its deadline."},
	};
	for (size_t k = 0; k < sizeof series / sizeof series[0]; k++) {
		prom_text_header(out, series[k].name, series[k].type, series[k].help);
		for (size_t i = 0; i < n; i++) {
			uint64_t v = k == 0 ? st[i].children : k == 1 ? st[i].restarts : k == 2 ? st[i].deaths
			           : k == 3 ? st[i].memory_kills : st[i].deadline_kills;
			evbuffer_add_printf(out, "%s{%s} %llu\n", series[k].name, labels[i], (unsigned long long)v);
		}
	}
	free(labels);
	free(st);
	free(isolated);
}

static void render_plugins(struct evbuffer *out, routing_table *t)
{
	size_t n = routing_table_size(t);
	pool_stats *stats = calloc(n ? n : 1, sizeof *stats);
	char (*labels)[PLUGIN_LABEL_SIZE] = calloc(n ? n : 1, sizeof *labels);
	if (!stats || !labels) {
		free(stats);
		free(labels);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		plugin_instance *inst = routing_table_instance(t, i);
		worker_pool_stats(plugin_instance_pool(inst), &stats[i]);
		prom_text_label(labels[i], sizeof labels[i], "plugin", plugin_instance_name(inst));
	}

	static const struct {
		const char *name, *type, *help;
		stat_field field;
	} series[] = {
		{"eventsys_plugin_received_total", "counter", "Events queued for the plugin.", field_received},
		{"eventsys_plugin_ok_total", "counter", "Deliveries the plugin handled successfully.", field_ok},
		{"eventsys_plugin_retried_total", "counter", "Retries scheduled after a failed or timed-out attempt.", field_retried},
		{"eventsys_plugin_dead_lettered_total", "counter", "Deliveries that failed for good (dead letters).", field_dead},
		{"eventsys_plugin_timed_out_total", "counter", "Attempts that overran the plugin's deadline.", field_timed_out},
		{"eventsys_plugin_refused_total", "counter", "Events refused because the plugin's queue was full.", field_refused},
		{"eventsys_plugin_undelivered_total", "counter", "Deliveries dropped at a stop deadline (counted, logged).", field_undelivered},
		{"eventsys_plugin_queue_depth", "gauge", "Deliveries held: queued, running or waiting to retry.", field_depth},
		{"eventsys_plugin_queue_capacity", "gauge", "The plugin's queue capacity.", field_capacity},
		{"eventsys_plugin_workers", "gauge", "Live worker threads (not stuck).", field_workers},
		{"eventsys_plugin_workers_busy", "gauge", "Workers running a handler now.", field_busy},
		{"eventsys_plugin_workers_stuck", "gauge", "Abandoned workers still inside an overrunning handler.", field_stuck},
		{"eventsys_plugin_async_outstanding", "gauge",
		 "Asynchronous deliveries started and not completed, within their deadline.", field_async_outstanding},
		{"eventsys_plugin_async_expired_open", "gauge",
		 "Asynchronous deliveries timed out and not completed yet (they count against the queue bound).",
		 field_async_expired_open},
		{"eventsys_plugin_async_late_completions_total", "counter",
		 "Asynchronous deliveries completed after their deadline (ignored).", field_async_late},
		{"eventsys_plugin_async_double_completions_total", "counter",
		 "Asynchronous deliveries completed a second time (ignored).", field_async_twice},
	};
	for (size_t k = 0; k < sizeof series / sizeof series[0]; k++) {
		prom_text_header(out, series[k].name, series[k].type, series[k].help);
		for (size_t i = 0; i < n; i++)
			evbuffer_add_printf(out, "%s{%s} %llu\n", series[k].name, labels[i],
			                    (unsigned long long)series[k].field(&stats[i]));
	}
	prom_text_header(out, "eventsys_plugin_oldest_queued_seconds", "gauge", "Age of the oldest event waiting in the queue.");
	for (size_t i = 0; i < n; i++)
		evbuffer_add_printf(out, "eventsys_plugin_oldest_queued_seconds{%s} %.6f\n", labels[i],
		                    (double)stats[i].oldest_queued_age_us / 1e6);
	render_plugin_defined(out, t);
	render_isolation(out, t);
	render_plugin_histograms(out, t, "eventsys_plugin_handler_duration_seconds", "Time of one handle() call.",
	                         worker_pool_handler_latency);
	render_plugin_histograms(out, t, "eventsys_event_latency_seconds",
	                         "From the event's acceptance to its final outcome at the plugin (handled or dead-lettered).",
	                         worker_pool_event_latency);
	free(labels);
	free(stats);
}

/* The crash rules (core/crash_ledger.h): crashes, quarantines, releases. */
/* One counter family with a value per loaded plugin. */
static void render_instance_counter(struct evbuffer *out, routing_table *t, const char *name, const char *help,
                                    uint64_t (*value)(const plugin_instance *))
{
	prom_text_header(out, name, "counter", help);
	for (size_t i = 0; i < routing_table_size(t); i++) {
		plugin_instance *inst = routing_table_instance(t, i);
		char label[PLUGIN_LABEL_SIZE];
		prom_text_label(label, sizeof label, "plugin", plugin_instance_name(inst));
		evbuffer_add_printf(out, "%s{%s} %llu\n", name, label, (unsigned long long)value(inst));
	}
}

static void render_crashes(struct evbuffer *out, crash_ledger *crashes)
{
	crash_ledger_stats st;
	crash_ledger_stats_get(crashes, &st);
	prom_text_header(out, "eventsys_plugin_crashes_total", "counter",
	                 "Plugin crashes recorded by this run (the last run's crash file, read at start, included).");
	evbuffer_add_printf(out, "eventsys_plugin_crashes_total %llu\n", (unsigned long long)st.crashes);
	prom_text_header(out, "eventsys_plugin_quarantines_total", "counter", "Plugins this run found crashing too often and did not load.");
	evbuffer_add_printf(out, "eventsys_plugin_quarantines_total %llu\n", (unsigned long long)st.quarantines);
	prom_text_header(out, "eventsys_plugin_releases_total", "counter",
	                 "Quarantined plugins released (their file replaced, or the release endpoint).");
	evbuffer_add_printf(out, "eventsys_plugin_releases_total %llu\n", (unsigned long long)st.releases);
	prom_text_header(out, "eventsys_crash_files_unreadable_total", "counter", "Crash files found corrupt or cut short and ignored.");
	evbuffer_add_printf(out, "eventsys_crash_files_unreadable_total %llu\n", (unsigned long long)st.unreadable_files);
	prom_text_header(out, "eventsys_plugins_quarantined", "gauge", "Plugins quarantined now (not loaded).");
	evbuffer_add_printf(out, "eventsys_plugins_quarantined %u\n", st.quarantined);
	quarantine_info q[32];
	size_t n = crash_ledger_list(crashes, q, 32);
	prom_text_header(out, "eventsys_plugin_quarantine_skipped_events_total", "counter",
	                 "Events that matched a quarantined plugin's subscriptions and were not delivered to it (since its quarantine).");
	for (size_t i = 0; i < n && i < 32; i++) {
		char label[PLUGIN_LABEL_SIZE];
		prom_text_label(label, sizeof label, "plugin", q[i].plugin);
		evbuffer_add_printf(out, "eventsys_plugin_quarantine_skipped_events_total{%s} %llu\n", label,
		                    (unsigned long long)q[i].events_skipped);
	}
}

void metrics_render(es_daemon *d, struct evbuffer *out)
{
	prom_text_header(out, "eventsys_build_info", "gauge", "Version of the running event-system; always 1.");
	evbuffer_add_printf(out, "eventsys_build_info{version=\"%s\",plugin_abi=\"%d.%d\"} 1\n", PACKAGE_VERSION,
	                    ES_ABI_MAJOR, ES_ABI_MINOR);

	http_api_counters c;
	http_api_counters_read(&c);
	prom_text_header(out, "eventsys_api_events_total", "counter", "Events sent to the API, by result.");
	static const char *const results[] = {"accepted", "bad_request", "too_large", "unsupported_media_type",
	                                      "busy", "unavailable", "unauthorized"};
	const uint64_t values[] = {c.accepted, c.rejected_bad_request, c.rejected_too_large, c.rejected_media_type,
	                           c.rejected_busy, c.rejected_unavailable, c.rejected_unauthorized};
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
		evbuffer_add_printf(out, "eventsys_api_events_total{result=\"%s\"} %llu\n", results[i],
		                    (unsigned long long)values[i]);
	prom_text_header(out, "eventsys_events_unmatched_total", "counter", "Accepted events that matched no plugin.");
	evbuffer_add_printf(out, "eventsys_events_unmatched_total %llu\n", (unsigned long long)router_unmatched_total());

	routing_table *t = router_acquire(d->router);
	prom_text_header(out, "eventsys_plugins_loaded", "gauge", "Plugins running.");
	evbuffer_add_printf(out, "eventsys_plugins_loaded %zu\n", routing_table_size(t));
	prom_text_header(out, "eventsys_plugins_refused", "gauge", "Plugin files in the directory that were refused.");
	evbuffer_add_printf(out, "eventsys_plugins_refused %llu\n",
	                    (unsigned long long)atomic_load(&d->plugins_refused));
	render_plugins(out, t);
	render_instance_counter(out, t, "eventsys_plugin_crash_dead_lettered_total",
	                        "Events dead-lettered for a plugin at redelivery because they crashed it max_crashes times.",
	                        plugin_instance_poisoned_count);
	render_instance_counter(
		out, t, "eventsys_plugin_redelivery_exhausted_total",
		"Events dead-lettered for a plugin at redelivery because earlier runs made max_attempts attempts.",
		plugin_instance_exhausted_count);
	routing_table_unref(t);
	render_crashes(out, d->crashes);

	if (d->reload) {
		reload_report r;
		reload_report_get(d, &r);
		prom_text_header(out, "eventsys_reloads_total", "counter", "Reloads of config and plugins, by result.");
		evbuffer_add_printf(out, "eventsys_reloads_total{result=\"ok\"} %llu\n",
		                    (unsigned long long)(r.completed - r.failures));
		evbuffer_add_printf(out, "eventsys_reloads_total{result=\"failed\"} %llu\n", (unsigned long long)r.failures);
		prom_text_header(out, "eventsys_reload_undelivered_total", "counter",
		                 "Deliveries a reload's retired plugin instances could neither deliver nor hand over.");
		evbuffer_add_printf(out, "eventsys_reload_undelivered_total %llu\n", (unsigned long long)r.undelivered);
		prom_text_header(out, "eventsys_reload_handed_over_total", "counter",
		                 "Deliveries a retired plugin instance handed to the new instance of its plugin.");
		evbuffer_add_printf(out, "eventsys_reload_handed_over_total %llu\n", (unsigned long long)r.handed_over);
		prom_text_header(out, "eventsys_config_generation", "gauge", "Config generation in force (1 at start).");
		evbuffer_add_printf(out, "eventsys_config_generation %llu\n", (unsigned long long)r.generation);
	}
	http_api_metrics_render(out);
	connection_guard_metrics_render(out);
	waiter_limit_metrics_render(out);
	database_metrics_render(d->db, out);
	js_link_metrics_render(d->jetstream, out);
	js_consumers_metrics_render(d->consumers, out);
	render_process(out, d->started_us);
}

/* ---- the endpoint ---- */

/* Send the output buffer with its Content-Length.  libevent 2.1 would
 * write a body after a HEAD answer too (breaking a kept-alive
 * connection's framing): a HEAD answer gets the length and no body. */
static void send_text(struct evhttp_request *req, int status, const char *reason)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	size_t bytes = evbuffer_get_length(out);
	char length[24];
	snprintf(length, sizeof length, "%zu", bytes);
	if (!evhttp_find_header(headers, "Content-Type"))
		evhttp_add_header(headers, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(headers, "Content-Length", length);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
		evbuffer_drain(out, bytes);
	evhttp_send_reply(req, status, reason, NULL);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	metrics_server *s = arg;
	connection_guard_request_read(s->guard, req);
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_CONNECT)
		/* nothing after a CONNECT is read: the guard closes after its answer */
		evhttp_add_header(headers, "Connection", "close");
	if (strcmp(uri, "/metrics") != 0 && strncmp(uri, "/metrics?", 9) != 0) {
		evbuffer_add_printf(out, "only /metrics here\n");
		send_text(req, 404, "Not Found");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(headers, "Allow", "GET");
		evbuffer_add_printf(out, "this endpoint accepts GET\n");
		send_text(req, 405, "Method Not Allowed");
		return;
	}
	metrics_render(s->daemon, out);
	evhttp_add_header(headers, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	send_text(req, 200, "OK");
}

/* What the server made on its base, freed after its evhttp and before it. */
static void free_on_base(void *arg)
{
	metrics_server *s = arg;
	connection_guard_free(s->guard);
}

metrics_server *metrics_server_start(es_daemon *d, char *err, size_t err_size)
{
	const es_config *c = d->config;
	metrics_server *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	s->daemon = d;
	/* a scrape's head and its (at most 1 KiB) body fit the read-ahead */
	http_loop_limits limits = {.max_headers_size = METRICS_MAX_HEAD,
	                           .max_body_size = 1024,
	                           .timeout_ms = 10000,
	                           /* CONNECT too: libevent's own 501 to it has no Content-Length and keeps
	                            * the connection, so what follows could not be told from it */
	                           .methods = EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_CONNECT};
	if (http_loop_init(&s->loop, &limits) != 0) {
		snprintf(err, err_size, "cannot create the metrics server");
		goto out_fail;
	}
	struct evhttp_bound_socket *bound =
		evhttp_bind_socket_with_handle(s->loop.http, c->metrics_host, c->metrics_port);
	if (!bound) {
		snprintf(err, err_size, "cannot listen on %s:%u for metrics (metrics.host, metrics.port): %s",
		         c->metrics_host, c->metrics_port, strerror(errno));
		goto out_fail;
	}
	s->guard = connection_guard_new(s->loop.base, s->loop.http, evhttp_bound_socket_get_listener(bound),
	                                CONNECTION_GUARD_METRICS, NULL, METRICS_MAX_HEAD + 1024);
	if (!s->guard) {
		snprintf(err, err_size, "out of memory");
		goto out_fail;
	}
	evhttp_set_gencb(s->loop.http, on_request, s);
	if (http_loop_start(&s->loop, "es-metrics") != 0) {
		snprintf(err, err_size, "cannot start the metrics thread");
		goto out_fail;
	}
	return s;
out_fail:
	metrics_server_stop(s);
	return NULL;
}

void metrics_server_stop(metrics_server *s)
{
	if (!s)
		return;
	if (s->loop.running)
		event_base_loopexit(s->loop.base, NULL); /* unlike loopbreak, not lost if the loop has not started yet */
	http_loop_join(&s->loop);
	if (s->guard) /* the connections evhttp_free() closes are cut by the stop, not by their clients */
		connection_guard_stop_accepting(s->guard);
	http_loop_free(&s->loop, free_on_base, s);
	free(s);
}
