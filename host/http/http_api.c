/*
 * HTTP API: routing, authentication, replies and the access log, and the
 * status endpoints (/health, /ready, /api/plugins).  The event endpoints
 * are in http_events.c.
 */
#include "config.h"

#include "http/http_api.h"

#include <cjson/cJSON.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/crash_ledger.h"
#include "http/connection_guard.h"
#include "db/database.h"
#include "model/es_event.h"
#include "util/histogram.h"
#include "http/http_api_internal.h"
#include "model/event_request.h"
#include "http/http_gate.h"
#include "http/http_refusal_log.h"
#include "util/log.h"
#include "util/prom_text.h"
#include "core/js_link.h"
#include "core/plugin_instance.h"
#include "core/router.h"

/* Per route (and one slot for unknown paths): requests by status class
 * (1xx..5xx) and latency.  Index = position in `routes` below. */
#define ROUTE_SLOTS 16
static _Atomic uint64_t route_requests[ROUTE_SLOTS][5];
static histogram route_latency[ROUTE_SLOTS];

_Atomic uint64_t api_accepted, api_bad_request, api_too_large, api_media_type, api_busy, api_unavailable,
        api_unauthorized;

void http_api_counters_read(http_api_counters *out)
{
	out->accepted = atomic_load(&api_accepted);
	out->rejected_bad_request = atomic_load(&api_bad_request);
	out->rejected_too_large = atomic_load(&api_too_large);
	out->rejected_media_type = atomic_load(&api_media_type);
	out->rejected_busy = atomic_load(&api_busy);
	out->rejected_unavailable = atomic_load(&api_unavailable);
	out->rejected_unauthorized = atomic_load(&api_unauthorized);
}

/* Access log lines are batched per thread and written with one write(2)
 * every few milliseconds (or when the batch is large): a write per request
 * would cost a system call on the hot path.  Each write holds whole lines. */
#define ACCESS_LOG_FLUSH_MS 50
#define ACCESS_LOG_FLUSH_BYTES 32768

static void flush_access_log(http_api_thread *api)
{
	while (evbuffer_get_length(api->access_log) > 0)
		if (evbuffer_write(api->access_log, STDERR_FILENO) <= 0)
			break;
}

static void on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
	flush_access_log(arg);
}

int http_api_thread_init(http_api_thread *api, es_daemon *daemon, struct event_base *base, size_t max_body_size)
{
	api->daemon = daemon;
	api->gate = http_gate_new(daemon, max_body_size, api);
	if (!api->gate)
		return -1;
	api->access_log = evbuffer_new();
	api->flush_timer = event_new(base, -1, EV_PERSIST, on_flush_timer, api);
	if (!api->access_log || !api->flush_timer)
		return -1;
	struct timeval every = {.tv_sec = 0, .tv_usec = (suseconds_t)ACCESS_LOG_FLUSH_MS * 1000};
	event_add(api->flush_timer, &every);
	return 0;
}

void http_api_thread_free(http_api_thread *api)
{
	api_admin_free_waits(api);
	if (api->access_log) {
		flush_access_log(api);
		evbuffer_free(api->access_log);
	}
	if (api->flush_timer)
		event_free(api->flush_timer);
	api->access_log = NULL;
	api->flush_timer = NULL;
	http_gate_free(api->gate); /* after evhttp_free(): closing its connections frees their gate state */
	api->gate = NULL;
}

/* ---- replies and the access log ---- */

const char *api_reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 207: return "Multi-Status";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_PATCH: return "PATCH";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	default: return "OTHER";
	}
}

void api_access_line(http_api_thread *api, const char *method, const char *path, size_t path_len, int status,
                     size_t bytes, double ms, const char *client, const char *token)
{
	char line[1024];
	size_t len = log_format_line(line, sizeof line, LOG_LEVEL_INFO, "access",
	                             "%s %.*s %d %zu bytes %.3f ms client=%s token=%s", method,
	                             (int)(path_len > ACCESS_LOG_PATH_MAX ? ACCESS_LOG_PATH_MAX : path_len), path, status,
	                             bytes, ms, client, token[0] ? token : "-");
	evbuffer_add(api->access_log, line, len);
	if (evbuffer_get_length(api->access_log) >= ACCESS_LOG_FLUSH_BYTES)
		flush_access_log(api);
}

/* "address:port" of the request's client, or "-". */
static void client_address(const api_request *r, char *out, size_t size)
{
	snprintf(out, size, "-");
	struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
	if (conn) {
		char *addr = NULL;
		ev_uint16_t port = 0;
		evhttp_connection_get_peer(conn, &addr, &port);
		if (addr)
			snprintf(out, size, "%s:%u", addr, port);
	}
}

