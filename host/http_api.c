/*
 * HTTP API handlers.  The trigger path builds its answer with snprintf into
 * the reply buffer (names and ids are validated to need no escaping); the
 * rarer endpoints use cJSON.
 */
#include "config.h"

#include "http_api.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "event.h"
#include "log.h"
#include "plugin_instance.h"
#include "router.h"
#include "trigger_parse.h"

static _Atomic uint64_t n_accepted, n_bad_request, n_too_large, n_media_type, n_busy, n_unavailable;

void http_api_counters_read(http_api_counters *out)
{
	out->accepted = atomic_load(&n_accepted);
	out->rejected_bad_request = atomic_load(&n_bad_request);
	out->rejected_too_large = atomic_load(&n_too_large);
	out->rejected_media_type = atomic_load(&n_media_type);
	out->rejected_busy = atomic_load(&n_busy);
	out->rejected_unavailable = atomic_load(&n_unavailable);
}

void http_api_thread_init(http_api_thread *api, es_daemon *daemon)
{
	api->daemon = daemon;
}

void http_api_thread_free(http_api_thread *api)
{
	(void)api;
}

static void send_json(struct evhttp_request *req, int status, const char *reason, const char *body, size_t len)
{
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	evhttp_add_header(headers, "Content-Type", "application/json; charset=utf-8");
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	evbuffer_add(out, body, len);
	evhttp_send_reply(req, status, reason, NULL);
}

static void send_cjson(struct evhttp_request *req, int status, const char *reason, cJSON *obj)
{
	char *text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (!text) {
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	send_json(req, status, reason, text, strlen(text));
	cJSON_free(text);
}

/* {"error": code, "message": message} */
static void send_error(struct evhttp_request *req, int status, const char *reason, const char *code,
                       const char *message)
{
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "error", code);
	cJSON_AddStringToObject(obj, "message", message);
	LOG_DEBUG("http", "%s %s -> %d %s: %s", evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "GET",
	          evhttp_request_get_uri(req), status, code, message);
	send_cjson(req, status, reason, obj);
}

static void send_method_not_allowed(struct evhttp_request *req, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
	char msg[128];
	snprintf(msg, sizeof msg, "this endpoint accepts %s", allow);
	send_error(req, 405, "Method Not Allowed", "method_not_allowed", msg);
}

static bool is_json_content_type(const char *ct)
{
	if (!ct)
		return true; /* no header: assume JSON, as most clients mean it */
	size_t n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == strlen("application/json") && strncasecmp(ct, "application/json", n) == 0;
}

