/*
 * The database writer: one thread, one connection, one bounded queue of
 * records.  Each round takes everything queued, writes it as a few
 * multi-row statements in one transaction and commits (group commit: a
 * commit's cost is shared by every event that arrived meanwhile), then
 * completes the durable tickets of that round.
 *
 * When the server goes away the round's tickets fail (their triggers are
 * answered 503, none dispatched), new durable stores are refused at once,
 * and everything else stays queued (bounded: past queue_size records are
 * dropped, counted and logged) while the thread reconnects with backoff.
 *
 * Ownership: a record is owned by the queue, then by the round that took
 * it; it holds a reference on its event.  A ticket belongs to its HTTP
 * thread; the writer only counts down `pending` and wakes the thread.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db_internal.h"
#include "db/db_node_claim.h"
#include "util/log.h"

/* Statements are cut at this size, or at half the server's
 * max_allowed_packet when that is smaller (16 MiB by default on MariaDB
 * 10.11, 64 MiB on MySQL 8). */
#define STATEMENT_MAX_BYTES (4u << 20)
/* Room in a statement for what is not the row itself. */
#define STATEMENT_OVERHEAD 4096
#define RECONNECT_FIRST_MS 100
/* Runs of a round that met a deadlock or a lock wait timeout, before its
 * records are written one by one. */
#define LOCK_CONFLICT_RETRIES 2
/* How often an idle writer checks its connection (see writer.idle_check_us). */
#define IDLE_CHECK_US 2000000

typedef enum rec_kind {
	REC_EVENT,
	REC_DELIVERY, /* plus a dead letter when status is dead */
	REC_DONE,
	REC_REFUSED,
	REC_AUDIT,
	REC_ATTEMPT, /* an attempt that ended without a final outcome (retried) */
} rec_kind;

typedef struct db_record {
	struct db_record *next;
	rec_kind kind;
	bool dead;          /* REC_DELIVERY: dead-lettered */
	bool timed_out;
	db_ticket *ticket;  /* REC_EVENT stored durably, else NULL */
	es_event *event;    /* REC_EVENT: a reference */
	uint64_t seq;
	int64_t at_us;      /* realtime of the outcome / audit */
	uint64_t latency_us;
	bool latency_from_row; /* REC_DELIVERY of an event read back from its row: latency_us from the row's received_at */
	uint32_t attempts;  /* REC_DELIVERY: all of them; REC_ATTEMPT: the one that ended */
	char plugin[65];
	char *text;         /* error (delivery), or "actor\0action\0detail" (audit) */
} db_record;

struct db_ticket {
	db_shared *db;
	struct event *wake;
	db_ticket_done done;
	void *arg;
	size_t pending; /* records of this ticket the writer has not resolved */
	int status;     /* 0 while nothing failed, else the HTTP status to answer */
	char why[300];
};

typedef struct writer {
	db_shared *db;
	pthread_t thread;
	db_record *head, *tail; /* the queue, under lock */
	size_t depth;
	size_t bytes;           /* memory the queued records hold (payloads included) */
	int64_t stop_deadline_us;
	sqlbuf sql;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	db_conn conn;
	/* Events answered 503 because the connection failed under their round:
	 * if the failure hit the COMMIT, their rows may exist anyway.  Marked
	 * refused once connected again (the client was told they were not
	 * accepted; they must not be delivered at the next start).  Writer
	 * thread only. */
	uint64_t *unsure;
	size_t unsure_count;
	bool commit_failed; /* the last round failed at its COMMIT: its outcome is unknown */
	/* Reconnecting: the wait before the next attempt, doubled by each
	 * failure (a refused connect or a round that lost the connection or
	 * was refused), reset by a connect after a lost connection or by a
	 * written round; and when the next attempt is due.  Writer thread
	 * only, read under lock by its waits. */
	uint32_t backoff_ms;
	int64_t next_attempt_us;
	/* The last round failed because the server refused its writes: a
	 * connect alone does not reset the backoff then (see back_off()). */
	bool writes_refused;
	/* Connected with nothing to write: when the server is next asked
	 * whether the connection still works (IDLE_CHECK_US), so that /health
	 * and a durable trigger learn of an outage without a write failing
	 * first.  Writer thread only, read under lock by its waits. */
	int64_t idle_check_us;
	/* The events writer with a node_id: when its claim is renewed next
	 * (0: not held; writer thread only, read under lock by its waits). */
	int64_t claim_renew_us;
	bool exited;        /* the thread took its last records: later ones are dropped (under lock) */
	bool running;
	bool stop;
	atomic_bool drop_logged; /* a "dropping records" line since the last success (any thread) */
} writer;

/* Two writers, each with its own thread and connection: one takes the
 * event rows (durable triggers wait on it, so its rounds stay short), the
 * other the outcomes of events already stored (deliveries, dead letters,
 * done marks) and the audit log.  An outcome of an event whose row is
 * written behind (async mode, emitted events) goes through the events
 * writer instead, after its row: never an update before the insert. */
enum { WRITER_EVENTS, WRITER_OUTCOMES, WRITERS };
static const char *const writer_names[WRITERS] = {"es-db-events", "es-db-outcomes"};

/* The writer for records about `event`. */
static writer *writer_for(db_shared *db, const es_event *event)
{
	return &db->writers[event->stored ? WRITER_OUTCOMES : WRITER_EVENTS];
}

/* ---- the key generator ---- */

/* With a node_id, keys only while this daemon's lease on it is valid
 * (db_node_claim.h): another daemon may hold the number otherwise, and
 * keys made then could collide with its own. */
