/*
 * The event history endpoints (database.enabled):
 *
 *   GET  /api/events/{id}                 the event and its deliveries
 *   GET  /api/events?name=&since=&until=&limit=&before=
 *                                         newest first; `next_before` pages on
 *   GET  /api/dead-letters?plugin=&limit=&before=
 *   POST /api/dead-letters/{id}/replay    deliver the event to that plugin again
 *
 * With queue.backend jetstream the dead letters are those of the stream
 * <stream>_DEAD (core/js_dead_letters.h), whether a database runs or not.
 *
 * Parameters are checked here; the queries run on the database reader
 * thread and are answered back on this loop thread (never blocking it).
 */
#include "config.h"

#include <errno.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/js_dead_letters.h"
#include "db/database.h"
#include "model/es_event.h"
#include "http/http_api_internal.h"

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 1000

typedef struct history_wait {
	api_request r; /* r.req NULL once the client went away */
} history_wait;

static void on_answer(int status, const char *body, void *arg)
{
	history_wait *w = arg;
	api_request_unwatch(&w->r);
	if (w->r.req) {
		if (status == 503)
			api_header(&w->r, "Retry-After", "5");
		api_reply(&w->r, status, body, strlen(body));
	}
	free(w);
}

/* A wait for an answer from another thread: the client's request kept until
 * on_answer() replies (or finds it gone). NULL (answered 500) without memory. */
static history_wait *wait_begin(api_request *r, struct event_base **base)
{
	history_wait *w = calloc(1, sizeof *w);
	if (!w) {
		api_error(r, 500, "internal", "out of memory");
		return NULL;
	}
	api_request_keep(&w->r, r);
	*base = evhttp_connection_get_base(evhttp_request_get_connection(r->req));
	return w;
}

/* After the request was handed over (queued == 0) or refused (the queue is
 * full or its thread is down: 503 with `why`, the wait freed). */
static void wait_submitted(api_request *r, history_wait *w, int queued, const char *code, const char *why)
{
	if (queued != 0) {
		free(w);
		api_header(r, "Retry-After", "5");
		api_error(r, 503, code, why);
		return;
	}
	api_request_watch(&w->r);
}

/* queue.backend jetstream: the dead letters live in <stream>_DEAD
 * (core/js_dead_letters.h), listed and replayed on its thread. */
static void submit_jetstream(api_request *r, const db_request *q)
{
	js_dead_request jq = {.kind = q->kind == DB_LIST_DEAD ? JS_DEAD_LIST : JS_DEAD_REPLAY,
	                      .limit = q->limit, .before = q->before};
	snprintf(jq.plugin, sizeof jq.plugin, "%s", q->plugin);
	snprintf(jq.actor, sizeof jq.actor, "%s", q->actor);
	if (q->kind == DB_REPLAY_DEAD)
		jq.id = strtoull(q->key, NULL, 10);
	struct event_base *base;
	history_wait *w = wait_begin(r, &base);
	if (!w)
		return;
	char why[300];
	int queued = js_dead_letters_request(r->daemon->dead_letters, &jq, base, on_answer, w, why, sizeof why);
	wait_submitted(r, w, queued, "queue_unavailable", why);
}

static void submit(api_request *r, db_request *q)
{
	if (r->token_name[0] && strcmp(r->token_name, "-") != 0)
		snprintf(q->actor, sizeof q->actor, "token:%.56s", r->token_name);
	else
		snprintf(q->actor, sizeof q->actor, "api (no token)");
	if (r->daemon->dead_letters && (q->kind == DB_LIST_DEAD || q->kind == DB_REPLAY_DEAD)) {
		submit_jetstream(r, q);
		return;
	}
	if (!database_running(r->daemon->db)) {
		api_error(r, 404, "not_found",
		          "event history needs a database: set database.enabled and database.dsn (docs/operations.md)");
		return;
	}
	struct event_base *base;
	history_wait *w = wait_begin(r, &base);
	if (!w)
		return;
	char why[300];
	int queued = database_request(r->daemon->db, q, base, on_answer, w, why, sizeof why);
	wait_submitted(r, w, queued, "database_unavailable", why);
}

static void bad_parameter(api_request *r, const char *message)
{
	api_error(r, 400, "bad_request", message);
}

/* The latest instant a bound may name: 9999-12-31T23:59:59Z, the last one
 * RFC 3339 can write (and far below where seconds * 10^6 would overflow). */
#define WHEN_MAX_SECONDS 253402300799LL

typedef enum when_status { WHEN_OK, WHEN_MALFORMED, WHEN_OUT_OF_RANGE } when_status;

/* RFC 3339 UTC ("2026-11-26T10:00:00Z", fractions allowed) or Unix
 * seconds, into *us. */