static void log_access(api_request *r, int status, size_t bytes)
{
	if (!r->access_log || !log_enabled(LOG_LEVEL_INFO))
		return;
	char client[64];
	client_address(r, client, sizeof client);
	const char *uri = evhttp_request_get_uri(r->req);
	double ms = (double)(clock_monotonic_us() - r->start_us) / 1000.0;
	api_access_line(r->thread, method_name(evhttp_request_get_command(r->req)), uri, strcspn(uri, "?"), status,
	                bytes, ms, client, r->token_name);
}

void api_header(api_request *r, const char *name, const char *value)
{
	if (r->req)
		evhttp_add_header(evhttp_request_get_output_headers(r->req), name, value);
}

/* `v` in decimal, at the end of `buf` (24 bytes hold any size_t): a
 * snprintf() per answer cost more than the rest of its headers' text. */
static const char *decimal(char *buf, size_t size, size_t v)
{
	char *p = buf + size;
	*--p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

/* The metrics' slot of a route (-1: none: "other"). */
static int route_slot(int route)
{
	return route >= 0 && route < ROUTE_SLOTS - 1 ? route : ROUTE_SLOTS - 1;
}

static void count_answer(int slot, int status)
{
	int cls = status / 100 - 1;
	if (cls >= 0 && cls < 5)
		atomic_fetch_add_explicit(&route_requests[slot][cls], 1, memory_order_relaxed);
}

static void count_request(const api_request *r, int status)
{
	int slot = route_slot(r->route);
	count_answer(slot, status);
	histogram_observe_us(&route_latency[slot], clock_monotonic_us() - r->start_us);
}

void api_reply_buffer(api_request *r, int status)
{
	count_request(r, status);
	if (!r->req)
		return; /* the client went away while we waited */
	struct evbuffer *out = evhttp_request_get_output_buffer(r->req);
	size_t bytes = evbuffer_get_length(out);
	struct evkeyvalq *headers = evhttp_request_get_output_headers(r->req);
	/* libevent 2.1 writes the body even to HEAD and adds no Content-Length
	 * to a HEAD or CONNECT answer: without both, the bytes would be read as
	 * the start of the next answer on a kept-alive connection.  A HEAD
	 * answer carries the length the GET's body would have, and no body.
	 * Removed before the other headers go in, so the walk is short. */
	char length[24];
	evhttp_remove_header(headers, "Content-Length");
	evhttp_add_header(headers, "Content-Type", "application/json; charset=utf-8");
	evhttp_add_header(headers, "Content-Length", decimal(length, sizeof length, bytes));
	if (evhttp_request_get_command(r->req) == EVHTTP_REQ_HEAD)
		evbuffer_drain(out, bytes);
	log_access(r, status, bytes);
	struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
	evhttp_send_reply(r->req, status, api_reason_phrase(status), NULL);
	/* evhttp reads on while it writes an answer (evhttp_write_buffer
	 * enables reading), and when it reads the end of the stream then it
	 * frees the connection, answer unwritten: a client that half-closed
	 * after pipelining requests lost answers to requests already acted
	 * on.  Nothing is read until this answer is written (evhttp enables
	 * reading again after it, for the next request).  The connection
	 * outlives evhttp_send_reply(): it only queues the answer. */
	if (conn)
		bufferevent_disable(evhttp_connection_get_bufferevent(conn), EV_READ);
}

void api_reply(api_request *r, int status, const char *body, size_t len)
{
	if (r->req)
		evbuffer_add(evhttp_request_get_output_buffer(r->req), body, len);
	api_reply_buffer(r, status);
}

static void reply_cjson(api_request *r, int status, cJSON *obj)
{
	char *text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (!text) {
		api_reply(r, 500, "{\"error\":\"internal\",\"message\":\"out of memory\"}", 47);
		return;
	}
	api_reply(r, status, text, strlen(text));
	cJSON_free(text);
}

void api_error(api_request *r, int status, const char *code, const char *message)
{
	char *text = error_reply_json(code, message);
	if (!text) {
		api_reply(r, 500, "{\"error\":\"internal\",\"message\":\"out of memory\"}", 47);
		return;
	}
	api_reply(r, status, text, strlen(text));
	cJSON_free(text);
}

bool api_query(const api_request *r, const char *key, char *out, size_t out_size)
{
	if (!r->query)
		return false;
	struct evkeyvalq params;
	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(r->query, &params) != 0)
		return false;
	const char *v = evhttp_find_header(&params, key);
	if (v)
		snprintf(out, out_size, "%s", v);
	evhttp_clear_headers(&params);
	return v != NULL;
}