static void format_timestamp(char out[40])
{
	int64_t us = clock_realtime_us();
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- POST /api/events/trigger ---- */

static void handle_trigger(struct evhttp_request *req, es_daemon *d)
{
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		send_method_not_allowed(req, "POST");
		return;
	}
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	if (!is_json_content_type(ct)) {
		atomic_fetch_add_explicit(&n_media_type, 1, memory_order_relaxed);
		char msg[200];
		snprintf(msg, sizeof msg, "Content-Type must be application/json, not '%.100s' "
		                          "(with curl: -H 'Content-Type: application/json')", ct);
		send_error(req, 415, "Unsupported Media Type", "unsupported_media_type", msg);
		return;
	}
	if (atomic_load_explicit(&d->stopping, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&n_unavailable, 1, memory_order_relaxed);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
		send_error(req, 503, "Service Unavailable", "shutting_down", "the server is shutting down");
		return;
	}

	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (len > d->config->max_event_size) {
		atomic_fetch_add_explicit(&n_too_large, 1, memory_order_relaxed);
		char msg[128];
		snprintf(msg, sizeof msg, "the event is %zu bytes; event.max_event_size is %zu", len,
		         d->config->max_event_size);
		send_error(req, 413, "Payload Too Large", "too_large", msg);
		return;
	}
	const char *body = (const char *)evbuffer_pullup(in, -1);

	trigger_parsed parsed;
	char err[256];
	int status = trigger_parse(body ? body : "", len, &parsed, err, sizeof err);
	if (status != 0) {
		trigger_parsed_free(&parsed);
		atomic_fetch_add_explicit(&n_bad_request, 1, memory_order_relaxed);
		send_error(req, 400, "Bad Request", "bad_request", err);
		return;
	}
	es_event *event = event_create(&parsed.fields);
	trigger_parsed_free(&parsed);
	if (!event) {
		send_error(req, 500, "Internal Server Error", "internal", "out of memory");
		return;
	}

	routing_table *table = router_acquire(d->router);
	dispatch_result result;
	dispatch_status st = router_dispatch(table, event, &result);
	if (st == DISPATCH_BUSY) {
		atomic_fetch_add_explicit(&n_busy, 1, memory_order_relaxed);
		char msg[200];
		snprintf(msg, sizeof msg, "the queue of plugin '%s' is full; the event was not accepted by any plugin",
		         plugin_instance_name(result.busy));
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
		LOG_WARN("http", "event %s (%s) refused: queue of plugin '%s' is full", event->id, event->name,
		         plugin_instance_name(result.busy));
		send_error(req, 503, "Service Unavailable", "busy", msg);
	} else {
		atomic_fetch_add_explicit(&n_accepted, 1, memory_order_relaxed);
		struct evbuffer *out = evhttp_request_get_output_buffer(req);
		evbuffer_add_printf(out, "{\"id\":\"%s\",\"name\":\"%s\",\"matched\":[", event->id, event->name);
		for (size_t i = 0; i < result.matched; i++)
			evbuffer_add_printf(out, "%s\"%s\"", i ? "," : "", plugin_instance_name(result.targets[i]));
		evbuffer_add(out, "]}", 2);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json; charset=utf-8");
		evhttp_send_reply(req, 202, "Accepted", NULL);
	}
	routing_table_release(table);
	event_unref(event);
}

/* ---- health and plugin status ---- */

/* Whether a plugin needs attention: stuck workers or a queue nearly full. */
static const char *plugin_health(const pool_stats *s)
{
	if (s->stuck > 0 || s->workers == 0)
		return "stuck";
	if (s->capacity && s->depth * 10 >= s->capacity * 9)
		return "queue_nearly_full";
	return NULL;
}

static void handle_health(struct evhttp_request *req, es_daemon *d)
{
	routing_table *table = router_acquire(d->router);
	const char *reason = NULL;
	const char *culprit = NULL;
	for (size_t i = 0; i < routing_table_size(table) && !reason; i++) {
		plugin_instance *inst = routing_table_instance(table, i);
		pool_stats s;
		worker_pool_stats(plugin_instance_pool(inst), &s);
		reason = plugin_health(&s);
		culprit = plugin_instance_name(inst);
	}
	char when[40];
	format_timestamp(when);
	bool ok = !reason && !atomic_load(&d->stopping);
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "status", ok ? "ok" : "degraded");
	cJSON_AddStringToObject(obj, "timestamp", when);
	cJSON *components = cJSON_AddObjectToObject(obj, "components");
	cJSON_AddStringToObject(components, "event_manager", reason ? "degraded" : "ok");
	cJSON_AddStringToObject(components, "database", d->config->database_enabled ? "unavailable" : "disabled");
	cJSON_AddStringToObject(components, "metrics", "disabled");
	if (reason) {
		char why[160];
		snprintf(why, sizeof why, "plugin '%s': %s", culprit, reason);
		cJSON *reasons = cJSON_AddObjectToObject(obj, "reasons");
		cJSON_AddStringToObject(reasons, "event_manager", why);
	}
	routing_table_release(table);
	send_cjson(req, 200, "OK", obj);
}

static void handle_ready(struct evhttp_request *req, es_daemon *d)
{
	bool ready = atomic_load(&d->ready) && !atomic_load(&d->stopping);
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "status", ready ? "ready" : "not_ready");
	send_cjson(req, ready ? 200 : 503, ready ? "OK" : "Service Unavailable", obj);
}