static when_status parse_when(const char *text, int64_t *us)
{
	if (*text >= '0' && *text <= '9' && strspn(text, "0123456789") == strlen(text)) {
		errno = 0;
		char *end;
		long long secs = strtoll(text, &end, 10);
		if (errno == ERANGE || secs > WHEN_MAX_SECONDS)
			return WHEN_OUT_OF_RANGE;
		*us = (int64_t)secs * 1000000;
		return WHEN_OK;
	}
	struct tm tm = {0};
	int consumed = 0;
	if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	           &tm.tm_sec, &consumed) != 6)
		return WHEN_MALFORMED;
	const char *p = text + consumed;
	long frac = 0;
	int digits = 0;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (digits < 6) {
				frac = frac * 10 + (*p - '0');
				digits++;
			}
	while (digits && digits < 6) {
		frac *= 10;
		digits++;
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return WHEN_MALFORMED;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t secs = timegm(&tm);
	if (secs < 0 || secs > WHEN_MAX_SECONDS)
		return WHEN_OUT_OF_RANGE;
	*us = (int64_t)secs * 1000000 + frac;
	return WHEN_OK;
}

/* limit and before, shared by the lists; false after answering 400. */
static bool paging(api_request *r, db_request *q)
{
	char v[64];
	q->limit = LIST_LIMIT_DEFAULT;
	if (api_query(r, "limit", v, sizeof v)) {
		char *end;
		unsigned long n = strtoul(v, &end, 10);
		if (!*v || *end || n < 1 || n > LIST_LIMIT_MAX) {
			char msg[96];
			snprintf(msg, sizeof msg, "limit must be a whole number from 1 to %d", LIST_LIMIT_MAX);
			bad_parameter(r, msg);
			return false;
		}
		q->limit = (uint32_t)n;
	}
	if (api_query(r, "before", v, sizeof v)) {
		char *end;
		q->before = strtoull(v, &end, 10);
		if (!*v || *end || q->before == 0) {
			bad_parameter(r, "before must be the next_before value of a previous page");
			return false;
		}
	}
	return true;
}

void api_events_list(api_request *r)
{
	db_request q = {.kind = DB_LIST_EVENTS};
	char v[300];
	if (api_query(r, "name", v, sizeof v)) {
		char why[200];
		/* a name, or a pattern where '*' stands for any characters */
		char check[300];
		size_t n = 0;
		for (const char *p = v; *p && n + 1 < sizeof check; p++)
			check[n++] = *p == '*' ? 'x' : *p;
		check[n] = '\0';
		if (!es_event_name_valid(check, n, why, sizeof why)) {
			char msg[300];
			snprintf(msg, sizeof msg, "name: %s", why);
			bad_parameter(r, msg);
			return;
		}
		snprintf(q.name, sizeof q.name, "%.255s", v);
	}
	static const char *const bounds[] = {"since", "until"};
	for (int i = 0; i < 2; i++) {
		if (!api_query(r, bounds[i], v, sizeof v))
			continue;
		int64_t us = 0;
		when_status st = parse_when(v, &us);
		if (st != WHEN_OK) {
			char msg[200];
			if (st == WHEN_OUT_OF_RANGE)
				snprintf(msg, sizeof msg,
				         "%s is out of range: from 1970-01-01T00:00:00Z (Unix seconds 0) to "
				         "9999-12-31T23:59:59Z (Unix seconds %lld)",
				         bounds[i], WHEN_MAX_SECONDS);
			else
				snprintf(msg, sizeof msg,
				         "%s must be an RFC 3339 UTC time (2026-11-26T10:00:00Z) or Unix seconds", bounds[i]);
			bad_parameter(r, msg);
			return;
		}
		*(i == 0 ? &q.since_us : &q.until_us) = us;
	}
	if (paging(r, &q))
		submit(r, &q);
}

void api_event_get(api_request *r)
{
	db_request q = {.kind = DB_GET_EVENT};
	if (r->path_rest_len > EVENT_ID_MAX || memchr(r->path_rest, '/', r->path_rest_len)) {
		api_error(r, 404, "not_found", "no such endpoint (GET /api/events/{id})");
		return;
	}
	char raw[EVENT_ID_MAX * 3 + 1];
	snprintf(raw, sizeof raw, "%.*s", (int)r->path_rest_len, r->path_rest);
	char *id = evhttp_uridecode(raw, 0, NULL);
	if (!id || !es_event_id_valid(id, strlen(id))) {
		free(id);
		bad_parameter(r, "not a valid event id");
		return;
	}
	snprintf(q.key, sizeof q.key, "%s", id);
	free(id);
	submit(r, &q);
}

void api_dead_letters_list(api_request *r)
{
	db_request q = {.kind = DB_LIST_DEAD};
	char v[80];
	if (api_query(r, "plugin", v, sizeof v))
		snprintf(q.plugin, sizeof q.plugin, "%.64s", v);
	if (paging(r, &q))
		submit(r, &q);
}

void api_dead_letter_replay(api_request *r)
{
	db_request q = {.kind = DB_REPLAY_DEAD};
	/* "{id}/replay" */
	const char *p = r->path_rest;
	size_t n = 0;
	while (n < r->path_rest_len && p[n] >= '0' && p[n] <= '9')
		n++;
	static const char tail[] = "/replay";
	if (n == 0 || n > 19 || r->path_rest_len - n != sizeof tail - 1 || memcmp(p + n, tail, sizeof tail - 1) != 0) {
		api_error(r, 404, "not_found", "no such endpoint (POST /api/dead-letters/{id}/replay)");
		return;
	}
	snprintf(q.key, sizeof q.key, "%.*s", (int)n, p);
	submit(r, &q);
}
