/*
 * The event endpoints: trigger (plain JSON, and CloudEvents in structured,
 * binary and batch mode), batch and test, including synchronous triggers
 * that wait for the plugins' outcomes without blocking the loop thread.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cloudevents.h"
#include "delivery_watch.h"
#include "event.h"
#include "http_api_internal.h"
#include "log.h"
#include "plugin_instance.h"
#include "router.h"
#include "trigger_parse.h"

#define BATCH_MAX_EVENTS 10000

typedef enum body_kind {
	BODY_JSON,          /* our own event object */
	BODY_CE_STRUCTURED, /* application/cloudevents+json */
	BODY_CE_BATCH,      /* application/cloudevents-batch+json */
	BODY_CE_BINARY,     /* ce-* headers, the body is the data */
	BODY_UNSUPPORTED,
} body_kind;

static bool media_type_is(const char *ct, const char *type)
{
	size_t n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == strlen(type) && strncasecmp(ct, type, n) == 0;
}

static body_kind classify(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *ct = evhttp_find_header(h, "Content-Type");
	if (evhttp_find_header(h, "ce-specversion"))
		return BODY_CE_BINARY;
	if (!ct || media_type_is(ct, "application/json"))
		return BODY_JSON; /* no Content-Type: assume JSON, as most clients mean it */
	if (media_type_is(ct, "application/cloudevents+json"))
		return BODY_CE_STRUCTURED;
	if (media_type_is(ct, "application/cloudevents-batch+json"))
		return BODY_CE_BATCH;
	return BODY_UNSUPPORTED;
}

static void unsupported_media_type(api_request *r)
{
	atomic_fetch_add_explicit(&api_media_type, 1, memory_order_relaxed);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Content-Type");
	char msg[300];
	snprintf(msg, sizeof msg,
	         "Content-Type must be application/json, application/cloudevents+json or "
	         "application/cloudevents-batch+json (or CloudEvents binary mode with ce-* headers), not '%.100s' "
	         "(with curl: -H 'Content-Type: application/json')",
	         ct ? ct : "");
	api_error(r, 415, "unsupported_media_type", msg);
}

/* The body, contiguous; NULL after answering when it is too large or the
 * server is stopping. */
static const char *take_body(api_request *r, size_t *len)
{
	if (atomic_load_explicit(&r->daemon->stopping, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&api_unavailable, 1, memory_order_relaxed);
		api_header(r, "Retry-After", "5");
		api_error(r, 503, "shutting_down", "the server is shutting down");
		return NULL;
	}
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	*len = evbuffer_get_length(in);
	size_t limit = r->config->max_event_size;
	if (*len > limit) {
		atomic_fetch_add_explicit(&api_too_large, 1, memory_order_relaxed);
		char msg[128];
		snprintf(msg, sizeof msg, "the body is %zu bytes; event.max_event_size is %zu", *len, limit);
		api_error(r, 413, "too_large", msg);
		return NULL;
	}
	const char *body = (const char *)evbuffer_pullup(in, -1);
	return body ? body : "";
}

static void bad_request(api_request *r, const char *message)
{
	atomic_fetch_add_explicit(&api_bad_request, 1, memory_order_relaxed);
	api_error(r, 400, "bad_request", message);
}

/* ---- binary mode headers ---- */

/* Collect ce-* headers (percent-decoded, owned by p). */
static int binary_headers(struct evhttp_request *req, trigger_parsed *p, ce_header *out, size_t cap, size_t *count,
                          char *err, size_t err_size)
{
	struct evkeyval *h;
	*count = 0;
	TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next)
	{
		if (strncasecmp(h->key, "ce-", 3) != 0)
			continue;
		if (*count == cap) {
			snprintf(err, err_size, "more than %zu ce-* headers", cap);
			return 400;
		}
		size_t n = 0;
		char *decoded = trigger_parsed_own(p, evhttp_uridecode(h->value, 0, &n));
		if (!decoded) {
			snprintf(err, err_size, "too many ce-* headers");
			return 400;
		}
		out[*count].name = h->key + 3;
		out[*count].value = decoded;
		(*count)++;
	}
	return 0;
}

/* ---- synchronous triggers ---- */

