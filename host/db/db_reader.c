/*
 * The database reader: one thread with its own connection for everything
 * that reads -- the history API, dead-letter replays -- and for the slow
 * housekeeping: redelivering an earlier run's unfinished events once the
 * plugins run, and the retention purge.  Requests wait in a small bounded
 * queue (a full one is answered 503 at once); housekeeping runs a page at
 * a time between requests, so neither starves the other.
 *
 * Ownership: a job belongs to the queue, then to this thread until it
 * activates the job's wake event; from then on the HTTP thread owns it and
 * frees it after calling done().
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db_internal.h"
#include "util/job_queue.h"
#include "util/log.h"

#define JOB_QUEUE_MAX 64
#define RECOVERY_PAGE 200
#define PURGE_BATCH 1000
#define BUSY_RETRY_US 20000 /* a full plugin queue during redelivery: retry the event after this */
#define CRASHES_MAX 512     /* crashes waiting to be written (the crash history keeps them too) */
#define CRASH_RETRY_US 1000000

typedef struct job {
	job_queue_link link; /* in reader.jobs */
	db_shared *db;
	db_request req;
	struct event *wake;
	db_request_done done;
	void *arg;
	int status;
	char *body;
} job;

typedef struct reader {
	db_shared *db;
	pthread_t thread;
	atomic_bool running; /* read by the writers (db_reader_wake) */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	job_queue jobs; /* history requests, JOB_QUEUE_MAX at most; under lock */
	bool stop;
	db_conn conn;
	bool recovery_done;
	uint64_t recovery_cursor;      /* the last event redelivered */
	int64_t recovery_retry_us;     /* a plugin queue was full: not before this (monotonic) */
	uint64_t recovered;
	int64_t next_purge_us;
	bool purging;
	uint64_t purged_this_run;
	int64_t purge_started_us;
	database_crash crashes[CRASHES_MAX]; /* under lock: waiting for delivery_crashes */
	_Atomic size_t crash_count;    /* written under lock; recovery_ready() reads it without */
	int64_t crash_retry_us;        /* writing them failed: not before this (monotonic) */
} reader;

/* ---- jobs and their answers ---- */

static void on_job_wake(evutil_socket_t fd, short what, void *arg)
{
	job *j = arg;
	j->done(j->status, j->body ? j->body : "{}", j->arg);
	db_wake_free(j->db, j->wake);
	free(j->body);
	free(j);
}

int database_request(database *db, const db_request *request, struct event_base *base, db_request_done done,
                     void *arg, char *why, size_t why_size)
{
	if (!database_running(db)) {
		snprintf(why, why_size, "no database is configured (database.enabled)");
		return -1;
	}
	if (atomic_load(&db->quiescing)) {
		snprintf(why, why_size, "the server is shutting down");
		return -1;
	}
	reader *r = db->reader;
	job *j = calloc(1, sizeof *j);
	if (j)
		j->db = db;
	if (!j || !(j->wake = db_wake_new(db, base, on_job_wake, j))) {
		free(j);
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	j->req = *request;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&r->lock);
	bool queued = job_queue_push(&r->jobs, &j->link);
	if (queued)
		pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	if (!queued) {
		db_wake_free(db, j->wake);
		free(j);
		snprintf(why, why_size, "too many history requests waiting (%d); retry shortly", JOB_QUEUE_MAX);
		return -1;
	}
	return 0;
}

static void answer(job *j, int status, cJSON *body)
{
	j->status = status;
	j->body = body ? cJSON_PrintUnformatted(body) : NULL;
	cJSON_Delete(body);
	db_wake_fire(j->db, j->wake); /* the job is the HTTP thread's from here */
}

static void answer_error(job *j, int status, const char *code, const char *message)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "error", code);
	cJSON_AddStringToObject(o, "message", message);
	answer(j, status, o);
}

/* The connection, opened on demand; false (with the reason logged by the
 * caller's answer) when the server cannot be reached. */
static bool connected(reader *r)
{
	if (r->conn.mysql)
		return true;
	if (db_connect(&r->conn, &r->db->settings.where, &r->db->settings.timeouts) == 0)
		return true;
	atomic_fetch_add(&r->db->counters.errors[DB_ERR_READ], 1);
	return false;
}

/* After a failed query: drop a broken connection (the next use reconnects). */
static void query_failed(reader *r)
{
	atomic_fetch_add(&r->db->counters.errors[DB_ERR_READ], 1);
	if (db_error_is_connection(&r->conn))
		db_close(&r->conn);
}

/* A query; a connection that went stale meanwhile (an outage since its
 * last use) is reopened and the query tried once more. */