static bool node_keys_allowed(db_shared *db)
{
	bool allowed = clock_monotonic_us() < atomic_load_explicit(&db->node_keys_until_us, memory_order_relaxed);
	if (allowed) {
		if (atomic_load_explicit(&db->node_unkeyed_logged, memory_order_relaxed) &&
		    atomic_exchange(&db->node_unkeyed_logged, false))
			LOG_INFO("database", "queue.jetstream.node_id %u held: events have history again", db->settings.node_id);
		return true;
	}
	atomic_fetch_add_explicit(&db->counters.dropped, 1, memory_order_relaxed);
	if (!atomic_exchange(&db->node_unkeyed_logged, true))
		LOG_WARN("database",
		         "this daemon does not hold queue.jetstream.node_id %u (taken, or not renewed for %d s): the "
		         "events it accepts now get no history (counted in eventsys_db_records_dropped_total)",
		         db->settings.node_id, DB_NODE_CLAIM_KEYS_S);
	return false;
}

/* A key is the receive time in microseconds, kept increasing.  With a
 * node_id (several daemons on one database, docs/operations.md) the time
 * is shifted left by DB_NODE_BITS and the node's number fills the low bits:
 * two daemons never make the same key, whatever their clocks say, and keys
 * still sort by time across the nodes (to their clocks' skew). */
uint64_t database_next_seq(database *db)
{
	if (!database_running(db))
		return 0;
	if (db->settings.node_id && !node_keys_allowed(db))
		return 0; /* no key, no history for this event (counted and logged once) */
	uint64_t now = (uint64_t)clock_realtime_us();
	uint64_t old = atomic_load_explicit(&db->last_seq, memory_order_relaxed), next;
	do
		next = now > old ? now : old + 1;
	while (!atomic_compare_exchange_weak_explicit(&db->last_seq, &old, next, memory_order_relaxed,
	                                              memory_order_relaxed));
	uint32_t node = db->settings.node_id;
	return node ? next << DB_NODE_BITS | node : next;
}

static void seed_seq(db_shared *db, uint64_t at_least)
{
	uint64_t old = atomic_load(&db->last_seq);
	while (old < at_least && !atomic_compare_exchange_weak(&db->last_seq, &old, at_least))
		;
}

/* ---- tickets ---- */

static void on_ticket_wake(evutil_socket_t fd, short what, void *arg)
{
	db_ticket *t = arg;
	t->done(t, t->status, t->why, t->arg);
}

db_ticket *db_ticket_new(database *db, struct event_base *base, db_ticket_done done, void *arg)
{
	db_ticket *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->db = db;
	t->wake = db_wake_new(db, base, on_ticket_wake, t);
	if (!t->wake) {
		free(t);
		return NULL;
	}
	t->done = done;
	t->arg = arg;
	return t;
}

void db_ticket_free(db_ticket *t)
{
	if (!t)
		return;
	db_wake_free(t->db, t->wake);
	free(t);
}

/* Writer side: one record of the ticket is resolved. */
static void ticket_resolve(db_ticket *t, int status, const char *why)
{
	if (status && !t->status) {
		t->status = status;
		snprintf(t->why, sizeof t->why, "%s", why);
	}
	if (--t->pending == 0)
		db_wake_fire(t->db, t->wake); /* the ticket is the HTTP thread's from here */
}

/* ---- the queue ---- */

static void finish_list(db_record *list, int status, const char *why);

static void record_free(db_record *r)
{
	if (r->event)
		es_event_unref(r->event);
	free(r->text);
	free(r);
}

static void count_dropped(writer *w, size_t n, const char *why)
{
	atomic_fetch_add(&w->db->counters.dropped, n);
	if (!atomic_exchange(&w->drop_logged, true))
		LOG_ERROR("database", "history records are being dropped (%s); counted in eventsys_db_records_dropped_total",
		          why);
}

/* What a queued record holds in memory. */
static size_t record_bytes(const db_record *r)
{
	return sizeof *r + (r->event ? sizeof *r->event + r->event->data_len : 0) + (r->text ? strlen(r->text) : 0);
}

static bool queue_full(const writer *w, size_t more_records, size_t more_bytes)
{
	return w->depth + more_records > w->db->settings.queue_size ||
	       w->bytes + more_bytes > w->db->settings.queue_max_bytes;
}

/* Take everything queued (under the lock); *count gets how many. */
static db_record *take_queue_locked(writer *w, size_t *count)
{
	db_record *list = w->head;
	if (count)
		*count = w->depth;
	w->head = w->tail = NULL;
	w->depth = 0;
	w->bytes = 0;
	return list;
}

/* Append under the lock; false when full (the record is then freed and
 * counted). */
static bool enqueue_locked(writer *w, db_record *r)
{
	size_t size = record_bytes(r);
	if (queue_full(w, 1, size)) {
		count_dropped(w, 1, "the database queue is full");
		record_free(r);
		return false;
	}
	w->bytes += size;
	r->next = NULL;
	if (w->tail)
		w->tail->next = r;
	else
		w->head = r;
	w->tail = r;
	w->depth++;
	return true;
}

static void enqueue(writer *w, db_record *r)
{
	pthread_mutex_lock(&w->lock);
	if (w->exited) {
		count_dropped(w, 1, "the writer has stopped");
		record_free(r);
	} else if (enqueue_locked(w, r)) {
		pthread_cond_signal(&w->wake);
	}
	pthread_mutex_unlock(&w->lock);
}

size_t db_writer_queue_depth(db_shared *db)
{
	size_t n = 0;
	for (int i = 0; i < WRITERS; i++) {
		writer *w = &db->writers[i];
		pthread_mutex_lock(&w->lock);
		n += w->depth;
		pthread_mutex_unlock(&w->lock);
	}
	return n;
}

static db_record *record_new(rec_kind kind, uint64_t seq)
{
	db_record *r = calloc(1, sizeof *r);
	if (r) {
		r->kind = kind;
		r->seq = seq;
	}
	return r;
}

