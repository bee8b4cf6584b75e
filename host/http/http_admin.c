/*
 * Admin endpoints: POST /api/admin/reload (reload and answer with its
 * result) and GET /api/admin/reload (the last reload's report).  The
 * reload runs on the main thread; the HTTP thread polls its report on a
 * timer of its own base, so no thread blocks.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/es_event.h"
#include "http/http_api_internal.h"
#include "control/reload.h"
#include "http/waiter_limit.h"

#define POLL_MS 10
#define WAIT_LIMIT_US (120 * 1000000LL)

struct admin_wait {
	api_request r; /* r.req cleared when the client goes away */
	uint64_t number;
	int64_t deadline_us;
	struct event *timer;
	struct admin_wait *next; /* in the thread's list */
};

static cJSON *report_json(const reload_report *rep)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "generation", (double)rep->generation);
	cJSON_AddNumberToObject(o, "reloads", (double)rep->completed);
	cJSON_AddNumberToObject(o, "failures", (double)rep->failures);
	if (rep->last_time_us) {
		char when[40];
		time_t secs = (time_t)(rep->last_time_us / 1000000);
		struct tm tm;
		gmtime_r(&secs, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		cJSON *last = cJSON_AddObjectToObject(o, "last");
		cJSON_AddStringToObject(last, "time", when);
		cJSON_AddStringToObject(last, "result", rep->last_ok ? "ok" : "failed");
		cJSON_AddStringToObject(last, "by", rep->last_by);
		cJSON_AddNumberToObject(last, "duration_ms", rep->last_duration_ms);
		if (!rep->last_ok)
			cJSON_AddStringToObject(last, "error", rep->last_error);
		cJSON_AddStringToObject(last, "changes", rep->last_changes);
	}
	return o;
}

static void reply_report(api_request *r, int status, const reload_report *rep)
{
	cJSON *obj = report_json(rep);
	char *text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (!text) {
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	api_reply(r, status, text, strlen(text));
	cJSON_free(text);
}

static void unlink_wait(struct admin_wait *w)
{
	http_api_thread *t = w->r.thread;
	for (struct admin_wait **p = (struct admin_wait **)&t->admin_waits; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
}

/* Answer `w` (unless its client left) and free it: with its reload's report
 * when that reload has finished, else with `status` (504 at the wait limit,
 * 503 when the server stops).  Returns whether an answer was sent. */
static bool answer_wait(struct admin_wait *w, int status)
{
	reload_report rep;
	reload_report_get(w->r.daemon, &rep);
	bool done = rep.served >= w->number;
	bool answered = w->r.req != NULL;
	api_request_unwatch(&w->r);
	if (answered && done)
		reply_report(&w->r, rep.last_ok ? 200 : 422, &rep);
	else if (answered && status == 503)
		api_error(&w->r, 503, "shutting_down",
		          "the server is shutting down before this reload finished; it was not applied");
	else if (answered)
		api_error(&w->r, 504, "timeout", "the reload did not finish in time; see GET /api/admin/reload");
	unlink_wait(w);
	event_free(w->timer);
	free(w);
	waiter_limit_give();
	return answered;
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct admin_wait *w = arg;
	reload_report rep;
	reload_report_get(w->r.daemon, &rep);
	if (rep.served < w->number && clock_monotonic_us() < w->deadline_us)
		return;
	answer_wait(w, 504);
}

void api_admin_reload(api_request *r)
{
	if (evhttp_request_get_command(r->req) == EVHTTP_REQ_GET) {
		reload_report rep;
		reload_report_get(r->daemon, &rep);
		reply_report(r, 200, &rep);
		return;
	}
	/* Stopping: a reload would not run, and the wait would be cut short. */
	if (atomic_load(&r->daemon->stopping)) {
		api_error(r, 503, "shutting_down", "the server is shutting down");
		return;
	}
	if (!waiter_limit_take(r->config->max_waiters)) {
		waiter_limit_refuse(r, r->config->max_waiters);
		return;
	}
	struct admin_wait *w = calloc(1, sizeof *w);
	struct event_base *base = evhttp_connection_get_base(evhttp_request_get_connection(r->req));
	if (w)
		w->timer = event_new(base, -1, EV_PERSIST, on_poll, w);
	if (!w || !w->timer) {
		free(w);
		waiter_limit_give();
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	char who[96];
	snprintf(who, sizeof who, "api token %s", r->token_name[0] ? r->token_name : "(none)");
	api_request_keep(&w->r, r);
	w->number = reload_request(r->daemon, who);
	w->deadline_us = clock_monotonic_us() + WAIT_LIMIT_US;
	w->next = r->thread->admin_waits;
	r->thread->admin_waits = w;
	api_request_watch(&w->r);
	struct timeval every = {.tv_sec = 0, .tv_usec = (suseconds_t)POLL_MS * 1000};
	event_add(w->timer, &every);
}

size_t api_admin_answer_waits(http_api_thread *t)
{
	size_t answered = 0;
	struct admin_wait *w = t->admin_waits;
	while (w) {
		struct admin_wait *next = w->next;
		answered += answer_wait(w, 503); /* unlinks and frees it */
		w = next;
	}
	return answered;
}

void api_admin_free_waits(http_api_thread *t)
{
	struct admin_wait *w = t->admin_waits;
	while (w) {
		struct admin_wait *next = w->next;
		event_free(w->timer);
		free(w);
		waiter_limit_give();
		w = next;
	}
	t->admin_waits = NULL;
}