void api_request_keep(api_request *kept, const api_request *r)
{
	*kept = *r;
	kept->details_allowed = r->config ? api_may_see_details(r) : r->details_allowed;
	kept->table = NULL;
	kept->config = NULL;
	kept->content_type = kept->transfer_encoding = kept->authorization = NULL;
}

static void on_client_gone(struct evhttp_connection *conn, void *arg)
{
	api_request *kept = arg;
	kept->req = NULL;
}

void api_request_watch(api_request *kept)
{
	if (kept->req)
		connection_guard_watch(kept->thread->connections, evhttp_request_get_connection(kept->req), on_client_gone,
		                       kept);
}

void api_request_unwatch(api_request *kept)
{
	if (kept->req)
		connection_guard_watch(kept->thread->connections, evhttp_request_get_connection(kept->req), NULL, NULL);
}

static void method_not_allowed(api_request *r, const char *allow)
{
	api_header(r, "Allow", allow);
	char msg[128];
	snprintf(msg, sizeof msg, "this endpoint accepts %s", allow);
	api_error(r, 405, "method_not_allowed", msg);
}

/* ---- authentication ---- */

bool api_secret_equal(const char *a, size_t a_len, const char *b)
{
	size_t b_len = strlen(b);
	unsigned char diff = (unsigned char)(a_len != b_len);
	for (size_t i = 0; i < a_len; i++)
		diff |= (unsigned char)(a[i] ^ b[i % (b_len ? b_len : 1)]);
	return diff == 0;
}

/* The configured token the request's "Authorization: Bearer" header
 * names, or NULL (no header, not Bearer, or no such token). */
static const api_token *request_token(const api_request *r)
{
	const char *h = r->authorization;
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	const char *given = h + 7;
	size_t given_len = strlen(given);
	const api_token *match = NULL;
	for (size_t i = 0; i < r->config->token_count; i++)
		if (api_secret_equal(given, given_len, r->config->tokens[i].secret))
			match = &r->config->tokens[i];
	return match;
}

/* True when allowed; otherwise answers 401/403 itself. */
static bool authorize(api_request *r, token_role needed)
{
	const es_config *c = r->config;
	if (c->token_count == 0)
		return true; /* no tokens configured: open (loopback, or explicitly allowed) */
	const char *h = r->authorization;
	if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
		atomic_fetch_add_explicit(&api_unauthorized, 1, memory_order_relaxed);
		api_header(r, "WWW-Authenticate", "Bearer realm=\"event-system\"");
		api_error(r, 401, "unauthorized", "this endpoint needs 'Authorization: Bearer <token>'");
		return false;
	}
	const api_token *match = request_token(r);
	if (!match) {
		atomic_fetch_add_explicit(&api_unauthorized, 1, memory_order_relaxed);
		api_header(r, "WWW-Authenticate", "Bearer realm=\"event-system\", error=\"invalid_token\"");
		if (http_refusal_line_allowed()) { /* a client guessing tokens writes no more lines than the budget */
			char client[64];
			client_address(r, client, sizeof client);
			LOG_WARN("auth", "request with an unknown bearer token refused (client=%s)", client);
		}
		api_error(r, 401, "unauthorized", "the bearer token is not valid");
		return false;
	}
	snprintf(r->token_name, sizeof r->token_name, "%s", match->name);
	if (match->role < needed) {
		api_error(r, 403, "forbidden", "this token may trigger events but not use admin endpoints");
		return false;
	}
	return true;
}

/* ---- status endpoints ---- */