static MYSQL_RES *run(reader *r, sqlbuf *sql)
{
	if (sql->failed) {
		snprintf(r->conn.error, sizeof r->conn.error, "out of memory");
		return NULL;
	}
	MYSQL_RES *res = db_query(&r->conn, sql->data, sql->len);
	if (!res && r->conn.error_code && db_error_is_connection(&r->conn) &&
	    db_connect(&r->conn, &r->db->settings.where, &r->db->settings.timeouts) == 0)
		res = db_query(&r->conn, sql->data, sql->len);
	if (!res)
		query_failed(r);
	return res;
}

static void unavailable(reader *r, job *j)
{
	char msg[700];
	snprintf(msg, sizeof msg, "the database is unavailable: %s", r->conn.error);
	answer_error(j, 503, "database_unavailable", msg);
}

/* ---- JSON of rows ---- */

static void add_time(cJSON *o, const char *key, const char *datetime)
{
	if (!datetime) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	char iso[40];
	db_format_iso(datetime, iso);
	cJSON_AddStringToObject(o, key, iso);
}

static void add_json(cJSON *o, const char *key, const char *text)
{
	cJSON *v = text ? cJSON_Parse(text) : NULL;
	cJSON_AddItemToObject(o, key, v ? v : cJSON_CreateNull());
}

#define EVENT_COLUMNS "seq,id,name,source,event_time,received_at,payload,attributes,state"

static cJSON *event_from_row(MYSQL_ROW row)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", row[1]);
	cJSON_AddStringToObject(o, "name", row[2]);
	cJSON_AddStringToObject(o, "source", row[3]);
	add_time(o, "time", row[4]);
	add_time(o, "received_at", row[5]);
	cJSON_AddStringToObject(o, "state", row[8]);
	cJSON_AddStringToObject(o, "seq", row[0]); /* a string: 64-bit keys do not fit a JSON double */
	add_json(o, "data", row[6]);
	if (row[7])
		add_json(o, "attributes", row[7]);
	return o;
}

/* ---- GET /api/events/{id} ---- */

static void get_event(reader *r, job *j)
{
	sqlbuf sql = {0};
	sqlbuf_adds(&sql, "SELECT " EVENT_COLUMNS " FROM events WHERE id=");
	sqlbuf_add_string(&sql, &r->conn, j->req.key, strlen(j->req.key));
	sqlbuf_adds(&sql, " ORDER BY seq DESC LIMIT 1");
	MYSQL_RES *res = run(r, &sql);
	sqlbuf_free(&sql);
	if (!res) {
		unavailable(r, j);
		return;
	}
	MYSQL_ROW row = mysql_fetch_row(res);
	if (!row) {
		mysql_free_result(res);
		char msg[300];
		snprintf(msg, sizeof msg, "no recorded event has id '%s' (or it was purged by retention)", j->req.key);
		answer_error(j, 404, "not_found", msg);
		return;
	}
	cJSON *event = event_from_row(row);
	char seq[32];
	snprintf(seq, sizeof seq, "%s", row[0]);
	mysql_free_result(res);

	sqlbuf_addf(&sql,
	            "SELECT d.plugin,d.status,d.attempts,d.timed_out,d.last_error,d.finished_at,d.latency_us,"
	            /* its own dead letter: written from the same outcome, with
	             * created_at = the delivery's finished_at (db_writer.c) */
	            "(SELECT MIN(l.id) FROM dead_letters l WHERE l.event_seq=d.event_seq AND l.plugin=d.plugin "
	            "AND l.created_at=d.finished_at) "
	            "FROM deliveries d WHERE d.event_seq=%s ORDER BY d.id",
	            seq);
	res = run(r, &sql);
	sqlbuf_free(&sql);
	if (!res) {
		cJSON_Delete(event);
		unavailable(r, j);
		return;
	}
	cJSON *deliveries = cJSON_AddArrayToObject(event, "deliveries");
	while ((row = mysql_fetch_row(res))) {
		cJSON *d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "plugin", row[0]);
		cJSON_AddStringToObject(d, "status", row[1]);
		cJSON_AddNumberToObject(d, "attempts", atof(row[2]));
		if (row[3] && strcmp(row[3], "1") == 0)
			cJSON_AddBoolToObject(d, "timed_out", 1);
		if (row[4])
			cJSON_AddStringToObject(d, "error", row[4]);
		add_time(d, "finished_at", row[5]);
		cJSON_AddNumberToObject(d, "latency_ms", atof(row[6]) / 1000.0);
		if (strcmp(row[1], "dead") == 0 && row[7])
			cJSON_AddNumberToObject(d, "dead_letter", atof(row[7]));
		cJSON_AddItemToArray(deliveries, d);
	}
	mysql_free_result(res);
	answer(j, 200, event);
}

/* ---- GET /api/events ---- */

