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

#include "db/database.h"
#include "core/delivery_watch.h"
#include "core/js_link.h"
#include "core/pipeline.h"
#include "http/waiter_limit.h"
#include "model/es_event.h"
#include "http/http_api_internal.h"
#include "model/event_request.h"
#include "util/json_strict.h"
#include "util/log.h"
#include "util/percent.h"
#include "core/plugin_instance.h"
#include "core/router.h"
#include "model/trigger_parse.h"

#define BATCH_MAX_EVENTS 10000

static body_kind classify(const api_request *r)
{
	return event_request_kind(r->content_type, r->has_ce_specversion);
}

/* 415 with `message`, counted. */
static void refuse_media_type(api_request *r, const char *message)
{
	atomic_fetch_add_explicit(&api_media_type, 1, memory_order_relaxed);
	api_error(r, 415, "unsupported_media_type", message);
}

static void unsupported_media_type(api_request *r)
{
	const char *ct = r->content_type;
	char msg[300];
	snprintf(msg, sizeof msg,
	         "Content-Type must be application/json, application/cloudevents+json or "
	         "application/cloudevents-batch+json (or CloudEvents binary mode with ce-* headers), not '%.100s' "
	         "(with curl: -H 'Content-Type: application/json')",
	         ct ? ct : "");
	refuse_media_type(r, msg);
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

/* Collect ce-* headers as received (cloudevent_parse_binary() decodes
 * them); they point into the request's headers. */
static int binary_headers(struct evhttp_request *req, ce_header *out, size_t cap, size_t *count, char *err,
                          size_t err_size)
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
		out[*count].name = h->key + 3;
		out[*count].value = h->value;
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

/* Drop a waiter that will not (or did) answer; NULL is fine.  Gives its
 * waiter slot back. */
static void sync_wait_free(sync_wait *s)
{
	if (!s)
		return;
	delivery_watch_close(s->watch);
	free(s);
	waiter_limit_give();
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
	api_request_unwatch(&s->r);
	if (s->r.req) {
		if (text)
			api_reply(&s->r, timed_out ? 504 : 200, text, strlen(text));
		else
			api_error(&s->r, 500, "internal", "out of memory");
	}
	cJSON_free(text);
	sync_wait_free(s);
}

/* ---- submitting parsed events ---- */

typedef struct submitted {
	int status;         /* 202, or 503 busy, 500 */
	es_event *event;    /* our reference, or NULL */
	dispatch_result dr; /* 4 KB, filled by dispatch_created() as far as used: not cleared */
} submitted;

/* The event for `p` (with the waiter's watch and a database key); NULL
 * when out of memory (the watch reference is dropped then). */
static es_event *create_event(database *db, trigger_parsed *p, sync_wait *s)
{
	if (s) {
		delivery_watch_ref(s->watch); /* for the event */
		p->fields.watch = s->watch;
		p->fields.watch_unref = delivery_watch_unref;
	}
	es_event *event = pipeline_event_create(db, &p->fields);
	if (!event && s)
		delivery_watch_unref(s->watch);
	return event;
}

/* Admit `out->event` through `table` (held by the caller) with the waiter
 * `s` when there is one, and count the answer (core/pipeline.h).  With
 * `later`, its deliveries are collected there (a batch pushes them
 * together). */
static void dispatch_created(database *db, routing_table *table, sync_wait *s, push_later *later, submitted *out)
{
	if (s) {
		snprintf(s->id, sizeof s->id, "%s", out->event->id);
		snprintf(s->name, sizeof s->name, "%s", out->event->name);
	}
	admission a;
	admission_clear(&a);
	a.watch = s ? s->watch : NULL;
	a.later = later;
	admit_status st = pipeline_admit(db, table, out->event, &a);
	dispatch_result_copy(&out->dr, &a.result);
	if (st == ADMIT_NO_MEMORY) {
		LOG_ERROR("http", "event %s (%s) refused: out of memory for its waiter", out->event->id, out->event->name);
		out->status = 500;
		return;
	}
	if (st == ADMIT_BUSY) {
		atomic_fetch_add_explicit(&api_busy, 1, memory_order_relaxed);
		plugin_instance_note_queue_full(out->dr.busy, out->event); /* one line per interval, with the count */
		out->status = 503;
		return;
	}
	atomic_fetch_add_explicit(&api_accepted, 1, memory_order_relaxed);
	for (size_t i = 0; i < out->dr.matched; i++)
		plugin_instance_note_accepted(out->dr.targets[i]);
	out->status = 202;
}

/* Create and dispatch now (no database, or its async mode, which records
 * the event on the side).  For a synchronous trigger `s` is the waiter,
 * which this arms. */
static void submit(database *db, routing_table *table, trigger_parsed *p, sync_wait *s, submitted *out)
{
	out->event = create_event(db, p, s);
	if (!out->event) {
		out->status = 500;
		return;
	}
	pipeline_record(db, out->event);
	dispatch_created(db, table, s, NULL, out);
}

static void reply_busy(api_request *r, const submitted *sub)
{
	char msg[200];
	snprintf(msg, sizeof msg, "the queue of plugin '%s' is full; the event was not accepted by any plugin",
	         plugin_instance_name(sub->dr.busy));
	api_header(r, "Retry-After", "1");
	api_error(r, 503, "busy", msg);
}

/* The database's reasons are "summary (detail)", the detail being the
 * driver's text (hosts, users, sockets, schema: db/database.h): only a
 * request that may see details gets it (security.md, like /health's
 * reasons.database); the log always has it. */
static void reply_database_unavailable(api_request *r, const char *why)
{
	atomic_fetch_add_explicit(&api_unavailable, 1, memory_order_relaxed);
	char msg[700];
	bool cut;
	int shown = api_visible_reason(r, why, &cut);
	snprintf(msg, sizeof msg, "the event was not accepted: %.*s%s", shown, why,
	         cut ? " (details for admin tokens: GET /health)" : "");
	api_header(r, "Retry-After", "5");
	api_error(r, 503, "database_unavailable", msg);
}

/* An answer is built in one piece of memory and handed to the output
 * buffer once: each evbuffer_add() takes the buffer's lock, and the first
 * allocates a chain of at least 1 KB.  `buf` may start as the caller's
 * array (`on_heap` false): it moves to the heap when it must grow. */
typedef struct text {
	char *buf;
	size_t len, cap;
	bool on_heap; /* buf is ours to free */
	bool failed;  /* out of memory: the answer is a 500 */
} text;

static void put_bytes(text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		while (cap < t->len + n)
			cap *= 2;
		char *buf = t->on_heap ? realloc(t->buf, cap) : malloc(cap);
		if (!buf) {
			t->failed = true;
			return;
		}
		if (!t->on_heap && t->len)
			memcpy(buf, t->buf, t->len);
		t->buf = buf;
		t->cap = cap;
		t->on_heap = true;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
}

static void put_text(text *t, const char *s)
{
	put_bytes(t, s, strlen(s));
}

static void text_free(text *t)
{
	if (t->on_heap)
		free(t->buf);
	t->buf = NULL;
}

static void put_int(text *t, long long v)
{
	char digits[24];
	size_t n = sizeof digits;
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	do {
		digits[--n] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		digits[--n] = '-';
	put_bytes(t, digits + n, sizeof digits - n);
}

static void reply_accepted(api_request *r, const submitted *sub)
{
	/* Built by hand: ids, names and plugin names need no escaping (their
	 * grammars exclude quotes and backslashes), and this is the hot path.
	 * One evbuffer_add() of the whole answer; up to ROUTER_MAX_TARGETS
	 * names of 64 characters each move it to the heap. */
	char inline_buf[1024];
	text t = {.buf = inline_buf, .cap = sizeof inline_buf};
	put_text(&t, "{\"id\":\"");
	put_text(&t, sub->event->id);
	put_text(&t, "\",\"name\":\"");
	put_text(&t, sub->event->name);
	put_text(&t, "\",\"matched\":[");
	for (size_t i = 0; i < sub->dr.matched; i++) {
		put_text(&t, i ? ",\"" : "\"");
		put_text(&t, plugin_instance_name(sub->dr.targets[i]));
		put_text(&t, "\"");
	}
	for (size_t i = 0; i < sub->dr.elsewhere; i++) { /* JetStream: run by other nodes */
		put_text(&t, i + sub->dr.matched ? ",\"" : "\"");
		put_text(&t, sub->dr.elsewhere_names[i]);
		put_text(&t, "\"");
	}
	put_text(&t, "]}");
	if (t.failed) {
		/* no memory for a long list of names: the event is accepted all
		 * the same, and the answer says so without "matched" (an id and
		 * a name fit in inline_buf) */
		text_free(&t);
		t = (text){.buf = inline_buf, .cap = sizeof inline_buf};
		put_text(&t, "{\"id\":\"");
		put_text(&t, sub->event->id);
		put_text(&t, "\",\"name\":\"");
		put_text(&t, sub->event->name);
		put_text(&t, "\"}");
	}
	api_reply(r, 202, t.buf, t.len);
	text_free(&t);
}

/* The answer to one submitted event, now or (sync) when its outcomes are in. */
static void answer_submitted(api_request *r, sync_wait *s, submitted *sub)
{
	if (sub->status == 202 && s) {
		/* answered from on_sync_done() on this thread */
		if (r->req)
			api_request_watch(&s->r);
		else
			s->r.req = NULL; /* gone while its event was being stored */
		return;
	}
	sync_wait_free(s);
	if (!r->req)
		return;
	if (sub->status == 202)
		reply_accepted(r, sub);
	else if (sub->status == 503)
		reply_busy(r, sub);
	else
		api_error(r, 500, "internal", "out of memory");
}

static sync_wait *sync_wait_new(api_request *r)
{
	sync_wait *s = calloc(1, sizeof *s);
	struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
	if (s)
		s->watch = delivery_watch_create(evhttp_connection_get_base(conn), r->config->sync_timeout_ms,
		                                 on_sync_done, s);
	if (!s || !s->watch) {
		free(s);
		return NULL;
	}
	api_request_keep(&s->r, r);
	return s;
}

/* ---- durable mode: answered once the event rows are committed ---- */

typedef struct stored_wait {
	api_request r;        /* r.req NULL once the client went away */
	db_ticket *ticket;
	sync_wait *sync;      /* one event with ?wait=true, or NULL */
	es_event *event;      /* one event: our reference */
	struct batch *batch;  /* a batch, or NULL */
} stored_wait;

static void batch_dispatch_and_answer(struct batch *b, api_request *r, routing_table *table, bool stored);
static void batch_fail(struct batch *b, api_request *r, int status, const char *why);

/* The answer when the database did not store an event. */
static void reply_not_stored(api_request *r, int status, const char *why)
{
	if (status == 413) {
		atomic_fetch_add_explicit(&api_too_large, 1, memory_order_relaxed);
		char msg[400];
		snprintf(msg, sizeof msg, "the event was not accepted: %s", why);
		api_error(r, 413, "too_large", msg);
	} else {
		reply_database_unavailable(r, why);
	}
}

static void on_stored(db_ticket *ticket, int status, const char *why, void *arg)
{
	stored_wait *w = arg;
	bool stored = status == 0;
	api_request_unwatch(&w->r); /* if the client left, the events are still dispatched */
	routing_table *table = stored ? router_acquire(w->r.daemon->router) : NULL;
	if (stored && w->event)
		w->event->stored = true;
	if (w->batch) {
		if (stored)
			batch_dispatch_and_answer(w->batch, &w->r, table, true);
		else
			batch_fail(w->batch, &w->r, status, why);
	} else if (stored) {
		submitted sub; /* not `= {...}`: see batch_dispatch_and_answer() */
		sub.event = w->event;
		dispatch_created(w->r.daemon->db, table, w->sync, NULL, &sub);
		answer_submitted(&w->r, w->sync, &sub);
	} else {
		sync_wait_free(w->sync);
		if (w->r.req)
			reply_not_stored(&w->r, status, why);
	}
	if (table)
		routing_table_unref(table);
	if (w->event)
		es_event_unref(w->event);
	db_ticket_free(ticket);
	free(w);
}

/* Queue `count` events for the database with `w` waiting; false (after
 * answering 503) when the database refuses them at once. */
static bool store_and_wait(api_request *r, stored_wait *w, es_event *const *events, size_t count)
{
	api_request_keep(&w->r, r);
	struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
	w->ticket = db_ticket_new(r->daemon->db, evhttp_connection_get_base(conn), on_stored, w);
	char why[600];
	if (!w->ticket) {
		api_error(r, 500, "internal", "out of memory");
		return false;
	}
	if (pipeline_store(r->daemon->db, events, count, w->ticket, why, sizeof why) != 0) {
		db_ticket_free(w->ticket);
		reply_database_unavailable(r, why);
		return false;
	}
	api_request_watch(&w->r);
	return true;
}

static void trigger_one_durable(api_request *r, trigger_parsed *p, sync_wait *s)
{
	stored_wait *w = calloc(1, sizeof *w);
	es_event *event = w ? create_event(r->daemon->db, p, s) : NULL;
	if (!event) {
		sync_wait_free(s);
		free(w);
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	w->event = event;
	w->sync = s;
	if (!store_and_wait(r, w, &event, 1)) {
		es_event_unref(event);
		sync_wait_free(s);
		free(w);
	}
}

/* ---- the JetStream backend: answered once JetStream stored the event ---- */

/* One refusal line per episode and window, not one per event: the link
 * logs the connection going and coming back. */
static void log_js_refusal(const char *why)
{
	static _Atomic int64_t last_us;
	int64_t now = clock_monotonic_us(), last = atomic_load_explicit(&last_us, memory_order_relaxed);
	if (now - last < 10000000 ||
	    !atomic_compare_exchange_strong_explicit(&last_us, &last, now, memory_order_relaxed, memory_order_relaxed))
		return;
	LOG_WARN("http", "events refused (503): %s", why);
}

static void reply_js_refused(api_request *r, const char *why)
{
	atomic_fetch_add_explicit(&api_unavailable, 1, memory_order_relaxed);
	log_js_refusal(why);
	char msg[400];
	bool cut;
	int shown = api_visible_reason(r, why, &cut); /* the server's details: for an admin */
	snprintf(msg, sizeof msg, "the event was not accepted: %.*s%s", shown, why,
	         cut ? " (details for admin tokens: GET /health)" : "");
	api_header(r, "Retry-After", "2");
	api_error(r, 503, "queue_unavailable", msg);
}

typedef struct published_wait {
	api_request r;         /* r.req NULL once the client went away */
	routing_table *table;  /* held: sub.dr's targets are borrowed from it */
	submitted sub;
} published_wait;

static void published_wait_free(published_wait *w)
{
	routing_table_unref(w->table);
	es_event_unref(w->sub.event);
	free(w);
}

static void on_published(int status, const char *why, void *arg)
{
	published_wait *w = arg;
	api_request_unwatch(&w->r);
	if (status == JS_PUBLISH_STORED) {
		atomic_fetch_add_explicit(&api_accepted, 1, memory_order_relaxed);
		/* its history row once JetStream holds it: a refused event has none */
		pipeline_record_published(w->r.daemon->db, w->sub.event, true);
		if (w->r.req)
			reply_accepted(&w->r, &w->sub);
	} else if (w->r.req) {
		reply_js_refused(&w->r, why);
	} else {
		atomic_fetch_add_explicit(&api_unavailable, 1, memory_order_relaxed);
		log_js_refusal(why);
	}
	published_wait_free(w);
}

static void trigger_one_published(api_request *r, trigger_parsed *p)
{
	published_wait *w = calloc(1, sizeof *w);
	es_event *event = w ? create_event(r->daemon->db, p, NULL) : NULL;
	if (!event) {
		free(w);
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	w->sub.event = event;
	w->table = router_acquire(r->daemon->router);
	struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
	char why[300];
	publish_start st = pipeline_publish(r->daemon->jetstream, w->table, event, &w->sub.dr,
	                                    evhttp_connection_get_base(conn), on_published, w, why, sizeof why);
	if (st == PUBLISH_PENDING) {
		api_request_keep(&w->r, r);
		api_request_watch(&w->r);
		return;
	}
	if (st == PUBLISH_UNMATCHED) {
		atomic_fetch_add_explicit(&api_accepted, 1, memory_order_relaxed);
		pipeline_record_published(r->daemon->db, event, false);
		reply_accepted(r, &w->sub);
	} else {
		reply_js_refused(r, why);
	}
	published_wait_free(w);
}

/* One event, now or (sync) when its outcomes are in. */
static void trigger_one(api_request *r, trigger_parsed *p, bool sync)
{
	routing_table *table = r->table;
	sync_wait *s = NULL;
	if (r->daemon->jetstream) {
		if (sync) {
			bad_request(r, "waiting for the outcomes (?wait=true, /api/events/test) is not available with "
			               "queue.backend jetstream: the plugins run on any node");
			return;
		}
		trigger_one_published(r, p);
		return;
	}
	if (sync && !waiter_limit_take(r->config->max_waiters)) {
		waiter_limit_refuse(r, r->config->max_waiters);
		return;
	}
	if (sync && !(s = sync_wait_new(r))) {
		waiter_limit_give();
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	if (database_durable(r->daemon->db)) {
		trigger_one_durable(r, p, s);
		return;
	}
	submitted sub; /* not `= {0}`: see batch_dispatch_and_answer() */
	sub.event = NULL;
	sub.status = 0;
	submit(r->daemon->db, table, p, s, &sub);
	answer_submitted(r, s, &sub);
	if (sub.event)
		es_event_unref(sub.event);
}

/* s[0..n) of a query string, percent-decoded into out (QUERY_PART_MAX
 * bytes); false when longer, with a broken escape, or with %00. */
#define QUERY_PART_MAX 64 /* any spelling of "wait" or "false" fits */
static bool query_decode(const char *s, size_t n, char out[QUERY_PART_MAX])
{
	if (n >= QUERY_PART_MAX)
		return false;
	ssize_t len = percent_decode(s, n, true, out);
	return len >= 0 && strlen(out) == (size_t)len;
}

/* Whether to wait for the outcomes: ?wait=true or 1 (any case; a bare
 * ?wait or ?wait= too), ?wait=false or 0, else the body's "sync".  Key and
 * value are percent-decoded.  A value that is none of these, wait given
 * twice, or false against "sync": true is answered 400 (-1): read as "do
 * not wait", it would answer 202 where the client meant to wait. */
static int wait_wanted(api_request *r, bool from_body)
{
	int wanted = -1; /* not given */
	const char *q = r->query;
	size_t query_len = q ? strcspn(q, "#") : 0; /* a fragment is not part of it */
	for (size_t at = 0; at < query_len;) {
		size_t n = strcspn(q + at, "&#");
		size_t key_len = strcspn(q + at, "=&#");
		char key[QUERY_PART_MAX], value[QUERY_PART_MAX];
		if (query_decode(q + at, key_len, key) && strcmp(key, "wait") == 0) {
			const char *v = q + at + key_len + (key_len < n); /* past '=' */
			size_t v_len = n - key_len - (key_len < n);
			bool read = query_decode(v, v_len, value);
			bool yes = read && (!value[0] || strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0);
			bool no = read && (strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0);
			if (wanted != -1 || (!yes && !no)) {
				bad_request(r, wanted != -1 ? "query parameter wait is given more than once"
				                            : "query parameter wait must be true or false (or 1 or 0)");
				return -1;
			}
			wanted = yes;
		}
		at += n + 1;
	}
	if (wanted == -1)
		return from_body;
	if (from_body && !wanted) {
		bad_request(r, "query parameter wait is false but the body's \"sync\" is true: give one of them");
		return -1;
	}
	return wanted;
}

/* ---- batches ---- */

/* One item's answer, written out by hand in batch_reply(): a batch of
 * 100 events built as cJSON objects cost a dozen allocations and two
 * number-to-text conversions per event, more than parsing the batch. */
typedef struct batch_result {
	int status;         /* 400, 500, or the event's answer once known */
	const char *error;  /* a fixed code ("bad_request", "busy", ...), or NULL */
	char *message;      /* owned, or NULL */
	const char *plugin; /* the busy plugin's name (borrowed from the table), or NULL */
	const char *id;     /* the event's id (borrowed from the event), or NULL */
	size_t first_name;  /* "matched": names[first_name .. first_name + matched) */
	size_t matched;
	bool with_matched;
} batch_result;

/* A batch's answers: one result per item, in order.  Items that parsed
 * become events, dispatched now or once the database stored them.  The
 * plugin names are borrowed from the routing table that routed the
 * events, which the caller holds until the answer is written. */
typedef struct batch {
	batch_result *results;
	int items;
	int accepted;
	es_event **events;
	batch_result **slots; /* the result of each event */
	size_t count;
	const char **names;
	size_t name_count, name_cap;
} batch;

static void batch_free(batch *b)
{
	for (size_t i = 0; i < b->count; i++)
		es_event_unref(b->events[i]);
	for (int i = 0; b->results && i < b->items; i++)
		free(b->results[i].message);
	free(b->results);
	free(b->events);
	free(b->slots);
	free(b->names);
	free(b);
}

/* Keep the names of dr's plugins (those run here, then those run by other
 * nodes: JetStream) as res's "matched"; out of memory leaves "matched" out
 * of the answer (the event was still accepted).  The names are borrowed
 * from the routing table the batch holds. */
static void batch_set_matched(batch *b, batch_result *res, const dispatch_result *dr)
{
	size_t matched = dr->matched + dr->elsewhere;
	if (b->name_count + matched > b->name_cap) {
		size_t cap = b->name_cap ? b->name_cap * 2 : 64;
		while (cap < b->name_count + matched)
			cap *= 2;
		const char **names = realloc(b->names, cap * sizeof *names);
		if (!names)
			return;
		b->names = names;
		b->name_cap = cap;
	}
	res->first_name = b->name_count;
	res->matched = matched;
	res->with_matched = true;
	for (size_t k = 0; k < matched; k++)
		b->names[b->name_count++] = k < dr->matched ? plugin_instance_name(dr->targets[k])
		                                            : dr->elsewhere_names[k - dr->matched];
}

/* "key":"value" for values that need no escaping: ids, plugin names and
 * the error codes (their grammars exclude quotes and backslashes). */
static void put_plain(text *t, const char *key, const char *value)
{
	put_text(t, ",\"");
	put_text(t, key);
	put_text(t, "\":\"");
	put_text(t, value);
	put_text(t, "\"");
}

/* A message may quote client bytes: escaped by cJSON. */
static void put_escaped(text *t, const char *key, const char *value)
{
	cJSON *s = cJSON_CreateStringReference(value);
	char *escaped = s ? cJSON_PrintUnformatted(s) : NULL;
	cJSON_Delete(s);
	if (!escaped) {
		t->failed = true;
		return;
	}
	put_text(t, ",\"");
	put_text(t, key);
	put_text(t, "\":");
	put_text(t, escaped);
	cJSON_free(escaped);
}

static void put_result(text *t, const batch *b, const batch_result *res, int index)
{
	put_text(t, index ? ",{\"index\":" : "{\"index\":");
	put_int(t, index);
	put_text(t, ",\"status\":");
	put_int(t, res->status);
	if (res->id)
		put_plain(t, "id", res->id);
	if (res->with_matched) {
		put_text(t, ",\"matched\":[");
		for (size_t k = 0; k < res->matched; k++) {
			put_text(t, k ? ",\"" : "\"");
			put_text(t, b->names[res->first_name + k]);
			put_text(t, "\"");
		}
		put_text(t, "]");
	}
	if (res->error)
		put_plain(t, "error", res->error);
	if (res->plugin)
		put_plain(t, "plugin", res->plugin);
	if (res->message)
		put_escaped(t, "message", res->message);
	put_text(t, "}");
}

static void batch_reply(batch *b, api_request *r)
{
	if (!r->req)
		return;
	text t = {0};
	put_text(&t, "{\"accepted\":");
	put_int(&t, b->accepted);
	put_text(&t, ",\"rejected\":");
	put_int(&t, b->items - b->accepted);
	put_text(&t, ",\"results\":[");
	for (int i = 0; !t.failed && i < b->items; i++)
		put_result(&t, b, &b->results[i], i);
	put_text(&t, "]}");
	/* 202 when every event was accepted; 207 when the answers differ */
	if (t.failed)
		api_error(r, 500, "internal", "out of memory");
	else
		api_reply(r, b->accepted == b->items ? 202 : 207, t.buf, t.len);
	text_free(&t);
}

static void batch_dispatch_and_answer(batch *b, api_request *r, routing_table *table, bool stored)
{
	/* Every event's slots are reserved first; then each plugin's queue
	 * takes all of its deliveries under one lock, with one wake-up. */
	push_later later = {0};
	for (size_t i = 0; i < b->count; i++) {
		b->events[i]->stored = stored;
		/* not `= {...}`: that clears sub.dr's 4 KB, which
		 * dispatch_created() fills as far as it is used */
		submitted sub;
		sub.event = b->events[i];
		dispatch_created(r->daemon->db, table, NULL, &later, &sub);
		batch_result *res = b->slots[i];
		res->status = sub.status;
		if (sub.status == 202) {
			b->accepted++;
			res->id = sub.event->id;
			batch_set_matched(b, res, &sub.dr);
		} else {
			res->error = "busy";
			res->plugin = plugin_instance_name(sub.dr.busy);
		}
	}
	push_later_flush(&later);
	batch_reply(b, r);
	batch_free(b);
}

/* The database could not store the batch: none of it was accepted. */
static void batch_fail(batch *b, api_request *r, int status, const char *why)
{
	if (r->req)
		reply_not_stored(r, status, why);
	batch_free(b);
}

/* The JetStream backend: each event of the batch published on its own;
 * the answer (per event) once JetStream answered for all of them. */
typedef struct batch_wait {
	api_request r;
	routing_table *table; /* held while publishes are under way */
	batch *b;
	size_t remaining;     /* publishes not yet answered, +1 while starting them */
} batch_wait;

typedef struct batch_item_wait {
	batch_wait *bw;
	batch_result *res;
	es_event *event; /* held by bw->b */
} batch_item_wait;

static void batch_wait_step(batch_wait *bw)
{
	if (--bw->remaining)
		return;
	api_request_unwatch(&bw->r);
	batch_reply(bw->b, &bw->r);
	batch_free(bw->b);
	routing_table_unref(bw->table);
	free(bw);
}

static void batch_item_answer(batch_wait *bw, batch_result *res, int status, const char *why)
{
	bool cut;
	int shown = api_visible_reason(&bw->r, why, &cut); /* as reply_js_refused() */
	res->status = status == JS_PUBLISH_STORED ? 202 : 503;
	if (status == JS_PUBLISH_STORED) {
		bw->b->accepted++;
		atomic_fetch_add_explicit(&api_accepted, 1, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&api_unavailable, 1, memory_order_relaxed);
		log_js_refusal(why);
		res->error = "queue_unavailable";
		res->message = strndup(why, (size_t)shown); /* out of memory: answered without it */
	}
}

static void on_batch_item_published(int status, const char *why, void *arg)
{
	batch_item_wait *iw = arg;
	batch_wait *bw = iw->bw;
	if (status == JS_PUBLISH_STORED)
		pipeline_record_published(bw->r.daemon->db, iw->event, true); /* as for one trigger */
	batch_item_answer(bw, iw->res, status, why);
	free(iw);
	batch_wait_step(bw);
}

static void batch_publish_and_answer(batch *b, api_request *r)
{
	batch_wait *bw = calloc(1, sizeof *bw);
	if (!bw) {
		batch_free(b);
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	bw->b = b;
	bw->table = router_acquire(r->daemon->router);
	bw->remaining = 1;
	api_request_keep(&bw->r, r);
	struct event_base *base = evhttp_connection_get_base(evhttp_request_get_connection(r->req));
	dispatch_result *dr = malloc(sizeof *dr);
	for (size_t i = 0; i < b->count; i++) {
		batch_result *res = b->slots[i];
		res->id = b->events[i]->id;
		batch_item_wait *iw = dr ? calloc(1, sizeof *iw) : NULL;
		if (!iw) {
			batch_item_answer(bw, res, JS_PUBLISH_UNAVAILABLE, "out of memory");
			continue;
		}
		iw->bw = bw;
		iw->res = res;
		iw->event = b->events[i];
		char why[300];
		publish_start st = pipeline_publish(r->daemon->jetstream, bw->table, b->events[i], dr, base,
		                                    on_batch_item_published, iw, why, sizeof why);
		batch_set_matched(b, res, dr);
		if (st == PUBLISH_PENDING) {
			bw->remaining++;
			continue;
		}
		free(iw);
		if (st == PUBLISH_UNMATCHED)
			pipeline_record_published(r->daemon->db, b->events[i], false);
		batch_item_answer(bw, res, st == PUBLISH_UNMATCHED ? JS_PUBLISH_STORED : JS_PUBLISH_UNAVAILABLE, why);
	}
	free(dr);
	api_request_watch(&bw->r);
	batch_wait_step(bw); /* our own step: answers now when nothing is pending */
}

/* Each item of a JSON array as an event; answers per item.  `body` is
 * the array's text (strictly valid), so each item's data is taken as
 * written. */
static void trigger_batch(api_request *r, const cJSON *array, const char *body, size_t len, bool cloudevents)
{
	int n = cJSON_GetArraySize(array);
	if (n > BATCH_MAX_EVENTS) {
		char msg[96];
		snprintf(msg, sizeof msg, "a batch holds at most %d events, not %d", BATCH_MAX_EVENTS, n);
		bad_request(r, msg);
		return;
	}
	batch *b = calloc(1, sizeof *b);
	if (b) {
		b->results = calloc((size_t)n + 1, sizeof *b->results);
		b->events = calloc((size_t)n + 1, sizeof *b->events);
		b->slots = calloc((size_t)n + 1, sizeof *b->slots);
	}
	if (!b || !b->results || !b->events || !b->slots) {
		if (b)
			batch_free(b);
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	b->items = n;
	int index = 0;
	batch_cursor c;
	for (batch_cursor_start(&c, array, body, len); c.item; batch_cursor_next(&c)) {
		trigger_parsed p;
		char err[256];
		int st = event_request_parse_item(&c, cloudevents, &p, err, sizeof err);
		batch_result *res = &b->results[index++];
		es_event *event = st == 0 ? create_event(r->daemon->db, &p, NULL) : NULL;
		if (st != 0) {
			atomic_fetch_add_explicit(&api_bad_request, 1, memory_order_relaxed);
			res->status = 400;
			res->error = "bad_request";
			utf8_repair(err); /* it may quote client bytes cut mid-character */
			res->message = strdup(err); /* out of memory: answered without it */
		} else if (!event) {
			res->status = 500;
			res->error = "internal";
		} else {
			b->events[b->count] = event;
			b->slots[b->count++] = res;
		}
		trigger_parsed_free(&p);
	}
	if (b->count && r->daemon->jetstream) {
		batch_publish_and_answer(b, r);
		return;
	}
	if (b->count && database_durable(r->daemon->db)) {
		stored_wait *w = calloc(1, sizeof *w);
		if (!w) {
			batch_free(b);
			api_error(r, 500, "internal", "out of memory");
			return;
		}
		w->batch = b;
		if (!store_and_wait(r, w, b->events, b->count)) {
			batch_free(b);
			free(w);
		}
		return;
	}
	for (size_t i = 0; i < b->count; i++)
		pipeline_record(r->daemon->db, b->events[i]);
	batch_dispatch_and_answer(b, r, r->table, false);
}

/* A body that must be a JSON array of events, answered per event. */
static void answer_batch(api_request *r, const char *body, size_t len, bool cloudevents)
{
	json_tree tree;
	char msg[256];
	if (event_request_parse_batch(body, len, &tree, msg, sizeof msg) != 0) {
		json_tree_release(&tree);
		bad_request(r, msg);
		return;
	}
	/* each event copies what it keeps from the tree */
	trigger_batch(r, tree.root, body, len, cloudevents);
	json_tree_release(&tree);
}

/* ---- endpoints ---- */

void api_trigger(api_request *r)
{
	body_kind kind = classify(r);
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
	trigger_parsed_clear(&p);
	char err[256];
	ce_header headers[CE_HEADERS_MAX];
	size_t count = 0;
	int st = kind == BODY_CE_BINARY ? binary_headers(r->req, headers, CE_HEADERS_MAX, &count, err, sizeof err) : 0;
	if (st == 0)
		st = event_request_parse(kind, r->content_type, headers, count, body, len, &p, err, sizeof err);
	int wait;
	if (st != 0)
		bad_request(r, err);
	else if ((wait = wait_wanted(r, p.sync)) >= 0) /* -1: answered */
		trigger_one(r, &p, wait == 1);
	trigger_parsed_free(&p);
}

/* The batch endpoint's 415: it takes two of the trigger's media types. */
static void unsupported_batch_media_type(api_request *r, body_kind kind)
{
	if (kind == BODY_CE_BINARY) {
		refuse_media_type(r, "a batch is not sent in CloudEvents binary mode (a ce-specversion header): send the "
		                     "JSON array without ce-* headers, as application/json or "
		                     "application/cloudevents-batch+json");
		return;
	}
	char msg[300];
	snprintf(msg, sizeof msg,
	         "Content-Type of a batch must be application/json or application/cloudevents-batch+json, not "
	         "'%.100s' (one event goes to /api/events/trigger)",
	         r->content_type ? r->content_type : "");
	refuse_media_type(r, msg);
}

void api_batch(api_request *r)
{
	body_kind kind = classify(r);
	if (kind != BODY_JSON && kind != BODY_CE_BATCH) {
		unsupported_batch_media_type(r, kind);
		return;
	}
	int wait = wait_wanted(r, false); /* answered 400 when -1 */
	if (wait == 1)
		bad_request(r, "query parameter wait (to wait for the outcomes) is not taken by the batch endpoint: a "
		               "batch is answered once its events are queued; send the events one by one with "
		               "?wait=true to wait for them");
	if (wait != 0)
		return;
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
	trigger_parsed_clear(&p);
	p.fields.name = "system.test";
	p.fields.source = "event-system/test";
	p.fields.data = data;
	p.fields.data_len = strlen(data);
	LOG_INFO("http", "test event requested: firing system.test through the pipeline");
	trigger_one(r, &p, true);
}