static void format_timestamp(char out[40])
{
	time_t secs = (time_t)(clock_realtime_us() / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* At least this many recent outcomes before a failure ratio counts. */
#define HEALTH_MIN_OUTCOMES 10

/* Why a plugin needs attention, or NULL: stuck workers, a queue nearly
 * full, or failing at least health.failure_ratio of its recent deliveries
 * (the last 64).  `why` gets the numbers. */
static const char *plugin_problem(const pool_stats *s, const es_config *c, char *why, size_t why_size)
{
	if (s->stuck > 0 || s->workers == 0) {
		snprintf(why, why_size, "%u worker%s stuck past the deadline", s->stuck, s->stuck == 1 ? "" : "s");
		return "stuck";
	}
	if (s->capacity && (double)s->depth >= c->health_queue_full_ratio * s->capacity) {
		snprintf(why, why_size, "queue %u of %u", s->depth, s->capacity);
		return "queue_nearly_full";
	}
	if (s->recent >= HEALTH_MIN_OUTCOMES && (double)s->recent_failed >= c->health_failure_ratio * s->recent) {
		snprintf(why, why_size, "%u of the last %u deliveries failed", s->recent_failed, s->recent);
		return "failing";
	}
	return NULL;
}

/* Why an isolated plugin cannot deliver what it is sent, or NULL: fewer
 * processes run than it has workers (restarting after a death, or
 * quarantined by the crash rules: none runs until released). */
static const char *isolation_problem(const isolated_status *iso, char *why, size_t why_size)
{
	if (iso->quarantined) {
		snprintf(why, why_size, "quarantined by the crash rules: no process runs");
		return "quarantined";
	}
	if (iso->children < iso->slots) {
		snprintf(why, why_size, "%u of %u processes running (restarting after a failure)", iso->children,
		         iso->slots);
		return "processes_down";
	}
	return NULL;
}

/* May this request see internal details (the database driver's error
 * text)?  Yes with an admin token, or when no tokens are configured (every
 * admin endpoint is open then). */
bool api_may_see_details(const api_request *r)
{
	if (!r->config)
		return r->details_allowed;
	if (r->config->token_count == 0)
		return true;
	const api_token *t = request_token(r);
	return t && t->role >= TOKEN_ROLE_ADMIN;
}

int api_visible_reason(const api_request *r, const char *why, bool *cut)
{
	int len = (int)strlen(why);
	const char *detail = strstr(why, " (");
	*cut = detail && !api_may_see_details(r);
	return *cut ? (int)(detail - why) : len;
}

static void handle_health(api_request *r)
{
	es_daemon *d = r->daemon;
	routing_table *table = r->table;
	const char *problem = NULL, *culprit = NULL;
	char detail[128] = "";
	for (size_t i = 0; i < routing_table_size(table) && !problem; i++) {
		plugin_instance *inst = routing_table_instance(table, i);
		pool_stats s;
		worker_pool_stats(plugin_instance_pool(inst), &s);
		problem = plugin_problem(&s, r->config, detail, sizeof detail);
		isolated_status iso;
		if (!problem && plugin_instance_isolation(inst, &iso))
			problem = isolation_problem(&iso, detail, sizeof detail);
		culprit = plugin_instance_name(inst);
	}
	char when[40];
	format_timestamp(when);
	bool stopping = atomic_load(&d->stopping);
	char db_why[512];
	const char *db = database_health(d->db, db_why, sizeof db_why);
	bool db_failing = strcmp(db, "failing") == 0;
	char js_why[300] = "";
	bool js_failing = d->jetstream && !js_link_ready(d->jetstream, js_why, sizeof js_why);
	/* Durable mode without its database accepts nothing: unavailable (503,
	 * so a load balancer sends events elsewhere).  Async mode still
	 * delivers: degraded.  Without JetStream the JetStream backend accepts
	 * nothing either. */
	bool unavailable = stopping || (db_failing && database_durable(d->db)) || js_failing;
	/* A quarantined plugin is not running: the host is degraded until the
	 * operator releases it (docs/operations.md). */
	char quarantine[1024];
	bool quarantined = api_quarantine_reason(d, api_may_see_details(r), quarantine, sizeof quarantine) > 0;
	/* A crash history that cannot be used makes quarantine blind. */
	char crash_history[800];
	bool history_broken = crash_ledger_problem(d->crashes, crash_history, sizeof crash_history);
	quarantined = quarantined || history_broken;
	const char *status = stopping      ? "stopping"
	                     : unavailable ? "unavailable"
	                     : problem || db_failing || quarantined ? "degraded"
	                                                            : "ok";
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "status", status);
	cJSON_AddStringToObject(obj, "timestamp", when);
	cJSON *components = cJSON_AddObjectToObject(obj, "components");
	cJSON_AddStringToObject(components, "event_manager", problem || quarantined ? "degraded" : "ok");
	cJSON_AddStringToObject(components, "database", db);
	cJSON_AddStringToObject(components, "jetstream", !d->jetstream ? "disabled" : js_failing ? "failing" : "ok");
	cJSON_AddStringToObject(components, "metrics",
	                        atomic_load(&d->metrics_up) ? "ok" : r->config->metrics_enabled ? "down" : "disabled");
	if (problem || db_failing || quarantined || js_failing) {
		cJSON *reasons = cJSON_AddObjectToObject(obj, "reasons");
		if (quarantine[0])
			cJSON_AddStringToObject(reasons, "quarantine", quarantine);
		if (history_broken)
			cJSON_AddStringToObject(reasons, "crash_history",
			                        api_may_see_details(r) ? crash_history
			                                           : "the crash history cannot be used: quarantine is blind");
		if (problem) {
			char why[300];
			snprintf(why, sizeof why, "plugin '%s': %s (%s)", culprit, problem, detail);
			cJSON_AddStringToObject(reasons, "event_manager", why);
		}
		/* The driver's text names hosts, users and schema details: only
		 * for a client that could read the admin endpoints anyway. */
		if (db_failing)
			cJSON_AddStringToObject(reasons, "database", api_may_see_details(r) ? db_why : "failing");
		/* Never credentials, but server addresses, stream names and the
		 * server's error text: those only for an admin, as above. */
		if (js_failing) {
			bool cut;
			int shown = api_visible_reason(r, js_why, &cut);
			js_why[shown] = '\0';
			cJSON_AddStringToObject(reasons, "jetstream", js_why);
		}
	}
	reply_cjson(r, unavailable ? 503 : 200, obj);
}

static void handle_ready(api_request *r)
{
	bool ready = atomic_load(&r->daemon->ready) && !atomic_load(&r->daemon->stopping);
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "status", ready ? "ready" : "not_ready");
	reply_cjson(r, ready ? 200 : 503, obj);
}

