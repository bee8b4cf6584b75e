/*
 * Dead letters of the JetStream backend: see js_dead_letters.h.
 *
 * Locks: `lock` guards the queue of requests and `stop`; the NATS requests
 * run with it released.  Every NATS request waits API_WAIT_MS at most and
 * a list stops scanning after LIST_SCAN_MAX messages or LIST_DEADLINE_US,
 * answering what it found with the page's cursor, so one request holds the
 * thread a few seconds at most.
 */
#include "config.h"

#include "core/js_dead_letters.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/database.h"
#include "util/clock.h"
#include "util/job_queue.h"
#include "util/log.h"
#include "util/rfc3339.h"

typedef struct dead_job {
	js_dead_request req;
	struct event *wake; /* on the asker's base */
	js_dead_done done;
	void *arg;
	int status;
	char *body;
	job_queue_link link; /* in js_dead_letters.jobs */
} dead_job;

static dead_job *dead_job_of(job_queue_link *link)
{
	return link ? (dead_job *)((char *)link - offsetof(dead_job, link)) : NULL;
}

struct js_dead_letters {
	js_link *link;
	database *db; /* the audit log's table, or NULL */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	job_queue jobs; /* JS_DEAD_QUEUE_MAX at most; under lock */
	bool stop;
};

/* On the asker's thread. */
static void on_job_done(evutil_socket_t fd, short what, void *arg)
{
	dead_job *j = arg;
	j->done(j->status, j->body ? j->body : "{\"error\":\"internal\",\"message\":\"out of memory\"}", j->arg);
	event_free(j->wake);
	free(j->body);
	free(j);
}

static void answer(dead_job *j, int status, cJSON *body)
{
	j->status = status;
	j->body = body ? cJSON_PrintUnformatted(body) : NULL;
	cJSON_Delete(body);
	event_active(j->wake, 0, 0);
}

static void answer_error(dead_job *j, int status, const char *code, const char *message)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "error", code);
	cJSON_AddStringToObject(o, "message", message);
	answer(j, status, o);
}

#ifdef HAVE_NATS

#define API_WAIT_MS 5000
#define LIST_SCAN_MAX 5000
#define LIST_DEADLINE_US 5000000

/* What JetStream says about the stream's sequences: first and last. */
static int stream_bounds(jsCtx *js, const char *stream, uint64_t *first, uint64_t *last, char *why, size_t why_size)
{
	jsOptions o;
	jsOptions_Init(&o);
	o.Wait = API_WAIT_MS;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, js, stream, &o, &jerr);
	if (s != NATS_OK) {
		snprintf(why, why_size, "cannot read the stream %s: %s", stream,
		         nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(s));
		return -1;
	}
	*first = si->State.FirstSeq;
	*last = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	return 0;
}

/* One dead letter by id: 0 found, 1 not there (never was, or removed),
 * -1 JetStream did not answer (why). */
static int get_dead(jsCtx *js, const char *stream, uint64_t id, natsMsg **msg, char *why, size_t why_size)
{
	jsOptions o;
	jsOptions_Init(&o);
	o.Wait = API_WAIT_MS;
	jsErrCode jerr = 0;
	natsStatus s = js_GetMsg(msg, js, stream, id, &o, &jerr);
	if (s == NATS_OK)
		return 0;
	if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr)
		return 1;
	snprintf(why, why_size, "cannot read dead letter %" PRIu64 ": %s", id,
	         nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(s));
	return -1;
}

static const char *header(natsMsg *msg, const char *name)
{
	const char *v = NULL;
	return natsMsgHeader_Get(msg, name, &v) == NATS_OK && v ? v : "";
}

/* The event a dead letter carries: its id and name, read from the body. */
static void add_event(cJSON *o, natsMsg *msg)
{
	cJSON *ev = cJSON_AddObjectToObject(o, "event");
	cJSON *body = cJSON_ParseWithLength(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
	const char *fields[] = {"id", "name"};
	for (size_t i = 0; i < 2; i++) {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, fields[i]);
		if (cJSON_IsString(f))
			cJSON_AddStringToObject(ev, fields[i], f->valuestring);
		else
			cJSON_AddNullToObject(ev, fields[i]);
	}
	cJSON_Delete(body);
}