typedef struct sync_wait {
	api_request r; /* r.req cleared when the client goes away */
	delivery_watch *watch;
	char id[EVENT_ID_MAX + 1];
	char name[EVENT_NAME_MAX + 1];
} sync_wait;

static void on_client_gone(struct evhttp_connection *conn, void *arg)
{
	sync_wait *s = arg;
	s->r.req = NULL; /* libevent frees the request; keep waiting, answer nobody */
}

static void on_sync_done(delivery_watch *w, bool timed_out, void *arg)
{
	sync_wait *s = arg;
	const watch_outcome *o;
	size_t n = delivery_watch_outcomes(w, &o);
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "id", s->id);
	cJSON_AddStringToObject(obj, "name", s->name);
	cJSON *matched = cJSON_AddArrayToObject(obj, "matched");
	cJSON *outcomes = cJSON_AddObjectToObject(obj, "outcomes");
	size_t ok = 0;
	for (size_t i = 0; i < n; i++) {
		cJSON_AddItemToArray(matched, cJSON_CreateString(o[i].plugin));
		cJSON *p = cJSON_AddObjectToObject(outcomes, o[i].plugin);
		cJSON_AddStringToObject(p, "status", o[i].status);
		if (strcmp(o[i].status, "pending") != 0)
			cJSON_AddNumberToObject(p, "attempts", o[i].attempts);
		if (o[i].timed_out)
			cJSON_AddBoolToObject(p, "timed_out", 1);
		if (o[i].error[0])
			cJSON_AddStringToObject(p, "error", o[i].error);
		ok += strcmp(o[i].status, "ok") == 0;
	}
	const char *status = timed_out ? "timeout" : n == 0 ? "unmatched" : ok == n ? "ok" : "failed";
	cJSON_AddStringToObject(obj, "status", status);
	char *text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (s->r.req) {
		evhttp_connection_set_closecb(evhttp_request_get_connection(s->r.req), NULL, NULL);
		if (text)
			api_reply(&s->r, timed_out ? 504 : 200, text, strlen(text));
		else
			api_error(&s->r, 500, "internal", "out of memory");
	}
	cJSON_free(text);
	delivery_watch_close(w);
	free(s);
}

/* ---- submitting one parsed event ---- */

typedef struct submitted {
	int status;         /* 202, or 503 busy, 500 */
	es_event *event;    /* our reference, or NULL */
	dispatch_result dr;
} submitted;

/* Create and dispatch; `table` is held by the caller.  For a synchronous
 * trigger `s` is the waiter, which this arms (or cleans up on failure). */
static void submit(api_request *r, routing_table *table, trigger_parsed *p, sync_wait *s, submitted *out)
{
	if (s) {
		delivery_watch_ref(s->watch); /* for the event */
		p->fields.watch = s->watch;
	}
	out->event = event_create(&p->fields);
	if (!out->event) {
		if (s)
			delivery_watch_release(s->watch);
		out->status = 500;
		return;
	}
	if (router_dispatch(table, out->event, &out->dr) == DISPATCH_BUSY) {
		atomic_fetch_add_explicit(&api_busy, 1, memory_order_relaxed);
		LOG_WARN("http", "event %s (%s) refused: queue of plugin '%s' is full", out->event->id, out->event->name,
		         plugin_instance_name(out->dr.busy));
		out->status = 503;
		return;
	}
	atomic_fetch_add_explicit(&api_accepted, 1, memory_order_relaxed);
	out->status = 202;
	if (s) {
		const char *names[ROUTER_MAX_TARGETS];
		for (size_t i = 0; i < out->dr.matched; i++)
			names[i] = plugin_instance_name(out->dr.targets[i]);
		snprintf(s->id, sizeof s->id, "%s", out->event->id);
		snprintf(s->name, sizeof s->name, "%s", out->event->name);
		delivery_watch_arm(s->watch, names, out->dr.matched);
	}
}

static void reply_busy(api_request *r, const submitted *sub)
{
	char msg[200];
	snprintf(msg, sizeof msg, "the queue of plugin '%s' is full; the event was not accepted by any plugin",
	         plugin_instance_name(sub->dr.busy));
	api_header(r, "Retry-After", "1");
	api_error(r, 503, "busy", msg);
}