static void handle_plugins(api_request *r)
{
	routing_table *table = r->table;
	cJSON *list = cJSON_CreateArray();
	for (size_t i = 0; i < routing_table_size(table); i++) {
		plugin_instance *inst = routing_table_instance(table, i);
		const plugin_image *img = plugin_instance_image(inst);
		const plugin_policy *pol = plugin_instance_policy(inst);
		pool_stats s;
		worker_pool_stats(plugin_instance_pool(inst), &s);
		char detail[128];
		const char *problem = plugin_problem(&s, r->config, detail, sizeof detail);
		isolated_status iso;
		bool isolated = plugin_instance_isolation(inst, &iso);
		const char *iso_problem = isolated ? isolation_problem(&iso, detail, sizeof detail) : NULL;
		/* Quarantined while it ran: the loaded instance says so too (it has
		 * no process); the crash ledger's entry beside it (added below)
		 * says why and how to release it. */
		if (iso_problem)
			problem = iso_problem;

		cJSON *p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "name", plugin_instance_name(inst));
		const es_plugin_descriptor *desc = plugin_image_descriptor(img);
		cJSON_AddStringToObject(p, "version", desc->version);
		char abi[16];
		snprintf(abi, sizeof abi, "%u.%u", desc->abi_major, desc->abi_minor);
		cJSON_AddStringToObject(p, "abi", abi);
		cJSON_AddStringToObject(p, "file", plugin_image_path(img));
		cJSON_AddStringToObject(p, "state", iso_problem && iso.quarantined ? "quarantined"
		                                    : problem                      ? "degraded"
		                                                                   : "running");
		if (problem) {
			cJSON_AddStringToObject(p, "reason", problem);
			cJSON_AddStringToObject(p, "reason_detail", detail);
		}
		const char *const *patterns;
		size_t n = plugin_instance_subscriptions(inst, &patterns);
		cJSON_AddItemToObject(p, "subscriptions", cJSON_CreateStringArray(patterns, (int)n));
		cJSON_AddNumberToObject(p, "workers", pol->workers);
		cJSON_AddNumberToObject(p, "workers_live", s.workers);
		cJSON_AddNumberToObject(p, "workers_busy", s.busy);
		cJSON_AddNumberToObject(p, "workers_stuck", s.stuck);
		cJSON_AddNumberToObject(p, "queue_depth", s.depth);
		cJSON_AddNumberToObject(p, "queue_capacity", s.capacity);
		cJSON_AddNumberToObject(p, "oldest_queued_ms", (double)s.oldest_queued_age_us / 1000.0);
		cJSON_AddNumberToObject(p, "timeout_ms", pol->timeout_ms);
		cJSON_AddNumberToObject(p, "max_attempts", pol->max_attempts);
		cJSON_AddNumberToObject(p, "wakeup_coalesce_us", pol->wakeup_coalesce_us);
		if (desc->handle_async) {
			/* SDK 1.1 asynchronous handler: deliveries between start and completion */
			cJSON *a = cJSON_AddObjectToObject(p, "async");
			cJSON_AddNumberToObject(a, "outstanding", s.async_outstanding);
			cJSON_AddNumberToObject(a, "expired_open", s.async_expired_open);
			cJSON_AddNumberToObject(a, "late_completions", (double)s.async_late);
			cJSON_AddNumberToObject(a, "double_completions", (double)s.async_twice);
		}
		if (isolated) {
			cJSON_AddStringToObject(p, "isolation", "process");
			cJSON *ij = cJSON_AddObjectToObject(p, "processes");
			cJSON *pids = cJSON_AddArrayToObject(ij, "pids");
			for (uint32_t j = 0; j < iso.children && j < ISOLATED_STATUS_MAX_PIDS; j++)
				cJSON_AddItemToArray(pids, cJSON_CreateNumber((double)iso.pids[j]));
			cJSON_AddNumberToObject(ij, "running", iso.children);
			cJSON_AddNumberToObject(ij, "restarts", (double)iso.restarts);
			cJSON_AddNumberToObject(ij, "deaths", (double)iso.deaths);
			cJSON_AddNumberToObject(ij, "killed_memory", (double)iso.memory_kills);
			cJSON_AddNumberToObject(ij, "killed_deadline", (double)iso.deadline_kills);
			if (pol->memory_limit_mb)
				cJSON_AddNumberToObject(ij, "memory_limit_mb", pol->memory_limit_mb);
			if (pol->open_files_limit)
				cJSON_AddNumberToObject(ij, "open_files_limit", pol->open_files_limit);
		} else {
			cJSON_AddStringToObject(p, "isolation", "in-process");
		}
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
			/* As integer text: a double keeps only 53 bits of an
			 * int64 gauge or a uint64 counter. */
			for (size_t j = 0; j < nc; j++) {
				char num[24];
				uint64_t v = atomic_load(&custom[j].value);
				if (custom[j].gauge)
					snprintf(num, sizeof num, "%" PRId64, (int64_t)v);
				else
					snprintf(num, sizeof num, "%" PRIu64, v);
				cJSON_AddRawToObject(pc, custom[j].name, num);
			}
		}
		cJSON_AddItemToArray(list, p);
	}
	api_quarantine_add_plugins(r->daemon, list);
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddItemToObject(obj, "plugins", list);
	reply_cjson(r, 200, obj);
}