static void handle_plugins(struct evhttp_request *req, es_daemon *d)
{
	routing_table *table = router_acquire(d->router);
	cJSON *list = cJSON_CreateArray();
	for (size_t i = 0; i < routing_table_size(table); i++) {
		plugin_instance *inst = routing_table_instance(table, i);
		const plugin_image *img = plugin_instance_image(inst);
		const plugin_policy *pol = plugin_instance_policy(inst);
		pool_stats s;
		worker_pool_stats(plugin_instance_pool(inst), &s);
		const char *problem = plugin_health(&s);

		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "name", plugin_instance_name(inst));
		cJSON_AddStringToObject(p, "version", img->descriptor.version);
		char abi[16];
		snprintf(abi, sizeof abi, "%u.%u", img->descriptor.abi_major, img->descriptor.abi_minor);
		cJSON_AddStringToObject(p, "abi", abi);
		cJSON_AddStringToObject(p, "file", img->path);
		cJSON_AddStringToObject(p, "state", problem ? "degraded" : "running");
		if (problem)
			cJSON_AddStringToObject(p, "reason", problem);
		const char *const *patterns;
		size_t n = plugin_instance_subscriptions(inst, &patterns);
		cJSON_AddItemToObject(p, "subscriptions", cJSON_CreateStringArray(patterns, (int)n));
		cJSON_AddNumberToObject(p, "workers", pol->workers);
		cJSON_AddNumberToObject(p, "workers_busy", s.busy);
		cJSON_AddNumberToObject(p, "workers_stuck", s.stuck);
		cJSON_AddNumberToObject(p, "queue_depth", s.depth);
		cJSON_AddNumberToObject(p, "queue_capacity", s.capacity);
		cJSON_AddNumberToObject(p, "timeout_ms", pol->timeout_ms);
		cJSON_AddNumberToObject(p, "max_attempts", pol->max_attempts);
		cJSON *c = cJSON_AddObjectToObject(p, "counters");
		cJSON_AddNumberToObject(c, "received", (double)s.received);
		cJSON_AddNumberToObject(c, "ok", (double)s.ok);
		cJSON_AddNumberToObject(c, "retried", (double)s.retried);
		cJSON_AddNumberToObject(c, "failed", (double)s.dead);
		cJSON_AddNumberToObject(c, "timed_out", (double)s.timed_out);
		cJSON_AddNumberToObject(c, "refused", (double)s.refused);
		const plugin_counter *custom;
		size_t nc = plugin_instance_counters(inst, &custom);
		if (nc) {
			cJSON *pc = cJSON_AddObjectToObject(p, "plugin_counters");
			for (size_t j = 0; j < nc; j++)
				cJSON_AddNumberToObject(pc, custom[j].name, (double)atomic_load(&custom[j].value));
		}
		cJSON_AddItemToArray(list, p);
	}
	routing_table_release(table);
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddItemToObject(obj, "plugins", list);
	send_cjson(req, 200, "OK", obj);
}

void http_api_handle(struct evhttp_request *req, void *arg)
{
	http_api_thread *api = arg;
	es_daemon *d = api->daemon;
	const char *uri = evhttp_request_get_uri(req);
	size_t path_len = strcspn(uri, "?");
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
#define PATH_IS(p) (path_len == sizeof(p) - 1 && memcmp(uri, (p), path_len) == 0)
	if (PATH_IS("/api/events/trigger")) {
		handle_trigger(req, d);
	} else if (PATH_IS("/health")) {
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
			send_method_not_allowed(req, "GET, HEAD");
		else
			handle_health(req, d);
	} else if (PATH_IS("/ready")) {
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
			send_method_not_allowed(req, "GET, HEAD");
		else
			handle_ready(req, d);
	} else if (PATH_IS("/api/plugins")) {
		if (cmd != EVHTTP_REQ_GET)
			send_method_not_allowed(req, "GET");
		else
			handle_plugins(req, d);
	} else {
		send_error(req, 404, "Not Found", "not_found", "no such endpoint");
	}
#undef PATH_IS
}