static void reply_accepted(api_request *r, const submitted *sub)
{
	/* Built by hand: ids, names and plugin names need no escaping (their
	 * grammars exclude quotes and backslashes), and this is the hot path. */
	char buf[1024];
	size_t n = 0;
#define PUT(s, len)                                                  \
	do {                                                         \
		if (n + (len) < sizeof buf) {                        \
			memcpy(buf + n, (s), (len));                 \
			n += (len);                                  \
		}                                                    \
	} while (0)
#define PUTS(s) PUT((s), strlen(s))
	PUTS("{\"id\":\"");
	PUTS(sub->event->id);
	PUTS("\",\"name\":\"");
	PUTS(sub->event->name);
	PUTS("\",\"matched\":[");
	for (size_t i = 0; i < sub->dr.matched; i++) {
		if (i)
			PUT(",", 1);
		PUT("\"", 1);
		PUTS(plugin_instance_name(sub->dr.targets[i]));
		PUT("\"", 1);
	}
	PUT("]}", 2);
#undef PUTS
#undef PUT
	evbuffer_add(evhttp_request_get_output_buffer(r->req), buf, n);
	api_reply_buffer(r, 202);
}

/* One event, now or (sync) when its outcomes are in. */
static void trigger_one(api_request *r, trigger_parsed *p, bool sync)
{
	routing_table *table = r->table;
	sync_wait *s = NULL;
	if (sync) {
		s = calloc(1, sizeof *s);
		struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
		if (s)
			s->watch = delivery_watch_create(evhttp_connection_get_base(conn), routing_table_size(table),
			                                 r->config->sync_timeout_ms, on_sync_done, s);
		if (!s || !s->watch) {
			free(s);
			api_error(r, 500, "internal", "out of memory");
			return;
		}
		s->r = *r;
		s->r.table = NULL; /* only valid inside this handler */
		s->r.config = NULL;
	}
	submitted sub = {0};
	submit(r, table, p, s, &sub);
	if (sub.status == 202 && s) {
		/* answered from on_sync_done() on this thread */
		evhttp_connection_set_closecb(evhttp_request_get_connection(r->req), on_client_gone, s);
	} else {
		if (s) {
			delivery_watch_close(s->watch);
			free(s);
		}
		if (sub.status == 202)
			reply_accepted(r, &sub);
		else if (sub.status == 503)
			reply_busy(r, &sub);
		else
			api_error(r, 500, "internal", "out of memory");
	}
	if (sub.event)
		event_unref(sub.event);
}

static bool wants_wait(api_request *r, bool from_body)
{
	char v[16];
	if (api_query(r, "wait", v, sizeof v))
		return strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
	return from_body;
}

/* ---- batches ---- */

/* Each item of a JSON array as an event; answers per item. */
static void trigger_batch(api_request *r, cJSON *array, bool cloudevents)
{
	int n = cJSON_GetArraySize(array);
	if (n > BATCH_MAX_EVENTS) {
		char msg[96];
		snprintf(msg, sizeof msg, "a batch holds at most %d events, not %d", BATCH_MAX_EVENTS, n);
		bad_request(r, msg);
		return;
	}
	routing_table *table = r->table;
	cJSON *results = cJSON_CreateArray();
	int accepted = 0, index = 0;
	const cJSON *item;
	cJSON_ArrayForEach(item, array)
	{
		trigger_parsed p;
		memset(&p, 0, sizeof p);
		char err[256];
		int st = cloudevents ? cloudevent_parse_structured(item, &p, err, sizeof err)
		                     : trigger_parse_object(item, &p, err, sizeof err);
		cJSON *res = cJSON_CreateObject();
		cJSON_AddNumberToObject(res, "index", index++);
		if (st != 0) {
			atomic_fetch_add_explicit(&api_bad_request, 1, memory_order_relaxed);
			cJSON_AddNumberToObject(res, "status", 400);
			cJSON_AddStringToObject(res, "error", "bad_request");
			cJSON_AddStringToObject(res, "message", err);
		} else {
			submitted sub = {0};
			submit(r, table, &p, NULL, &sub);
			cJSON_AddNumberToObject(res, "status", sub.status);
			if (sub.status == 202) {
				accepted++;
				cJSON_AddStringToObject(res, "id", sub.event->id);
				cJSON *m = cJSON_AddArrayToObject(res, "matched");
				for (size_t i = 0; i < sub.dr.matched; i++)
					cJSON_AddItemToArray(m, cJSON_CreateString(plugin_instance_name(sub.dr.targets[i])));
			} else {
				cJSON_AddStringToObject(res, "error", sub.status == 503 ? "busy" : "internal");
				if (sub.status == 503)
					cJSON_AddStringToObject(res, "plugin", plugin_instance_name(sub.dr.busy));
			}
			if (sub.event)
				event_unref(sub.event);
		}
		trigger_parsed_free(&p);
		cJSON_AddItemToArray(results, res);
	}
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddNumberToObject(obj, "accepted", accepted);
	cJSON_AddNumberToObject(obj, "rejected", n - accepted);
	cJSON_AddItemToObject(obj, "results", results);
	char *text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	/* 202 when every event was accepted; 207 when the answers differ */
	if (text)
		api_reply(r, accepted == n ? 202 : 207, text, strlen(text));
	else
		api_error(r, 500, "internal", "out of memory");
	cJSON_free(text);
}