/* ---- routing ---- */

typedef struct route {
	const char *path;              /* the whole path, or with `prefix` its start */
	const char *label;             /* for metrics (NULL: path) */
	bool prefix;                   /* more path follows (an id) */
	const char *allow;             /* for 405 */
	int methods;                   /* bitmask of allowed evhttp_cmd_type */
	token_role role;               /* 0: open */
	void (*handle)(api_request *r);
} route;

static const route routes[] = {
	{"/api/events/trigger", NULL, false, "POST", EVHTTP_REQ_POST, TOKEN_ROLE_TRIGGER, api_trigger},
	{"/api/events/batch", NULL, false, "POST", EVHTTP_REQ_POST, TOKEN_ROLE_TRIGGER, api_batch},
	{"/api/events/test", NULL, false, "POST", EVHTTP_REQ_POST, TOKEN_ROLE_TRIGGER, api_test},
	{"/api/plugins", NULL, false, "GET", EVHTTP_REQ_GET, TOKEN_ROLE_ADMIN, handle_plugins},
	{"/api/plugins/", "/api/plugins/{name}/release", true, "POST", EVHTTP_REQ_POST, TOKEN_ROLE_ADMIN,
	 api_plugin_release},
	{"/api/admin/reload", NULL, false, "GET, POST", EVHTTP_REQ_GET | EVHTTP_REQ_POST, TOKEN_ROLE_ADMIN,
	 api_admin_reload},
	{"/health", NULL, false, "GET, HEAD", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, 0, handle_health},
	{"/ready", NULL, false, "GET, HEAD", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, 0, handle_ready},
	/* event history (database.enabled); payloads may be sensitive: admin */
	{"/api/events", NULL, false, "GET", EVHTTP_REQ_GET, TOKEN_ROLE_ADMIN, api_events_list},
	{"/api/events/", "/api/events/{id}", true, "GET", EVHTTP_REQ_GET, TOKEN_ROLE_ADMIN, api_event_get},
	{"/api/dead-letters", NULL, false, "GET", EVHTTP_REQ_GET, TOKEN_ROLE_ADMIN, api_dead_letters_list},
	{"/api/dead-letters/", "/api/dead-letters/{id}/replay", true, "POST", EVHTTP_REQ_POST, TOKEN_ROLE_ADMIN,
	 api_dead_letter_replay},
};
_Static_assert(sizeof routes / sizeof routes[0] < ROUTE_SLOTS, "ROUTE_SLOTS too small");

static const char *route_label(const route *rt)
{
	return rt->label ? rt->label : rt->path;
}

/* libevent 2.1 de-chunks a body only when Transfer-Encoding is exactly
 * "chunked"; with any other coding it would read the body as if it had
 * none.  501 (RFC 9112 6.1) and close: the bytes left are not a request. */
static bool transfer_coding_supported(api_request *r)
{
	const char *te = r->transfer_encoding;
	if (!te || strcasecmp(te, "chunked") == 0)
		return true;
	char msg[200];
	snprintf(msg, sizeof msg, API_CODING_UNSUPPORTED, te);
	api_header(r, "Connection", "close");
	api_error(r, 501, "not_implemented", msg);
	return false;
}