static cJSON *dead_letter_json(uint64_t id, natsMsg *msg)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddStringToObject(o, "plugin", header(msg, "Es-Plugin"));
	cJSON_AddNumberToObject(o, "attempts", (double)strtoul(header(msg, "Es-Attempts"), NULL, 10));
	cJSON_AddStringToObject(o, "error", header(msg, "Es-Error"));
	char when[40];
	rfc3339_format(natsMsg_GetTime(msg) / 1000, when);
	cJSON_AddStringToObject(o, "created_at", when);
	add_event(o, msg);
	return o;
}

static void run_list(js_dead_letters *set, jsCtx *js, dead_job *j)
{
	const char *stream = js_link_dead_stream(set->link);
	char why[300];
	uint64_t first, last;
	if (stream_bounds(js, stream, &first, &last, why, sizeof why) != 0) {
		answer_error(j, 503, "queue_unavailable", why);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *list = cJSON_AddArrayToObject(o, "dead_letters");
	uint64_t seq = j->req.before ? j->req.before - 1 : last;
	if (seq > last)
		seq = last;
	uint32_t found = 0, scanned = 0;
	int64_t deadline = clock_monotonic_us() + LIST_DEADLINE_US;
	bool more = false;
	for (; seq >= first && seq > 0; seq--) {
		if (found == j->req.limit || scanned == LIST_SCAN_MAX || clock_monotonic_us() > deadline) {
			more = true; /* the page ends here: next_before is seq + 1 */
			break;
		}
		scanned++;
		natsMsg *msg = NULL;
		int got = get_dead(js, stream, seq, &msg, why, sizeof why);
		if (got < 0) {
			cJSON_Delete(o);
			answer_error(j, 503, "queue_unavailable", why);
			return;
		}
		if (got > 0)
			continue; /* replayed (removed) or expired */
		if (!j->req.plugin[0] || strcmp(header(msg, "Es-Plugin"), j->req.plugin) == 0) {
			cJSON_AddItemToArray(list, dead_letter_json(seq, msg));
			found++;
		}
		natsMsg_Destroy(msg);
	}
	if (more) {
		char next[24];
		snprintf(next, sizeof next, "%" PRIu64, seq + 1);
		cJSON_AddStringToObject(o, "next_before", next); /* a string, as the database's lists */
	} else {
		cJSON_AddNullToObject(o, "next_before");
	}
	answer(j, 200, o);
}

static void run_replay(js_dead_letters *set, jsCtx *js, dead_job *j)
{
	const char *stream = js_link_dead_stream(set->link);
	char why[300];
	natsMsg *dead = NULL;
	int got = get_dead(js, stream, j->req.id, &dead, why, sizeof why);
	if (got != 0) {
		if (got > 0)
			snprintf(why, sizeof why, "no dead letter %" PRIu64 " in %s (never, replayed already or expired)",
			         j->req.id, stream);
		answer_error(j, got > 0 ? 404 : 503, got > 0 ? "not_found" : "queue_unavailable", why);
		return;
	}
	char plugin[65];
	snprintf(plugin, sizeof plugin, "%s", header(dead, "Es-Plugin"));
	char subject[200];
	js_link_subject(set->link, plugin, subject, sizeof subject);
	natsMsg *again = NULL;
	natsStatus s = natsMsg_Create(&again, subject, NULL, natsMsg_GetData(dead), natsMsg_GetDataLength(dead));
	if (s == NATS_OK && *header(dead, "Es-Depth"))
		s = natsMsgHeader_Set(again, "Es-Depth", header(dead, "Es-Depth"));
	/* the history key: the replay's outcome is recorded against the event's row */
	if (s == NATS_OK && *header(dead, "Es-Seq"))
		s = natsMsgHeader_Set(again, "Es-Seq", header(dead, "Es-Seq"));
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = API_WAIT_MS;
	jsErrCode jerr = 0;
	if (s == NATS_OK)
		s = js_PublishMsg(NULL, js, again, &po, &jerr);
	natsMsg_Destroy(again);
	if (s != NATS_OK) {
		snprintf(why, sizeof why, "the dead letter's event was not stored again: %s",
		         nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(s));
		natsMsg_Destroy(dead);
		answer_error(j, 503, "queue_unavailable", why);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "dead_letter", (double)j->req.id);
	cJSON_AddStringToObject(o, "plugin", plugin);
	add_event(o, dead);
	cJSON_AddStringToObject(o, "status", "queued");
	natsMsg_Destroy(dead);
	/* Queued again: the dead letter leaves the stream.  Should that fail,
	 * it stays listed (a second replay would queue it twice): said. */
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = API_WAIT_MS;
	bool removed = js_DeleteMsg(js, stream, j->req.id, &jo, &jerr) == NATS_OK;
	if (!removed)
		LOG_WARN("jetstream", "dead letter %" PRIu64 " was queued again but could not be removed from %s",
		         j->req.id, stream);
	cJSON_AddBoolToObject(o, "removed", removed);
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
	const char *event_id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "id"));
	const char *event_name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "name"));
	char detail[400];
	snprintf(detail, sizeof detail, "dead letter %" PRIu64 ": event %s (%s) to plugin %s", j->req.id,
	         event_id ? event_id : "?", event_name ? event_name : "?", plugin);
	LOG_INFO("audit", "dead letter replayed by %s: %s", j->req.actor, detail);
	database_audit(set->db, j->req.actor, "dead_letter.replayed", detail);
	answer(j, 202, o);
}