/* `*` in a name filter is a wildcard; LIKE's own wildcards are literal. */
static void add_name_filter(sqlbuf *sql, db_conn *conn, const char *name)
{
	if (!strchr(name, '*')) {
		sqlbuf_adds(sql, " AND name=");
		sqlbuf_add_string(sql, conn, name, strlen(name));
		return;
	}
	char like[600];
	size_t n = 0;
	for (const char *p = name; *p && n + 3 < sizeof like; p++) {
		if (*p == '*') {
			like[n++] = '%';
		} else {
			if (*p == '%' || *p == '_' || *p == '\\')
				like[n++] = '\\';
			like[n++] = *p;
		}
	}
	like[n] = '\0';
	sqlbuf_adds(sql, " AND name LIKE ");
	sqlbuf_add_string(sql, conn, like, n);
}

/* Run a list query (newest first, LIMIT limit + 1) and answer one page:
 * `list_name` holds `item(row)` for each row, `next_before` the key
 * (column 0) of the last one when there are more. */
static void answer_page(reader *r, job *j, sqlbuf *sql, const char *list_name, cJSON *(*item)(MYSQL_ROW row))
{
	MYSQL_RES *res = run(r, sql);
	sqlbuf_free(sql);
	if (!res) {
		unavailable(r, j);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON *list = cJSON_AddArrayToObject(o, list_name);
	MYSQL_ROW row;
	uint32_t n = 0;
	char last[32] = "";
	bool more = false;
	while ((row = mysql_fetch_row(res))) {
		if (n == j->req.limit) {
			more = true;
			break;
		}
		cJSON_AddItemToArray(list, item(row));
		snprintf(last, sizeof last, "%s", row[0]);
		n++;
	}
	mysql_free_result(res);
	cJSON_AddNumberToObject(o, "count", n);
	if (more)
		cJSON_AddStringToObject(o, "next_before", last); /* a string: 64-bit keys do not fit a JSON double */
	else
		cJSON_AddNullToObject(o, "next_before");
	answer(j, 200, o);
}

static void list_events(reader *r, job *j)
{
	const db_request *q = &j->req;
	sqlbuf sql = {0};
	sqlbuf_adds(&sql, "SELECT " EVENT_COLUMNS " FROM events WHERE 1=1");
	if (q->name[0])
		add_name_filter(&sql, &r->conn, q->name);
	if (q->since_us) {
		sqlbuf_adds(&sql, " AND received_at >= ");
		sqlbuf_add_time(&sql, q->since_us);
	}
	if (q->until_us) {
		sqlbuf_adds(&sql, " AND received_at < ");
		sqlbuf_add_time(&sql, q->until_us);
	}
	if (q->before)
		sqlbuf_addf(&sql, " AND seq < %llu", (unsigned long long)q->before);
	sqlbuf_addf(&sql, " ORDER BY seq DESC LIMIT %u", q->limit + 1);
	answer_page(r, j, &sql, "events", event_from_row);
}

/* ---- GET /api/dead-letters ---- */

static cJSON *dead_letter_from_row(MYSQL_ROW row)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "id", atof(row[0]));
	cJSON_AddStringToObject(d, "plugin", row[1]);
	cJSON_AddNumberToObject(d, "attempts", atof(row[2]));
	if (row[3])
		cJSON_AddStringToObject(d, "error", row[3]);
	add_time(d, "created_at", row[4]);
	add_time(d, "replayed_at", row[5]);
	cJSON_AddNumberToObject(d, "replay_count", atof(row[6]));
	cJSON *e = cJSON_AddObjectToObject(d, "event");
	if (row[7]) {
		cJSON_AddStringToObject(e, "id", row[7]);
		cJSON_AddStringToObject(e, "name", row[8]);
	}
	cJSON_AddStringToObject(e, "seq", row[9]);
	return d;
}

static void list_dead(reader *r, job *j)
{
	const db_request *q = &j->req;
	sqlbuf sql = {0};
	sqlbuf_adds(&sql, "SELECT l.id,l.plugin,l.attempts,l.last_error,l.created_at,l.replayed_at,l.replay_count,"
	                  "e.id,e.name,l.event_seq FROM dead_letters l LEFT JOIN events e ON e.seq=l.event_seq WHERE 1=1");
	if (q->plugin[0]) {
		sqlbuf_adds(&sql, " AND l.plugin=");
		sqlbuf_add_string(&sql, &r->conn, q->plugin, strlen(q->plugin));
	}
	if (q->before)
		sqlbuf_addf(&sql, " AND l.id < %llu", (unsigned long long)q->before);
	sqlbuf_addf(&sql, " ORDER BY l.id DESC LIMIT %u", q->limit + 1);
	answer_page(r, j, &sql, "dead_letters", dead_letter_from_row);
}