/* The headers the handlers read, in one pass: a lookup each would walk
 * the whole list with a case-insensitive compare per entry, four times
 * for a trigger. */
static void read_request_headers(api_request *r)
{
	struct evkeyval *h;
	TAILQ_FOREACH(h, evhttp_request_get_input_headers(r->req), next)
	{
		/* libevent cuts the spaces before a value but keeps a tab, which
		 * RFC 9110 allows there as well ("Content-Type:<TAB>application/json"):
		 * cut here, for every handler that reads a header.  libevent reads
		 * these strings again when it answers ("Connection:<TAB>close" now
		 * closes); it framed the body before this (the gate refuses a tab
		 * before Transfer-Encoding and Expect, which it reads exactly). */
		if (h->value[0] == '\t') {
			const char *from = h->value + strspn(h->value, " \t");
			memmove(h->value, from, strlen(from) + 1);
		}
		const char *k = h->key;
		switch (k[0] | 0x20) { /* ASCII letters only: 'C' and 'c' */
		case 'c':
			if (!r->content_type && strcasecmp(k, "Content-Type") == 0)
				r->content_type = h->value;
			else if (strcasecmp(k, "ce-specversion") == 0)
				r->has_ce_specversion = true;
			break;
		case 't':
			if (!r->transfer_encoding && strcasecmp(k, "Transfer-Encoding") == 0)
				r->transfer_encoding = h->value;
			break;
		case 'a':
			if (!r->authorization && strcasecmp(k, "Authorization") == 0)
				r->authorization = h->value;
			break;
		default:
			break;
		}
	}
}

/* libevent 2.1 takes a request with an absolute-form target (RFC 9112
 * section 3.2.2) for a request to a proxy: it then closes the connection
 * after the answer unless the client sent "Proxy-Connection: keep-alive",
 * and says nothing of it in the answer, so pipelined requests were lost.
 * This server is no proxy: such a request is answered and kept as any
 * other (evhttp_request's flags are public, event2/http_struct.h). */
static void read_as_origin_form(api_request *r)
{
	r->req->flags &= ~EVHTTP_PROXY_REQUEST;
}

/* The request target from its path on: an absolute-form target
 * ("http://host:port/api/events/trigger?wait=true", which RFC 9112
 * section 3.2.2 has a server accept) without its scheme and authority.
 * Any other target as it is. */
static const char *origin_form(const char *target)
{
	if (target[0] == '/')
		return target; /* origin form: nearly every request */
	size_t authority = http_target_authority_len(target, strlen(target));
	if (!authority)
		return target;
	const char *path = target + authority;
	return *path == '/' ? path : "/"; /* no path: the root (RFC 9112 section 3.2.1) */
}

/* The fixed route whose path `uri` (path_len bytes) is with a '/' after
 * it, when `method` is one that route takes; NULL when none. */
static const route *fixed_route_with_slash(enum evhttp_cmd_type method, const char *uri, size_t path_len)
{
	if (path_len < 2 || uri[path_len - 1] != '/')
		return NULL;
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		const route *rt = &routes[i];
		if (!rt->prefix && (rt->methods & method) && strlen(rt->path) == path_len - 1 &&
		    memcmp(uri, rt->path, path_len - 1) == 0)
			return rt;
	}
	return NULL;
}

/* A path that is a fixed route's with a '/' after it, with a method that
 * route takes: 404 naming the route (without this, "POST
 * /api/events/trigger/" was the id route's 405 "Allow: GET"; a GET of it
 * still reads the event whose id is "trigger/").  False when the request
 * is not one. */
static bool refuse_trailing_slash(api_request *r, const char *uri, size_t path_len)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(r->req);
	const route *rt = fixed_route_with_slash(method, uri, path_len);
	if (!rt)
		return false;
	char msg[160];
	snprintf(msg, sizeof msg, "no such endpoint: the path ends with '/'; did you mean %s %s?", method_name(method),
	         rt->path);
	api_error(r, 404, "not_found", msg);
	return true;
}

/* The route whose path `uri` (path_len bytes, its query not counted) is,
 * whatever the method; -1: none. */
static int route_index(const char *uri, size_t path_len)
{
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		const route *rt = &routes[i];
		size_t n = strlen(rt->path);
		if (rt->prefix ? path_len > n && memcmp(uri, rt->path, n) == 0
		               : n == path_len && memcmp(uri, rt->path, path_len) == 0)
			return (int)i;
	}
	return -1;
}