/* ---- the pipeline's hooks ---- */

int database_store(database *db, es_event *const *events, size_t count, db_ticket *ticket, char *why, size_t why_size)
{
	if (!database_running(db)) {
		snprintf(why, why_size, "no database is running");
		return -1;
	}
	writer *w = &db->writers[WRITER_EVENTS];
	if (atomic_load(&db->quiescing)) {
		snprintf(why, why_size, "the server is shutting down");
		return -1;
	}
	if (atomic_load(&db->state) == DB_DOWN) {
		char error[512];
		db_status_error(db, error, sizeof error);
		snprintf(why, why_size, "the database is unavailable (%s)", error);
		atomic_fetch_add(&db->counters.refused, 1);
		return -1;
	}
	/* The records, built outside the lock; queued all or none. */
	db_record *recs = NULL, **tail = &recs;
	size_t bytes = 0;
	for (size_t i = 0; i < count; i++) {
		db_record *r = record_new(REC_EVENT, events[i]->seq);
		if (!r) {
			finish_list(recs, 0, "");
			snprintf(why, why_size, "out of memory");
			return -1;
		}
		es_event_ref(events[i]);
		r->event = events[i];
		bytes += record_bytes(r);
		*tail = r;
		tail = &r->next;
	}
	pthread_mutex_lock(&w->lock);
	if (queue_full(w, count, bytes)) {
		size_t depth = w->depth;
		pthread_mutex_unlock(&w->lock);
		finish_list(recs, 0, "");
		atomic_fetch_add(&db->counters.refused, 1);
		snprintf(why, why_size, "the database queue is full (%zu records waiting to be written)", depth);
		return -1;
	}
	ticket->pending = count;
	while (recs) {
		db_record *next = recs->next;
		recs->ticket = ticket;
		enqueue_locked(w, recs); /* room was checked */
		recs = next;
	}
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

void database_record(database *db, es_event *event)
{
	if (!database_running(db) || !event->seq)
		return;
	db_record *r = record_new(REC_EVENT, event->seq);
	if (!r) {
		count_dropped(&db->writers[WRITER_EVENTS], 1, "out of memory");
		return;
	}
	es_event_ref(event);
	r->event = event;
	enqueue(&db->writers[WRITER_EVENTS], r);
}

void database_refused(database *db, es_event *event)
{
	if (!database_running(db) || !event->seq)
		return;
	db_record *r = record_new(REC_REFUSED, event->seq);
	if (r)
		enqueue(writer_for(db, event), r);
}

void database_settle(database *db, es_event *event)
{
	if (!database_running(db) || !event->seq)
		return;
	if (atomic_fetch_sub_explicit(&event->unsettled, 1, memory_order_acq_rel) != 1)
		return;
	db_record *r = record_new(REC_DONE, event->seq);
	if (r)
		enqueue(writer_for(db, event), r);
}

void database_outcome(database *db, es_event *event, const char *plugin, delivery_outcome outcome, uint32_t attempts,
                      bool timed_out, const char *error)
{
	if (!database_running(db) || !event->seq)
		return;
	if (outcome == DELIVERY_RETRYING) {
		/* Not final: remembered so a redelivery after a restart goes on
		 * counting from here (delivery_attempts).  Settles nothing. */
		db_record *a = record_new(REC_ATTEMPT, event->seq);
		if (!a) {
			count_dropped(writer_for(db, event), 1, "out of memory");
			return;
		}
		a->attempts = attempts;
		a->at_us = clock_realtime_us();
		snprintf(a->plugin, sizeof a->plugin, "%s", plugin);
		enqueue(writer_for(db, event), a);
		return;
	}
	if (outcome != DELIVERY_OK && outcome != DELIVERY_DEAD)
		return;
	db_record *r = record_new(REC_DELIVERY, event->seq);
	if (r) {
		r->dead = outcome == DELIVERY_DEAD;
		r->timed_out = timed_out;
		r->attempts = attempts;
		r->at_us = clock_realtime_us();
		int64_t latency = clock_monotonic_us() - event->received_us;
		r->latency_us = latency > 0 ? (uint64_t)latency : 0;
		/* A replay or a recovery rebuilt the event from its row: its
		 * receipt is the row's received_at, not the rebuild. */
		r->latency_from_row = event->redelivered && event->seq;
		snprintf(r->plugin, sizeof r->plugin, "%s", plugin);
		if (error && *error)
			r->text = strndup(error, 512);
		enqueue(writer_for(db, event), r);
	} else {
		count_dropped(writer_for(db, event), 1, "out of memory");
	}
	database_settle(db, event);
}

void database_audit(database *db, const char *actor, const char *action, const char *detail)
{
	if (!database_running(db))
		return;
	db_record *r = record_new(REC_AUDIT, 0);
	size_t a = strlen(actor) + 1, b = strlen(action) + 1, c = strnlen(detail, 2047) + 1;
	if (r && (r->text = malloc(a + b + c))) {
		memcpy(r->text, actor, a);
		memcpy(r->text + a, action, b);
		memcpy(r->text + a + b, detail, c - 1);
		r->text[a + b + c - 1] = '\0';
		r->at_us = clock_realtime_us();
		enqueue(&db->writers[WRITER_OUTCOMES], r);
	} else if (r) {
		free(r);
	}
}

/* ---- writing a round ---- */

/* The realtime at which a monotonic instant happened. */
static int64_t realtime_of(int64_t monotonic_us)
{
	return clock_realtime_us() - (clock_monotonic_us() - monotonic_us);
}

static void add_event_row(writer *w, const es_event *e)
{
	sqlbuf *b = &w->sql;
	sqlbuf_addf(b, "(%llu,", (unsigned long long)e->seq);
	sqlbuf_add_string(b, &w->conn, e->id, strlen(e->id));
	sqlbuf_adds(b, ",");
	sqlbuf_add_string(b, &w->conn, e->name, strlen(e->name));
	sqlbuf_adds(b, ",");
	sqlbuf_add_string(b, &w->conn, e->source, strlen(e->source));
	sqlbuf_adds(b, ",");
	sqlbuf_add_time(b, e->time_us);
	sqlbuf_adds(b, ",");
	if (e->time_text)
		sqlbuf_add_string(b, &w->conn, e->time_text, strlen(e->time_text));
	else
		sqlbuf_adds(b, "NULL");
	sqlbuf_adds(b, ",");
	sqlbuf_add_time(b, realtime_of(e->received_us));
	sqlbuf_adds(b, ",");
	sqlbuf_add_string(b, &w->conn, e->data, e->data_len);
	sqlbuf_adds(b, ",");
	if (e->attribute_count) {
		cJSON *attrs = cJSON_CreateObject();
		for (size_t i = 0; i < e->attribute_count; i++) /* each of its own type */
			cJSON_AddItemToObject(attrs, e->attributes[i].key, es_event_attribute_to_json(&e->attributes[i]));
		char *text = cJSON_PrintUnformatted(attrs);
		cJSON_Delete(attrs);
		sqlbuf_add_string(b, &w->conn, text, text ? strlen(text) : 0);
		cJSON_free(text);
	} else {
		sqlbuf_adds(b, "NULL");
	}
	sqlbuf_adds(b, ")");
}

static void add_delivery_row(writer *w, const db_record *r)
{
	sqlbuf *b = &w->sql;
	sqlbuf_addf(b, "(%llu,", (unsigned long long)r->seq);
	sqlbuf_add_string(b, &w->conn, r->plugin, strlen(r->plugin));
	sqlbuf_addf(b, ",'%s',%u,%d,", r->dead ? "dead" : "delivered", r->attempts, r->timed_out ? 1 : 0);
	sqlbuf_add_string(b, &w->conn, r->text, r->text ? strlen(r->text) : 0);
	sqlbuf_adds(b, ",");
	sqlbuf_add_time(b, r->at_us);
	if (r->latency_from_row) {
		/* the measured value when the row was purged meanwhile */
		sqlbuf_addf(b, ",COALESCE(GREATEST(0,TIMESTAMPDIFF(MICROSECOND,(SELECT received_at FROM events WHERE seq=%llu),",
		            (unsigned long long)r->seq);
		sqlbuf_add_time(b, r->at_us);
		sqlbuf_addf(b, ")),%llu))", (unsigned long long)r->latency_us);
	} else {
		sqlbuf_addf(b, ",%llu)", (unsigned long long)r->latency_us);
	}
}

static void add_dead_letter_row(writer *w, const db_record *r)
{
	sqlbuf *b = &w->sql;
	sqlbuf_addf(b, "(%llu,", (unsigned long long)r->seq);
	sqlbuf_add_string(b, &w->conn, r->plugin, strlen(r->plugin));
	sqlbuf_addf(b, ",%u,", r->attempts);
	sqlbuf_add_string(b, &w->conn, r->text, r->text ? strlen(r->text) : 0);
	sqlbuf_adds(b, ",");
	sqlbuf_add_time(b, r->at_us);
	sqlbuf_adds(b, ")");
}

static void add_attempt_row(writer *w, const db_record *r)
{
	sqlbuf *b = &w->sql;
	sqlbuf_addf(b, "(%llu,", (unsigned long long)r->seq);
	sqlbuf_add_string(b, &w->conn, r->plugin, strlen(r->plugin));
	sqlbuf_addf(b, ",%u,", r->attempts);
	sqlbuf_add_time(b, r->at_us);
	sqlbuf_adds(b, ")");
}

static void add_audit_row(writer *w, const db_record *r)
{
	sqlbuf *b = &w->sql;
	const char *actor = r->text, *action = actor + strlen(actor) + 1, *detail = action + strlen(action) + 1;
	sqlbuf_adds(b, "(");
	sqlbuf_add_time(b, r->at_us);
	sqlbuf_adds(b, ",");
	sqlbuf_add_string(b, &w->conn, actor, strlen(actor));
	sqlbuf_adds(b, ",");
	sqlbuf_add_string(b, &w->conn, action, strlen(action));
	sqlbuf_adds(b, ",");
	sqlbuf_add_string(b, &w->conn, detail, strlen(detail));
	sqlbuf_adds(b, ")");
}

static void add_seq(writer *w, const db_record *r)
{
	sqlbuf_addf(&w->sql, "%llu", (unsigned long long)r->seq);
}

static void add_event_record(writer *w, const db_record *r)
{
	add_event_row(w, r->event);
}

/* One statement of a round: which records it takes, and how each becomes
 * SQL (a VALUES tuple, or a key in an IN list). */
typedef struct statement_kind {
	const char *head; /* up to and including VALUES / IN ( */
	const char *tail;
	enum db_row_kind rows;
	rec_kind takes;
	bool dead_only; /* REC_DELIVERY: only dead-lettered ones */
	void (*add)(writer *w, const db_record *r);
} statement_kind;

/* In the order a round writes them: rows before the updates of them. */
static const statement_kind statements[] = {
	{"INSERT INTO events (seq,id,name,source,event_time,time_text,received_at,payload,attributes) VALUES ", "",
	 ROWS_EVENT,
	 REC_EVENT, false, add_event_record},
	{"INSERT INTO deliveries (event_seq,plugin,status,attempts,timed_out,last_error,finished_at,latency_us) VALUES ",
	 "", ROWS_DELIVERY, REC_DELIVERY, false, add_delivery_row},
	{"INSERT INTO dead_letters (event_seq,plugin,attempts,last_error,created_at) VALUES ", "", ROWS_DEAD_LETTER,
	 REC_DELIVERY, true, add_dead_letter_row},
	{"UPDATE events SET state='done' WHERE state='accepted' AND seq IN (", ")", ROWS_STATE, REC_DONE, false,
	 add_seq},
	{"UPDATE events SET state='refused' WHERE seq IN (", ")", ROWS_STATE, REC_REFUSED, false, add_seq},
	{"INSERT INTO audit_log (at,actor,action,detail) VALUES ", "", ROWS_AUDIT, REC_AUDIT, false, add_audit_row},
	{"INSERT INTO delivery_attempts (event_seq,plugin,attempts,updated_at) VALUES ",
	 " ON DUPLICATE KEY UPDATE attempts=GREATEST(attempts,VALUES(attempts)),updated_at=VALUES(updated_at)",
	 ROWS_ATTEMPT, REC_ATTEMPT, false, add_attempt_row},
};
#define STATEMENT_KINDS (sizeof statements / sizeof statements[0])

static bool wants(const statement_kind *k, const db_record *r)
{
	return r->kind == k->takes && (!k->dead_only || r->dead);
}

/* Send the statement in w->sql (closed with `tail`).  0, or -1 with
 * conn.error set. */
static int flush_statement(writer *w, const statement_kind *k)
{
	sqlbuf_adds(&w->sql, k->tail);
	if (w->sql.failed) {
		snprintf(w->conn.error, sizeof w->conn.error, "out of memory building a statement");
		w->conn.error_code = 0;
		return -1;
	}
	return db_exec(&w->conn, w->sql.data, w->sql.len);
}

/* Write the rows of kind `k` among `list` in statements of bounded size:
 * a row that would take a statement past the limit starts the next one. */
static int write_kind(writer *w, const statement_kind *k, db_record *list, uint64_t *rows)
{
	size_t limit = w->conn.max_packet / 2 < STATEMENT_MAX_BYTES ? w->conn.max_packet / 2 : STATEMENT_MAX_BYTES;
	size_t in_statement = 0;
	sqlbuf_reset(&w->sql);
	for (db_record *r = list; r; r = r->next) {
		if (!wants(k, r))
			continue;
		size_t before = w->sql.len;
		sqlbuf_adds(&w->sql, in_statement ? "," : k->head);
		k->add(w, r);
		if (in_statement && w->sql.len > limit) {
			/* send what came before this row, then start again with it */
			w->sql.len = before;
			w->sql.data[before] = '\0';
			if (flush_statement(w, k) != 0)
				return -1;
			*rows += in_statement;
			in_statement = 0;
			sqlbuf_reset(&w->sql);
			sqlbuf_adds(&w->sql, k->head);
			k->add(w, r);
		}
		in_statement++;
	}
	if (in_statement) {
		if (flush_statement(w, k) != 0)
			return -1;
		*rows += in_statement;
	}
	return 0;
}

/* One transaction for `list`.  0 committed; -1 rolled back (conn.error). */
static int write_round(writer *w, db_record *list)
{
	uint64_t rows[STATEMENT_KINDS] = {0};
	int64_t t0 = clock_monotonic_us();
	w->commit_failed = false;
	if (db_execs(&w->conn, "START TRANSACTION") != 0)
		return -1;
	for (size_t i = 0; i < STATEMENT_KINDS; i++) {
		if (write_kind(w, &statements[i], list, &rows[i]) != 0) {
			db_conn saved = w->conn; /* keep the first error, not ROLLBACK's */
			db_execs(&w->conn, "ROLLBACK");
			snprintf(w->conn.error, sizeof w->conn.error, "%s", saved.error);
			w->conn.error_code = saved.error_code;
			return -1;
		}
	}
	if (db_execs(&w->conn, "COMMIT") != 0) {
		w->commit_failed = true;
		return -1;
	}
	db_counters *c = &w->db->counters;
	histogram_observe_us(&c->commit_latency, clock_monotonic_us() - t0);
	uint64_t total = 0;
	for (size_t i = 0; i < STATEMENT_KINDS; i++) {
		atomic_fetch_add(&c->rows[statements[i].rows], rows[i]);
		total += rows[i];
	}
	atomic_fetch_add(&c->transactions[w - w->db->writers], 1);
	atomic_store(&c->last_batch_rows, total);
	return 0;
}

/* Resolve the tickets in `list` with `status` (0: stored) and free it. */
static void finish_list(db_record *list, int status, const char *why)
{
	while (list) {
		db_record *next = list->next;
		if (list->ticket)
			ticket_resolve(list->ticket, status, why);
		record_free(list);
		list = next;
	}
}

/* Put records without tickets back at the head of the queue (the
 * database is down; they wait for it); fail the tickets. */
static void requeue(writer *w, db_record *list, const char *why)
{
	db_record *keep = NULL, **tail = &keep;
	size_t kept = 0;
	while (list) {
		db_record *next = list->next;
		if (list->ticket) {
			ticket_resolve(list->ticket, 503, why);
			record_free(list);
		} else {
			*tail = list;
			tail = &list->next;
			kept++;
		}
		list = next;
	}
	*tail = NULL;
	if (!keep)
		return;
	pthread_mutex_lock(&w->lock);
	db_record *last = keep;
	while (last->next)
		last = last->next;
	last->next = w->head;
	w->head = keep;
	if (!w->tail)
		w->tail = last;
	w->depth += kept;
	for (db_record *r = keep; r != last->next; r = r->next)
		w->bytes += record_bytes(r);
	/* Keep the bound: drop the newest beyond it. */
	if (w->depth > w->db->settings.queue_size) {
		size_t allowed = w->db->settings.queue_size, n = 1;
		db_record *r = w->head;
		while (n < allowed) {
			r = r->next;
			n++;
		}
		db_record *extra = r->next;
		r->next = NULL;
		w->tail = r;
		size_t dropped = w->depth - allowed;
		w->depth = allowed;
		for (db_record *x = extra; x; x = x->next)
			w->bytes -= record_bytes(x);
		count_dropped(w, dropped, "the database queue is full while the database is unavailable");
		finish_list(extra, 503, "dropped");
	}
	pthread_mutex_unlock(&w->lock);
}

#define UNSURE_MAX 100000

static void remember_unsure(writer *w, const db_record *list)
{
	for (const db_record *r = list; r; r = r->next) {
		if (!r->ticket)
			continue;
		if (!w->unsure && !(w->unsure = calloc(UNSURE_MAX, sizeof *w->unsure)))
			return;
		if (w->unsure_count == UNSURE_MAX) {
			LOG_WARN("database", "more than %d events refused during the outage; the oldest may be redelivered "
			                     "at the next start if their failed commit stored them", UNSURE_MAX);
			w->unsure_count = 0;
		}
		w->unsure[w->unsure_count++] = r->seq;
	}
}

/* Connected again: mark the rows of events answered 503 as refused, in
 * case the commit they failed in had stored them. */
static bool settle_unsure(writer *w)
{
	sqlbuf *b = &w->sql;
	for (size_t i = 0; i < w->unsure_count; i += 1000) {
		sqlbuf_reset(b);
		sqlbuf_adds(b, "UPDATE events SET state='refused' WHERE state='accepted' AND seq IN (");
		for (size_t k = i; k < w->unsure_count && k < i + 1000; k++)
			sqlbuf_addf(b, "%s%llu", k == i ? "" : ",", (unsigned long long)w->unsure[k]);
		sqlbuf_adds(b, ")");
		if (b->failed || db_exec(&w->conn, b->data, b->len) != 0)
			return false;
	}
	w->unsure_count = 0;
	return true;
}

/* The next connection attempt waits twice as long as the last (from
 * RECONNECT_FIRST_MS up to reconnect_max_ms): a server that takes
 * connections but refuses the writes is not hammered, nor the log filled
 * with its ups and downs. */
static void back_off(writer *w)
{
	w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : RECONNECT_FIRST_MS;
	if (w->backoff_ms > w->db->settings.reconnect_max_ms)
		w->backoff_ms = w->db->settings.reconnect_max_ms;
	w->next_attempt_us = clock_monotonic_us() + (int64_t)w->backoff_ms * 1000;
}

/* The database is down for this writer (the last error says why): /health
 * and the log say so, the connection is closed and opened again after the
 * backoff. */
static void go_down(writer *w)
{
	db_set_state(w->db, DB_DOWN, w->conn.error);
	db_close(&w->conn);
	back_off(w);
}

/* Whether the last error means the database is unavailable to every
 * record (the connection, or the server refusing writes for now) rather
 * than refusing one of them. */
static bool database_unavailable(const writer *w)
{
	return db_error_is_connection(&w->conn) || db_error_refuses_writes(&w->conn);
}

/* The connection failed, or the server takes no writes for now
 * (db_error_refuses_writes()): the records wait, and the connection is
 * opened again with backoff (try_connect() checks that writes pass). */
static void connection_lost(writer *w, db_record *list)
{
	char why[600];
	snprintf(why, sizeof why, "the database is unavailable (%s)", w->conn.error);
	remember_unsure(w, list);
	w->writes_refused = db_error_refuses_writes(&w->conn);
	go_down(w);
	requeue(w, list, why);
}

/* A statement failed but the connection is fine: the batch holds a record
 * the server refuses.  Write each record alone so only the bad ones fail. */
static void write_one_by_one(writer *w, db_record *list)
{
	while (list) {
		db_record *next = list->next;
		list->next = NULL;
		if (write_round(w, list) == 0) {
			finish_list(list, 0, "");
		} else if (database_unavailable(w)) {
			list->next = next;
			connection_lost(w, list);
			return;
		} else {
			atomic_fetch_add(&w->db->counters.errors[DB_ERR_WRITE], 1);
			LOG_ERROR("database", "the server refused a history record (%s) and it was dropped: %s",
			          list->kind == REC_EVENT      ? "event"
			          : list->kind == REC_DELIVERY ? "delivery"
			          : list->kind == REC_ATTEMPT  ? "attempt"
			                                       : "state",
			          w->conn.error);
			count_dropped(w, 1, "refused by the server");
			char why[600];
			snprintf(why, sizeof why, "the database refused the event (%s)", w->conn.error);
			finish_list(list, 503, why);
		}
		list = next;
	}
}

/* The bytes an event's row takes in a statement, escaping included. */
static size_t event_row_bytes(const es_event *e)
{
	size_t n = STATEMENT_OVERHEAD + strlen(e->id) + strlen(e->name) + strlen(e->source);
	if (e->time_text)
		n += 2 * strlen(e->time_text) + 2;
	for (size_t i = 0; i < e->data_len; i++) {
		char c = e->data[i];
		n += (c == '\'' || c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\0' || c == '\032') ? 2 : 1;
	}
	for (size_t i = 0; i < e->attribute_count; i++)
		n += 2 * (strlen(e->attributes[i].key) + strlen(e->attributes[i].value)) + 8;
	return n;
}

/* Take out of `list` the event rows the server could never accept (over
 * its max_allowed_packet: sending one would make it drop the connection);
 * each is refused alone, with the reason.  Returns the rest. */
static db_record *refuse_oversized(writer *w, db_record *list)
{
	db_record *keep = NULL, **tail = &keep;
	while (list) {
		db_record *next = list->next;
		list->next = NULL;
		size_t bytes = list->kind == REC_EVENT ? event_row_bytes(list->event) : 0;
		if (bytes > w->conn.max_packet) {
			char why[300];
			snprintf(why, sizeof why,
			         "the event's row (%zu bytes) is larger than the database accepts (max_allowed_packet %zu)",
			         bytes, w->conn.max_packet);
			LOG_ERROR("database", "event %s (%s) not stored: %s", list->event->id, list->event->name, why);
			atomic_fetch_add(&w->db->counters.errors[DB_ERR_WRITE], 1);
			count_dropped(w, 1, "a row larger than max_allowed_packet");
			finish_list(list, 413, why);
		} else {
			*tail = list;
			tail = &list->next;
		}
		list = next;
	}
	return keep;
}

static void process(writer *w, db_record *list)
{
	list = refuse_oversized(w, list);
	if (!list)
		return;
	if (write_round(w, list) == 0) {
		atomic_store(&w->drop_logged, false);
		w->backoff_ms = 0;
		w->writes_refused = false;
		finish_list(list, 0, "");
		return;
	}
	if (db_error_is_connection(&w->conn)) {
		/* A connection that went stale while this writer was idle (an
		 * outage since, or the server's wait_timeout) is reopened once and
		 * the round retried before the database is called down -- unless
		 * it broke at the COMMIT, which may have stored the round. */
		if (!w->commit_failed && db_open(w->db, &w->conn, false) == 0 && write_round(w, list) == 0) {
			finish_list(list, 0, "");
			return;
		}
		if (db_error_is_connection(&w->conn)) {
			connection_lost(w, list);
			return;
		}
	}
	/* Another transaction held the rows: the round itself may pass now. */
	for (int again = 0; again < LOCK_CONFLICT_RETRIES && db_error_is_lock_conflict(&w->conn) && !w->commit_failed;
	     again++) {
		if (write_round(w, list) == 0) {
			finish_list(list, 0, "");
			return;
		}
	}
	if (database_unavailable(w)) {
		connection_lost(w, list);
		return;
	}
	atomic_fetch_add(&w->db->counters.errors[DB_ERR_WRITE], 1);
	LOG_WARN("database", "a write failed (%s); writing the records one by one", w->conn.error);
	write_one_by_one(w, list);
}

static bool connect_failed(writer *w)
{
	atomic_fetch_add(&w->db->counters.errors[DB_ERR_CONNECT], 1);
	go_down(w);
	return false;
}

/* The events writer makes the keys: with a node_id it must hold its
 * claim (db_node_claim.h) to write.  False when it does not (the reason
 * is logged once, shown by /health) or the statement failed. */
static bool hold_node_claim(writer *w)
{
	db_shared *db = w->db;
	if (!db->settings.node_id || w != &db->writers[WRITER_EVENTS])
		return true;
	char why[512] = "";
	node_claim_result r = db_node_claim_hold(db, &w->conn, why, sizeof why);
	if (r == NODE_CLAIM_ERROR)
		return false;
	if (r == NODE_CLAIM_TAKEN)
		snprintf(w->conn.error, sizeof w->conn.error, "%s", why);
	w->claim_renew_us = r == NODE_CLAIM_TAKEN ? 0 : clock_monotonic_us() + (int64_t)DB_NODE_CLAIM_RENEW_S * 1000000;
	return r == NODE_CLAIM_HELD;
}

/* Renew the claim when it is due; on failure the connection is closed and
 * the next round reconnects (and claims again, or says who has it). */
static void renew_node_claim(writer *w)
{
	if (hold_node_claim(w))
		return;
	w->claim_renew_us = 0;
	db_set_state(w->db, DB_DOWN, w->conn.error);
	db_close(&w->conn);
}

/* Connect (and check the schema) and, with a node_id, claim it; then seed
 * the key generator from the largest key in use and settle what an outage
 * left unsure. */
static bool try_connect(writer *w)
{
	db_shared *db = w->db;
	if (db_open(db, &w->conn, db->settings.migrate_on_start) != 0)
		return connect_failed(w);
	if (!hold_node_claim(w))
		return connect_failed(w);
	static const char q[] = "SELECT COALESCE(MAX(seq), 0) FROM events";
	MYSQL_RES *res = db_query(&w->conn, q, sizeof q - 1);
	MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
	uint64_t max_seq = row && row[0] ? strtoull(row[0], NULL, 10) : 0;
	if (res)
		mysql_free_result(res);
	if (!row)
		return connect_failed(w);
	if (db->settings.node_id) {
		/* the time part: this node's next keys are above every key in use */
		seed_seq(db, (max_seq >> DB_NODE_BITS) + 1);
	} else {
		if (!atomic_load(&db->seeded) && max_seq >= db->boot_seq)
			LOG_WARN("database",
			         "the newest recorded event is later than this start (is the clock behind?); events after "
			         "the start time are not redelivered after the last crash");
		seed_seq(db, max_seq + 1);
	}
	if (!settle_unsure(w))
		return connect_failed(w);
	/* Writes pass (a read-only server, a missing table or a revoked
	 * privilege takes connections and refuses every record): a statement
	 * that writes nothing but is refused as any write would be. */
	static const char probe[] = "UPDATE events SET state=state WHERE seq=0";
	if (db_exec(&w->conn, probe, sizeof probe - 1) != 0)
		return connect_failed(w);
	atomic_store(&db->seeded, true);
	db_set_state(db, DB_UP, NULL);
	db_reader_wake(db); /* recovery may begin */
	db_connected(db);
	return true;
}

/* Nothing to write for IDLE_CHECK_US: a round trip on the connection; a
 * lost one is the outage it would be at the next write. */
static void check_idle_connection(writer *w)
{
	if (db_execs(&w->conn, "DO 0") != 0 && db_error_is_connection(&w->conn))
		go_down(w);
}

static void *writer_main(void *arg)
{
	writer *w = arg;
	for (;;) {
		pthread_mutex_lock(&w->lock);
		for (;;) {
			bool connected = w->conn.mysql != NULL;
			int64_t now = clock_monotonic_us();
			if (w->stop && (w->depth == 0 || now >= w->stop_deadline_us))
				break;
			if (!connected && now >= w->next_attempt_us)
				break; /* (re)connect even with nothing queued: /health follows the server */
			if (connected && w->depth > 0)
				break;
			if (connected && w->claim_renew_us && now >= w->claim_renew_us)
				break;
			if (connected && now >= w->idle_check_us)
				break;
			int64_t until = connected ? w->idle_check_us : w->next_attempt_us;
			if (w->stop && until > w->stop_deadline_us)
				until = w->stop_deadline_us;
			clock_cond_wait_us(&w->wake, &w->lock, until - now);
		}
		if (w->stop && (w->depth == 0 || clock_monotonic_us() >= w->stop_deadline_us)) {
			size_t n;
			db_record *left = take_queue_locked(w, &n);
			w->exited = true;
			pthread_mutex_unlock(&w->lock);
			if (n) {
				size_t outcomes = 0;
				for (const db_record *r = left; r; r = r->next)
					outcomes += r->kind == REC_DELIVERY || r->kind == REC_DONE;
				count_dropped(w, n, "the shutdown deadline passed");
				LOG_ERROR("database", "%zu history record%s not written before the shutdown deadline%s", n,
				          n == 1 ? "" : "s",
				          outcomes ? " (among them outcomes of delivered events: the next start delivers those "
				                     "events again)"
				                   : "");
			}
			finish_list(left, 503, "the server is shutting down");
			break;
		}
		if (w->conn.mysql && w->claim_renew_us && clock_monotonic_us() >= w->claim_renew_us) {
			pthread_mutex_unlock(&w->lock);
			renew_node_claim(w);
			continue;
		}
		db_record *list = w->conn.mysql ? take_queue_locked(w, NULL) : NULL;
		pthread_mutex_unlock(&w->lock);
		if (w->conn.mysql)
			w->idle_check_us = clock_monotonic_us() + IDLE_CHECK_US;
		if (w->conn.mysql && !list) {
			check_idle_connection(w);
			continue;
		}

		if (!w->conn.mysql) {
			/* After refused writes only a written round resets the
			 * backoff: the connect passes its probe, and a refusal it
			 * cannot see (another table's privilege) would make the
			 * writer go up and down at once, again and again. */
			bool connected = try_connect(w); /* backs off when it fails */
			if (connected && !w->writes_refused)
				w->backoff_ms = 0;
			if (!connected) {
				/* Durable tickets queued before the first attempt fail now. */
				pthread_mutex_lock(&w->lock);
				db_record *queued = take_queue_locked(w, NULL);
				pthread_mutex_unlock(&w->lock);
				char error[512], why[600];
				db_status_error(w->db, error, sizeof error);
				snprintf(why, sizeof why, "the database is unavailable (%s)", error);
				requeue(w, queued, why);
			}
			continue;
		}
		process(w, list);
	}
	if (w->conn.mysql && w->claim_renew_us) /* a clean stop frees the number at once */
		db_node_release(&w->conn, w->db->settings.node_id, w->db->settings.node_holder);
	db_close(&w->conn);
	return NULL;
}

static int start_one(db_shared *db, int index, char *err, size_t err_size)
{
	writer *w = &db->writers[index];
	memset(w, 0, sizeof *w);
	w->db = db;
	pthread_mutex_init(&w->lock, NULL);
	clock_cond_init(&w->wake);
	int rc = pthread_create(&w->thread, NULL, writer_main, w);
	if (rc != 0) {
		snprintf(err, err_size, "cannot start the database writer: %s", strerror(rc));
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		w->db = NULL; /* nothing for db_writer_free() to destroy */
		return -1;
	}
	pthread_setname_np(w->thread, writer_names[index]);
	w->running = true;
	return 0;
}

static void stop_one(writer *w, int64_t deadline_us)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	w->stop_deadline_us = deadline_us;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->running = false;
	sqlbuf_free(&w->sql);
	free(w->unsure);
	w->unsure = NULL;
	/* lock and wake stay valid: a handler abandoned as stuck may still
	 * report an outcome after the stop, and is dropped (counted) above. */
}

int db_writer_start(db_shared *db, char *err, size_t err_size)
{
	db->writers = calloc(WRITERS, sizeof *db->writers);
	if (!db->writers) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	if (start_one(db, WRITER_EVENTS, err, err_size) != 0)
		return -1;
	if (start_one(db, WRITER_OUTCOMES, err, err_size) != 0) {
		stop_one(&db->writers[WRITER_EVENTS], clock_monotonic_us());
		return -1;
	}
	return 0;
}

void db_writer_stop(db_shared *db, int64_t deadline_us)
{
	/* Events first: their async rows precede the outcomes that follow. */
	stop_one(&db->writers[WRITER_EVENTS], deadline_us);
	stop_one(&db->writers[WRITER_OUTCOMES], deadline_us);
}

void db_writer_free(db_shared *db)
{
	if (!db->writers)
		return;
	for (int i = 0; i < WRITERS; i++) {
		writer *w = &db->writers[i];
		if (w->db) { /* started once: lock and wake were made */
			pthread_cond_destroy(&w->wake);
			pthread_mutex_destroy(&w->lock);
		}
	}
	free(db->writers);
	db->writers = NULL;
}