static void run_job(js_dead_letters *set, dead_job *j)
{
	jsCtx *js = js_link_context(set->link);
	if (!js) {
		char why[256], msg[300];
		js_link_ready(set->link, why, sizeof why);
		snprintf(msg, sizeof msg, "JetStream is unavailable: %s", why);
		answer_error(j, 503, "queue_unavailable", msg);
		return;
	}
	if (j->req.kind == JS_DEAD_LIST)
		run_list(set, js, j);
	else
		run_replay(set, js, j);
}

#else /* without the NATS client: no JetStream link exists */

static void run_job(js_dead_letters *set, dead_job *j)
{
	answer_error(j, 404, "not_found", "this build has no NATS client");
}

#endif

static void *dead_main(void *arg)
{
	js_dead_letters *set = arg;
	pthread_mutex_lock(&set->lock);
	for (;;) {
		while (job_queue_empty(&set->jobs) && !set->stop)
			clock_cond_wait_us(&set->wake, &set->lock, 1000000);
		if (set->stop)
			break;
		dead_job *j = dead_job_of(job_queue_pop(&set->jobs));
		pthread_mutex_unlock(&set->lock);
		run_job(set, j);
		pthread_mutex_lock(&set->lock);
	}
	pthread_mutex_unlock(&set->lock);
	return NULL;
}

js_dead_letters *js_dead_letters_start(js_link *link, database *db)
{
	js_dead_letters *set = calloc(1, sizeof *set);
	if (!set)
		return NULL;
	set->link = link;
	set->db = db;
	job_queue_init(&set->jobs, JS_DEAD_QUEUE_MAX);
	pthread_mutex_init(&set->lock, NULL);
	clock_cond_init(&set->wake);
	if (pthread_create(&set->thread, NULL, dead_main, set) != 0) {
		pthread_mutex_destroy(&set->lock);
		pthread_cond_destroy(&set->wake);
		free(set);
		return NULL;
	}
	pthread_setname_np(set->thread, "es-js-dead");
	return set;
}

void js_dead_letters_stop(js_dead_letters *set)
{
	if (!set)
		return;
	pthread_mutex_lock(&set->lock);
	set->stop = true;
	pthread_cond_signal(&set->wake);
	pthread_mutex_unlock(&set->lock);
	pthread_join(set->thread, NULL); /* a request in progress ends within a few seconds */
	dead_job *j;
	while ((j = dead_job_of(job_queue_pop(&set->jobs))))
		answer_error(j, 503, "queue_unavailable", "the server is shutting down");
	pthread_mutex_destroy(&set->lock);
	pthread_cond_destroy(&set->wake);
	free(set);
}

int js_dead_letters_request(js_dead_letters *set, const js_dead_request *request, struct event_base *base,
                            js_dead_done done, void *arg, char *why, size_t why_size)
{
	dead_job *j = calloc(1, sizeof *j);
	if (j)
		j->wake = event_new(base, -1, 0, on_job_done, j);
	if (!j || !j->wake) {
		free(j);
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	j->req = *request;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&set->lock);
	bool taken = !set->stop && job_queue_push(&set->jobs, &j->link);
	if (taken)
		pthread_cond_signal(&set->wake);
	pthread_mutex_unlock(&set->lock);
	if (!taken) {
		event_free(j->wake);
		free(j);
		snprintf(why, why_size, "too many dead-letter requests at once (%d); try again", JS_DEAD_QUEUE_MAX);
		return -1;
	}
	return 0;
}