/* ---- events rebuilt from rows (replay, recovery) ---- */

/* Columns: seq, id, name, source, event_time, payload, attributes,
 * time_text (the client's text, NULL when it sent no time). */
static es_event *event_from_stored(MYSQL_ROW row, unsigned long *lengths)
{
	es_event_attribute attrs[64];
	char digits[64][12]; /* the text of Integer attributes */
	size_t count = 0;
	cJSON *parsed = row[6] ? cJSON_Parse(row[6]) : NULL;
	const cJSON *a;
	cJSON_ArrayForEach(a, parsed)
	{
		/* with the type each was stored with (rows of older releases
		 * hold strings only) */
		if (count < 64 && !es_event_attribute_from_json(a, &attrs[count], digits[count])) {
			attrs[count].key = a->string;
			count++;
		}
	}
	es_event_fields f = {.id = row[1],
	                  .name = row[2],
	                  .source = row[3],
	                  .time_us = db_parse_time(row[4]),
	                  .has_time = row[4] != NULL,
	                  .time_text = row[7],
	                  .data = row[5],
	                  .data_len = lengths[5],
	                  .attributes = attrs,
	                  .attribute_count = count,
	                  .seq = strtoull(row[0], NULL, 10)};
	es_event *e = es_event_create(&f);
	if (e) {
		e->stored = true; /* its row exists */
		e->redelivered = true;
	}
	cJSON_Delete(parsed);
	return e;
}

/* ---- POST /api/dead-letters/{id}/replay ---- */

static void replay_dead(reader *r, job *j)
{
	sqlbuf sql = {0};
	unsigned long long id = strtoull(j->req.key, NULL, 10);
	sqlbuf_addf(&sql,
	            "SELECT e.seq,e.id,e.name,e.source,e.event_time,e.payload,e.attributes,e.time_text,l.plugin,e.state "
	            "FROM dead_letters l LEFT JOIN events e ON e.seq=l.event_seq WHERE l.id=%llu",
	            id);
	MYSQL_RES *res = run(r, &sql);
	sqlbuf_free(&sql);
	if (!res) {
		unavailable(r, j);
		return;
	}
	MYSQL_ROW row = mysql_fetch_row(res);
	char msg[300];
	if (!row || !row[0]) {
		snprintf(msg, sizeof msg, row ? "dead letter %llu's event was purged by retention" : "no dead letter %llu",
		         id);
		mysql_free_result(res);
		answer_error(j, 404, "not_found", msg);
		return;
	}
	char plugin[65], state[16];
	snprintf(plugin, sizeof plugin, "%s", row[8]);
	snprintf(state, sizeof state, "%s", row[9] ? row[9] : "done");
	unsigned long long seq = strtoull(row[0], NULL, 10);
	es_event *e = event_from_stored(row, mysql_fetch_lengths(res));
	mysql_free_result(res);
	if (!e) {
		answer_error(j, 500, "internal", "out of memory");
		return;
	}
	/* Durable before it is queued: an event whose row says accepted is
	 * delivered again at the next start to each plugin without a final
	 * outcome, and the replay's count below makes this plugin's dead one
	 * not final (recover_page()) until the replay's own outcome is written.
	 * Its done mark, once the replay ends, sets the row back to done. */
	sqlbuf_addf(&sql, "UPDATE events SET state='accepted' WHERE seq=%llu", seq);
	int marked = db_exec(&r->conn, sql.data, sql.len);
	sqlbuf_free(&sql);
	if (marked != 0) {
		es_event_unref(e);
		query_failed(r);
		unavailable(r, j);
		return;
	}
	int queued = r->db->readmit.replay(r->db->readmit.ctx, r->db, e, plugin);
	if (queued != 1) {
		es_event_unref(e);
		sqlbuf_addf(&sql, "UPDATE events SET state='%s' WHERE seq=%llu", strcmp(state, "accepted") == 0 ? "accepted" : "done",
		            seq);
		if (db_exec(&r->conn, sql.data, sql.len) != 0)
			query_failed(r);
		sqlbuf_free(&sql);
		/* 0: no instance of that name is loaded */
		snprintf(msg, sizeof msg,
		         queued == 0 ? "plugin '%s' is not loaded; load it (and reload) to replay its dead letters"
		                     : "the queue of plugin '%s' is full; retry shortly",
		         plugin);
		answer_error(j, queued == 0 ? 409 : 503, queued == 0 ? "plugin_not_loaded" : "busy", msg);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "dead_letter", (double)id);
	cJSON_AddStringToObject(o, "plugin", plugin);
	cJSON *ev = cJSON_AddObjectToObject(o, "event");
	cJSON_AddStringToObject(ev, "id", e->id);
	cJSON_AddStringToObject(ev, "name", e->name);
	cJSON_AddStringToObject(o, "status", "queued");
	char detail[400];
	snprintf(detail, sizeof detail, "dead letter %llu: event %s (%s) to plugin %s", id, e->id, e->name, plugin);
	es_event_unref(e);
	sqlbuf_addf(&sql,
	            "UPDATE dead_letters SET replayed_at=UTC_TIMESTAMP(6), replay_count=replay_count+1 WHERE id=%llu", id);
	if (db_exec(&r->conn, sql.data, sql.len) != 0)
		query_failed(r); /* the replay happened; only its mark is missing */
	sqlbuf_free(&sql);
	atomic_fetch_add(&r->db->counters.replayed, 1);
	LOG_INFO("audit", "dead letter replayed by %s: %s", j->req.actor, detail);
	database_audit(r->db, j->req.actor, "dead_letter.replayed", detail);
	answer(j, 202, o);
}