static cJSON *parse_array(api_request *r, const char *body, size_t len)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (!root) {
		char msg[96];
		snprintf(msg, sizeof msg, "malformed JSON at byte %zu", end && end >= body ? (size_t)(end - body) : 0);
		bad_request(r, msg);
		return NULL;
	}
	if (!cJSON_IsArray(root)) {
		cJSON_Delete(root);
		bad_request(r, "a batch must be a JSON array of events");
		return NULL;
	}
	return root;
}

/* A body that must be a JSON array of events, answered per event. */
static void answer_batch(api_request *r, const char *body, size_t len, bool cloudevents)
{
	cJSON *array = parse_array(r, body, len);
	if (array) {
		trigger_batch(r, array, cloudevents);
		cJSON_Delete(array);
	}
}

/* ---- endpoints ---- */

void api_trigger(api_request *r)
{
	body_kind kind = classify(r->req);
	if (kind == BODY_UNSUPPORTED) {
		unsupported_media_type(r);
		return;
	}
	size_t len;
	const char *body = take_body(r, &len);
	if (!body)
		return;
	if (kind == BODY_CE_BATCH) {
		answer_batch(r, body, len, true);
		return;
	}
	trigger_parsed p;
	char err[256];
	int st;
	if (kind == BODY_CE_BINARY) {
		memset(&p, 0, sizeof p);
		ce_header headers[48];
		size_t count = 0;
		st = binary_headers(r->req, &p, headers, 48, &count, err, sizeof err);
		if (st == 0)
			st = cloudevent_parse_binary(headers, count,
			                             evhttp_find_header(evhttp_request_get_input_headers(r->req), "Content-Type"),
			                             body, len, &p, err, sizeof err);
	} else if (kind == BODY_CE_STRUCTURED) {
		memset(&p, 0, sizeof p);
		const char *end = NULL;
		p.root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
		if (!p.root) {
			snprintf(err, sizeof err, "malformed JSON at byte %zu", end && end >= body ? (size_t)(end - body) : 0);
			st = 400;
		} else {
			st = cloudevent_parse_structured(p.root, &p, err, sizeof err);
		}
	} else {
		st = trigger_parse(body, len, &p, err, sizeof err);
	}
	if (st != 0)
		bad_request(r, err);
	else
		trigger_one(r, &p, wants_wait(r, p.sync));
	trigger_parsed_free(&p);
}

void api_batch(api_request *r)
{
	body_kind kind = classify(r->req);
	if (kind != BODY_JSON && kind != BODY_CE_BATCH) {
		unsupported_media_type(r);
		return;
	}
	size_t len;
	const char *body = take_body(r, &len);
	if (body)
		answer_batch(r, body, len, kind == BODY_CE_BATCH);
}

void api_test(api_request *r)
{
	size_t len;
	if (!take_body(r, &len))
		return;
	char data[128];
	char when[40];
	time_t now = (time_t)(clock_realtime_us() / 1000000);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(data, sizeof data, "{\"test\":true,\"requested_at\":\"%s\"}", when);
	trigger_parsed p;
	memset(&p, 0, sizeof p);
	p.fields.name = "system.test";
	p.fields.source = "event-system/test";
	p.fields.data = data;
	p.fields.data_len = strlen(data);
	LOG_INFO("http", "test event requested: firing system.test through the pipeline");
	trigger_one(r, &p, true);
}