/* Find the route, check method and token, run the handler. */
static void route_request(api_request *r)
{
	read_request_headers(r);
	if (!transfer_coding_supported(r))
		return;
	read_as_origin_form(r);
	const char *uri = origin_form(evhttp_request_get_uri(r->req));
	size_t path_len = strcspn(uri, "?");
	r->query = uri[path_len] == '?' ? uri + path_len + 1 : NULL;
	r->route = -1;
	if (refuse_trailing_slash(r, uri, path_len))
		return;
	int i = route_index(uri, path_len);
	if (i < 0) {
		api_error(r, 404, "not_found", "no such endpoint (see GET /api/plugins, POST /api/events/trigger)");
		return;
	}
	const route *rt = &routes[i];
	size_t n = strlen(rt->path);
	r->path_rest = rt->prefix ? uri + n : NULL;
	r->path_rest_len = rt->prefix ? path_len - n : 0;
	r->route = i;
	if (!(evhttp_request_get_command(r->req) & rt->methods)) {
		method_not_allowed(r, rt->allow);
		return;
	}
	if (rt->role && !authorize(r, rt->role))
		return;
	rt->handle(r);
}

/* The method a request line names, as evhttp reads it (0: one it does
 * not know). */
static enum evhttp_cmd_type method_of(const char *method, int method_len)
{
	static const enum evhttp_cmd_type commands[] = {EVHTTP_REQ_GET,     EVHTTP_REQ_POST,  EVHTTP_REQ_HEAD,
	                                                EVHTTP_REQ_PUT,     EVHTTP_REQ_DELETE, EVHTTP_REQ_OPTIONS,
	                                                EVHTTP_REQ_PATCH,   EVHTTP_REQ_TRACE, EVHTTP_REQ_CONNECT};
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		const char *name = method_name(commands[i]);
		if ((size_t)method_len == strlen(name) && memcmp(method, name, (size_t)method_len) == 0)
			return commands[i];
	}
	return 0;
}

void api_count_refusal(const char *method, int method_len, const char *target, size_t target_len, int status)
{
	char copy[ACCESS_LOG_PATH_MAX + 1];
	if (target_len > ACCESS_LOG_PATH_MAX)
		target_len = ACCESS_LOG_PATH_MAX;
	memcpy(copy, target, target_len);
	copy[target_len] = '\0';
	const char *uri = origin_form(copy);
	size_t path_len = strcspn(uri, "?");
	/* as route_request() counts it: a fixed route's path with a '/' after
	 * it is "other" for the methods that route takes */
	bool slash_refused = fixed_route_with_slash(method_of(method, method_len), uri, path_len) != NULL;
	count_answer(route_slot(slash_refused ? -1 : route_index(uri, path_len)), status);
}

void http_api_metrics_render(struct evbuffer *out)
{
	static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
	size_t n = sizeof routes / sizeof routes[0];
	prom_text_header(out, "eventsys_http_requests_total", "counter",
	                 "HTTP requests answered, by route and status class.");
	for (size_t i = 0; i <= n; i++) {
		int slot = i < n ? (int)i : ROUTE_SLOTS - 1;
		char label[96];
		prom_text_label(label, sizeof label, "route", i < n ? route_label(&routes[i]) : "other");
		for (int c = 0; c < 5; c++)
			evbuffer_add_printf(out, "eventsys_http_requests_total{%s,code=\"%s\"} %llu\n", label, classes[c],
			                    (unsigned long long)atomic_load(&route_requests[slot][c]));
	}
	prom_text_header(out, "eventsys_http_request_duration_seconds", "histogram", "Time to answer an HTTP request.");
	for (size_t i = 0; i <= n; i++) {
		int slot = i < n ? (int)i : ROUTE_SLOTS - 1;
		char label[96];
		prom_text_label(label, sizeof label, "route", i < n ? route_label(&routes[i]) : "other");
		prom_text_histogram(out, "eventsys_http_request_duration_seconds", label, &route_latency[slot]);
	}
}

void http_api_handle(struct evhttp_request *req, void *arg)
{
	http_api_thread *api = arg;
	/* evhttp answers with the request's version: "HTTP/1.9 200" to an
	 * HTTP/1.9 request.  RFC 9110 section 2.5: the highest minor version
	 * the server is conformant to (the gate lets only HTTP/1.x in). */
	if (req->minor > 1)
		req->minor = 1;
	api_request r = {.req = req, .thread = api, .daemon = api->daemon, .route = -1, .start_us = clock_monotonic_us()};
	/* One snapshot of routes and settings for the whole request (a reload
	 * swaps both at once), borrowed: what outlives this call takes its own
	 * reference. */
	table_borrow borrow;
	r.table = router_borrow(api->daemon->router, &borrow);
	r.config = routing_table_config(r.table);
	r.access_log = r.config->access_log;
	route_request(&r);
	router_return(&borrow);
}