static void run_job(reader *r, job *j)
{
	int64_t t0 = clock_monotonic_us();
	if (!connected(r)) {
		unavailable(r, j);
		return;
	}
	switch (j->req.kind) {
	case DB_GET_EVENT: get_event(r, j); break;
	case DB_LIST_EVENTS: list_events(r, j); break;
	case DB_LIST_DEAD: list_dead(r, j); break;
	case DB_REPLAY_DEAD: replay_dead(r, j); break;
	}
	histogram_observe_us(&r->db->counters.query_latency, clock_monotonic_us() - t0);
}

/* ---- crashes (delivery_crashes) ---- */

void database_note_crash(database *db, const database_crash *crash)
{
	if (!database_running(db) || !crash->seq)
		return;
	reader *r = db->reader;
	pthread_mutex_lock(&r->lock);
	if (r->crash_count == CRASHES_MAX) {
		/* the crash history still has it; the oldest goes */
		memmove(r->crashes, r->crashes + 1, (CRASHES_MAX - 1) * sizeof *r->crashes);
		r->crash_count--;
		LOG_WARN("database", "more than %d crashes waiting to be written: the oldest is not counted", CRASHES_MAX);
	}
	r->crashes[r->crash_count++] = *crash;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

static bool crashes_due(reader *r)
{
	return r->crash_count && atomic_load(&r->db->state) == DB_UP && clock_monotonic_us() >= r->crash_retry_us;
}

/* Write the waiting crashes in one statement; they stay queued when it
 * fails.  Called without the lock; takes it to copy and to clear. */
static void write_crashes(reader *r)
{
	database_crash batch[CRASHES_MAX];
	pthread_mutex_lock(&r->lock);
	size_t n = r->crash_count;
	memcpy(batch, r->crashes, n * sizeof *batch);
	pthread_mutex_unlock(&r->lock);
	if (!n || !connected(r))
		return;
	sqlbuf sql = {0};
	sqlbuf_adds(&sql, "INSERT IGNORE INTO delivery_crashes (event_seq,plugin,attempt,signal_name,crashed_at) VALUES ");
	for (size_t i = 0; i < n; i++) {
		sqlbuf_addf(&sql, "%s(%llu,", i ? "," : "", (unsigned long long)batch[i].seq);
		sqlbuf_add_string(&sql, &r->conn, batch[i].plugin, strlen(batch[i].plugin));
		sqlbuf_addf(&sql, ",%u,", batch[i].attempt);
		sqlbuf_add_string(&sql, &r->conn, batch[i].signal, strlen(batch[i].signal));
		sqlbuf_adds(&sql, ",");
		sqlbuf_add_time(&sql, batch[i].at_us);
		sqlbuf_adds(&sql, ")");
	}
	int rc = sql.failed ? -1 : db_exec(&r->conn, sql.data, sql.len);
	sqlbuf_free(&sql);
	pthread_mutex_lock(&r->lock);
	if (rc == 0) {
		/* more may have come meanwhile: drop only those written */
		memmove(r->crashes, r->crashes + n, (r->crash_count - n) * sizeof *r->crashes);
		r->crash_count -= n;
		r->crash_retry_us = 0;
	} else {
		r->crash_retry_us = clock_monotonic_us() + CRASH_RETRY_US;
	}
	pthread_mutex_unlock(&r->lock);
	if (rc == 0)
		LOG_INFO("database", "%zu crash%s recorded in delivery_crashes", n, n == 1 ? "" : "es");
	else
		LOG_WARN("database", "cannot record %zu crash%s in delivery_crashes (retrying): %s", n, n == 1 ? "" : "es",
		         r->conn.error);
}

/* ---- redelivery after a crash ---- */

typedef struct finished_set {
	uint64_t seq;
	const char *plugins[DATABASE_MAX_PLUGINS];
	size_t count;
	database_crash_count crashes[DATABASE_MAX_PLUGINS];
	size_t crash_count;
} finished_set;

/* `plugin` made `attempts` attempts of this event that will be retried:
 * the highest attempt number of the plugin's entry (added when missing). */
static void note_attempts(finished_set *done, const char *plugin, uint32_t attempts)
{
	for (size_t i = 0; i < done->crash_count; i++)
		if (strcmp(done->crashes[i].plugin, plugin) == 0) {
			if (attempts > done->crashes[i].attempts)
				done->crashes[i].attempts = attempts;
			return;
		}
	if (done->crash_count < DATABASE_MAX_PLUGINS)
		done->crashes[done->crash_count++] = (database_crash_count){.plugin = plugin, .attempts = attempts};
}

static bool name_in(const char *name, const char *const *names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* `select` (up to FROM) "WHERE event_seq IN (" the seqs of `events`' rows
 * ")" `tail`: its result, or NULL (logged by run()). */
static MYSQL_RES *page_query(reader *r, const char *select, MYSQL_RES *events, const char *tail)
{
	sqlbuf sql = {0};
	sqlbuf_adds(&sql, select);
	sqlbuf_adds(&sql, " WHERE event_seq IN (");
	MYSQL_ROW row;
	for (bool first = true; (row = mysql_fetch_row(events)); first = false)
		sqlbuf_addf(&sql, "%s%s", first ? "" : ",", row[0]);
	sqlbuf_adds(&sql, ")");
	sqlbuf_adds(&sql, tail);
	mysql_data_seek(events, 0);
	MYSQL_RES *res = run(r, &sql);
	sqlbuf_free(&sql);
	return res;
}

/* One page of events accepted by an earlier run and not done: deliver each
 * to the matching plugins that have no final outcome for it. */
static void recover_page(reader *r)
{
	sqlbuf sql = {0};
	sqlbuf_addf(&sql,
	            "SELECT seq,id,name,source,event_time,payload,attributes,time_text FROM events "
	            "WHERE state='accepted' AND seq > %llu AND seq < %llu ORDER BY seq LIMIT %d",
	            (unsigned long long)r->recovery_cursor, (unsigned long long)r->db->boot_seq, RECOVERY_PAGE);
	MYSQL_RES *events = run(r, &sql);
	sqlbuf_free(&sql);
	if (!events)
		return; /* retried on the next round */
	uint64_t rows = mysql_num_rows(events);
	MYSQL_RES *finished = NULL, *crashed = NULL, *tried = NULL;
	/* For this page's events: the final outcomes already recorded, how
	 * often each crashed which plugin, and the attempts that ended without
	 * a final outcome (retried). */
	/* A plugin's outcome is final unless a replay of its dead letter was
	 * queued since (each replay adds one row when it ends): then it is
	 * delivered again, as a replay starts, with no attempts before it. */
	if (rows && (!(finished = page_query(r,
	                                     "SELECT d.event_seq,d.plugin,COUNT(*) < 1 + COALESCE((SELECT SUM(l.replay_count) "
	                                     "FROM dead_letters l WHERE l.event_seq=d.event_seq AND l.plugin=d.plugin),0) "
	                                     "FROM deliveries d",
	                                     events, " GROUP BY d.event_seq,d.plugin ORDER BY d.event_seq")) ||
	             !(crashed = page_query(r, "SELECT event_seq,plugin,COUNT(*),MAX(attempt) FROM delivery_crashes",
	                                    events, " GROUP BY event_seq,plugin")) ||
	             !(tried = page_query(r, "SELECT event_seq,plugin,attempts FROM delivery_attempts", events, "")))) {
		if (crashed)
			mysql_free_result(crashed);
		if (finished)
			mysql_free_result(finished);
		mysql_free_result(events);
		return; /* retried on the next round */
	}
	MYSQL_ROW row;
	while ((row = mysql_fetch_row(events))) {
		unsigned long *lengths = mysql_fetch_lengths(events);
		finished_set done = {.seq = strtoull(row[0], NULL, 10)};
		const char *replaying[DATABASE_MAX_PLUGINS];
		size_t replaying_count = 0;
		MYSQL_ROW f;
		mysql_data_seek(finished, 0);
		while ((f = mysql_fetch_row(finished))) {
			if (strtoull(f[0], NULL, 10) != done.seq)
				continue;
			bool replay_pending = strcmp(f[2], "1") == 0;
			if (replay_pending && replaying_count < DATABASE_MAX_PLUGINS)
				replaying[replaying_count++] = f[1];
			else if (!replay_pending && done.count < DATABASE_MAX_PLUGINS)
				done.plugins[done.count++] = f[1];
		}
		mysql_data_seek(crashed, 0);
		while ((f = mysql_fetch_row(crashed)))
			if (strtoull(f[0], NULL, 10) == done.seq && !name_in(f[1], replaying, replaying_count) &&
			    done.crash_count < DATABASE_MAX_PLUGINS) {
				uint32_t crashes = (uint32_t)strtoul(f[2], NULL, 10), last = (uint32_t)strtoul(f[3], NULL, 10);
				/* crashes recorded before attempts were counted across
				 * restarts all say attempt 1: each was an attempt still */
				done.crashes[done.crash_count++] = (database_crash_count){
					.plugin = f[1], .crashes = crashes, .attempts = last > crashes ? last : crashes};
			}
		mysql_data_seek(tried, 0);
		while ((f = mysql_fetch_row(tried)))
			if (strtoull(f[0], NULL, 10) == done.seq && !name_in(f[1], replaying, replaying_count))
				note_attempts(&done, f[1], (uint32_t)strtoul(f[2], NULL, 10));
		es_event *e = event_from_stored(row, lengths);
		if (!e) {
			r->recovery_retry_us = clock_monotonic_us() + BUSY_RETRY_US; /* out of memory: later */
			rows = RECOVERY_PAGE;
			break;
		}
		/* A full queue: stop here and come back to this event shortly,
		 * serving history requests meanwhile (never dropping it). */
		bool queued = r->db->readmit.redeliver(r->db->readmit.ctx, r->db, e, done.plugins, done.count,
		                                             done.crashes, done.crash_count) == 0;
		if (queued) {
			/* settled by the admission: done once these deliveries are final (now, if none) */
			r->recovered++;
			atomic_fetch_add(&r->db->counters.recovered, 1);
			r->recovery_cursor = done.seq;
		}
		es_event_unref(e);
		if (!queued) {
			r->recovery_retry_us = clock_monotonic_us() + BUSY_RETRY_US;
			rows = RECOVERY_PAGE; /* not the last page */
			break;
		}
	}
	if (finished)
		mysql_free_result(finished);
	if (crashed)
		mysql_free_result(crashed);
	if (tried)
		mysql_free_result(tried);
	mysql_free_result(events);
	if (rows < RECOVERY_PAGE) {
		r->recovery_done = true;
		if (r->recovered)
			LOG_WARN("database", "redelivered %llu event%s an earlier run accepted but had not finished delivering",
			         (unsigned long long)r->recovered, r->recovered == 1 ? "" : "s");
		else
			LOG_INFO("database", "no unfinished events from an earlier run");
	}
}

/* ---- retention ---- */

/* Delete one batch of expired events and their deliveries and dead
 * letters (small transactions: no long locks).  false when none are left. */
static bool purge_batch(reader *r)
{
	int64_t cutoff = clock_realtime_us() - (int64_t)(r->db->settings.retention_days * 86400.0 * 1e6);
	sqlbuf sql = {0};
	sqlbuf_adds(&sql, "SELECT seq FROM events WHERE received_at < ");
	sqlbuf_add_time(&sql, cutoff);
	sqlbuf_addf(&sql, " ORDER BY received_at LIMIT %d", PURGE_BATCH);
	MYSQL_RES *res = run(r, &sql);
	sqlbuf_reset(&sql);
	if (!res) {
		sqlbuf_free(&sql);
		LOG_WARN("database", "retention purge failed: %s; retrying at the next interval", r->conn.error);
		return false;
	}
	uint64_t n = mysql_num_rows(res);
	if (n == 0) {
		mysql_free_result(res);
		sqlbuf_free(&sql);
		return false;
	}
	sqlbuf list = {0};
	MYSQL_ROW row;
	bool first = true;
	while ((row = mysql_fetch_row(res))) {
		sqlbuf_addf(&list, "%s%s", first ? "" : ",", row[0]);
		first = false;
	}
	mysql_free_result(res);
	static const char *const deletes[] = {"DELETE FROM deliveries WHERE event_seq IN (",
	                                      "DELETE FROM delivery_crashes WHERE event_seq IN (",
	                                      "DELETE FROM dead_letters WHERE event_seq IN (",
	                                      "DELETE FROM events WHERE seq IN ("};
	bool ok = !list.failed;
	for (size_t i = 0; i < sizeof deletes / sizeof deletes[0] && ok; i++) {
		sqlbuf_reset(&sql);
		sqlbuf_adds(&sql, deletes[i]);
		sqlbuf_add(&sql, list.data, list.len);
		sqlbuf_adds(&sql, ")");
		ok = !sql.failed && db_exec(&r->conn, sql.data, sql.len) == 0;
	}
	sqlbuf_free(&list);
	sqlbuf_free(&sql);
	if (!ok) {
		query_failed(r);
		LOG_WARN("database", "retention purge failed: %s; retrying at the next interval", r->conn.error);
		return false;
	}
	r->purged_this_run += n;
	atomic_fetch_add(&r->db->counters.purged, n);
	return n == PURGE_BATCH;
}

static void purge_step(reader *r)
{
	if (!r->purging) {
		r->purging = true;
		r->purged_this_run = 0;
		r->purge_started_us = clock_monotonic_us();
	}
	if (connected(r) && purge_batch(r))
		return; /* more to do: another batch after the next request */
	r->purging = false;
	r->next_purge_us = clock_monotonic_us() + (int64_t)r->db->settings.purge_interval_s * 1000000;
	if (r->purged_this_run)
		LOG_INFO("database", "retention: deleted %llu event%s older than %g days with their deliveries (%.0f ms)",
		         (unsigned long long)r->purged_this_run, r->purged_this_run == 1 ? "" : "s",
		         r->db->settings.retention_days, (double)(clock_monotonic_us() - r->purge_started_us) / 1000.0);
}

/* ---- the thread ---- */

static bool schema_ok(reader *r);

static bool recovery_ready(reader *r)
{
	/* the crashes handed over at start count in this redelivery */
	return !r->recovery_done && r->crash_count == 0 && atomic_load(&r->db->recovery_allowed) && atomic_load(&r->db->seeded) &&
	       schema_ok(r) && clock_monotonic_us() >= r->recovery_retry_us;
}

/* Housekeeping waits for the writer to have found a usable schema. */
static bool schema_ok(reader *r)
{
	return atomic_load(&r->db->state) == DB_UP;
}

static bool purge_due(reader *r)
{
	return r->db->settings.retention_days > 0 && schema_ok(r) &&
	       (r->purging || clock_monotonic_us() >= r->next_purge_us);
}

static void *reader_main(void *arg)
{
	reader *r = arg;
	for (;;) {
		pthread_mutex_lock(&r->lock);
		while (!r->stop && job_queue_empty(&r->jobs) && !crashes_due(r) && !recovery_ready(r) && !purge_due(r)) {
			/* re-check the purge clock every second, a waiting redelivery sooner */
			clock_cond_wait_us(&r->wake, &r->lock,
			                !r->recovery_done && r->recovery_retry_us ? BUSY_RETRY_US : 1000000);
		}
		if (r->stop) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		job_queue_link *next = job_queue_pop(&r->jobs);
		job *j = next ? (job *)((char *)next - offsetof(job, link)) : NULL;
		pthread_mutex_unlock(&r->lock);
		if (j) {
			run_job(r, j);
			continue; /* requests first */
		}
		pthread_mutex_lock(&r->lock);
		bool write_now = crashes_due(r);
		pthread_mutex_unlock(&r->lock);
		if (write_now) {
			write_crashes(r);
			continue;
		}
		if (recovery_ready(r)) {
			if (connected(r))
				recover_page(r);
			else
				nanosleep(&(struct timespec){0, 200000000}, NULL); /* the writer reports the outage */
			continue;
		}
		if (purge_due(r))
			purge_step(r);
	}
	/* quiesce waited for the HTTP side; anything still queued is answered by nobody */
	while (job_queue_pop(&r->jobs))
		/* its wake event belongs to a stopped HTTP thread: not touched */
		LOG_WARN("database", "a history request was still queued at shutdown; dropped");
	db_close(&r->conn);
	return NULL;
}

void db_reader_wake(db_shared *db)
{
	reader *r = db->reader;
	if (!r || !atomic_load(&r->running))
		return;
	pthread_mutex_lock(&r->lock);
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

int db_reader_start(db_shared *db, char *err, size_t err_size)
{
	reader *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	r->db = db;
	/* The first purge a little after start, once recovery had its turn. */
	r->next_purge_us = clock_monotonic_us() + 2000000;
	job_queue_init(&r->jobs, JOB_QUEUE_MAX);
	pthread_mutex_init(&r->lock, NULL);
	clock_cond_init(&r->wake);
	atomic_store(&r->running, true);
	db->reader = r; /* before the thread: the writers wake it (db_reader_wake) */
	int rc = pthread_create(&r->thread, NULL, reader_main, r);
	if (rc != 0) {
		atomic_store(&r->running, false);
		snprintf(err, err_size, "cannot start the database reader: %s", strerror(rc));
		return -1;
	}
	pthread_setname_np(r->thread, "es-db-reader");
	return 0;
}

void db_reader_stop(db_shared *db)
{
	reader *r = db->reader;
	if (!r || !atomic_load(&r->running))
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	atomic_store(&r->running, false);
	/* lock and wake stay valid: a writer may still call db_reader_wake(). */
}

void db_reader_free(db_shared *db)
{
	reader *r = db->reader;
	if (!r)
		return;
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r);
	db->reader = NULL;
}
