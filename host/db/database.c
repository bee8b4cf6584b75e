/*
 * The database's lifecycle, health and metrics, and `--migrate`.  The
 * writer and reader threads are in db_writer.c and db_reader.c; a build
 * without the MySQL client gets the no-op versions at the end of this file.
 */
#include "config.h"

#include "db/database.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model/es_config.h"
#include "util/log.h"

#ifdef HAVE_MYSQL

#include "db/db_internal.h"
#include "db/db_node_claim.h"
#include "db/db_schema.h"
#include "util/prom_text.h"
#include "model/pattern.h"

bool database_running(const database *db)
{
	return db && atomic_load_explicit(&db->running, memory_order_acquire);
}

bool database_durable(const database *db)
{
	return database_running(db) && db->settings.durable;
}

struct event *db_wake_new(db_shared *db, struct event_base *base, void (*cb)(evutil_socket_t, short, void *), void *arg)
{
	struct event *wake = event_new(base, -1, 0, cb, arg);
	if (wake && database_running(db))
		atomic_fetch_add(&db->outstanding, 1);
	return wake;
}

void db_wake_fire(db_shared *db, struct event *wake)
{
	if (!atomic_load(&db->orphaned))
		event_active(wake, EV_READ, 0);
}

void db_wake_free(db_shared *db, struct event *wake)
{
	if (!wake)
		return;
	event_free(wake);
	if (database_running(db))
		atomic_fetch_sub(&db->outstanding, 1);
}

void db_status_error(db_shared *db, char *out, size_t out_size)
{
	pthread_mutex_lock(&db->status_lock);
	snprintf(out, out_size, "%s", db->status_error);
	pthread_mutex_unlock(&db->status_lock);
}

void db_set_state(db_shared *db, db_state state, const char *error)
{
	pthread_mutex_lock(&db->status_lock);
	/* /health shows the latest error; the log only each change of state
	 * (two writers meeting the outage at different moments with different
	 * errors would otherwise say it several times). */
	snprintf(db->status_error, sizeof db->status_error, "%s", state == DB_UP ? "" : error ? error : "");
	int before = atomic_exchange(&db->state, (int)state);
	pthread_mutex_unlock(&db->status_lock);
	if (before == (int)state)
		return;
	char where[900];
	const dsn *d = &db->settings.where;
	if (d->socket_path[0])
		snprintf(where, sizeof where, "%s@unix(%s)/%s", d->user, d->socket_path, d->database);
	else
		snprintf(where, sizeof where, "%s@%s:%u/%s", d->user, d->host, d->port, d->database);
	if (state == DB_UP)
		LOG_INFO("database", "connected to %s%s", where, before == DB_DOWN ? ": recovered" : "");
	else
		LOG_ERROR("database", "%s unavailable: %s; %s; reconnecting with backoff", where, error ? error : "",
		          db->settings.durable ? "triggers are answered 503 until it is back"
		                               : "history is queued until it is back");
}

void db_connected(db_shared *db)
{
	if (!atomic_exchange(&db->subscriptions_pending, false))
		return;
	pthread_mutex_lock(&db->readable_lock);
	if (db->on_readable)
		db->on_readable(db->on_readable_arg);
	pthread_mutex_unlock(&db->readable_lock);
}

void database_on_subscriptions_readable(database *db, void (*on_readable)(void *), void *arg)
{
	if (!database_running(db))
		return;
	pthread_mutex_lock(&db->readable_lock); /* waits for a callback still running */
	db->on_readable = on_readable;
	db->on_readable_arg = arg;
	pthread_mutex_unlock(&db->readable_lock);
}

static void note_migration(const db_migration *m, void *arg)
{
	LOG_INFO("database", "applied migration %04u_%s", m->version, m->name);
}

/* Migrate over `conn` unless done already.  Serialised: the two writers
 * connect at the same time, and two migrations at once collide ("applied
 * but not recorded: Duplicate entry"). */
static int migrate_once(db_shared *db, db_conn *conn, char *err, size_t err_size)
{
	pthread_mutex_lock(&db->migrate_lock);
	int rc = 0;
	if (!db->migrated) {
		rc = db_schema_migrate(conn, note_migration, NULL, err, err_size);
		db->migrated = rc == 0;
	}
	pthread_mutex_unlock(&db->migrate_lock);
	return rc;
}

int db_open(db_shared *db, db_conn *conn, bool migrate)
{
	if (db_connect(conn, &db->settings.where, &db->settings.timeouts) != 0)
		return -1;
	char err[512];
	if (migrate && migrate_once(db, conn, err, sizeof err) != 0) {
		snprintf(conn->error, sizeof conn->error, "%s", err);
		conn->error_code = 0;
		return -1;
	}
	if (db_schema_check(conn, err, sizeof err) != 0) {
		snprintf(conn->error, sizeof conn->error, "%s", err);
		conn->error_code = 0;
		return -1;
	}
	return 0;
}

static void settings_from(const es_config *c, db_settings *s)
{
	char why[256];
	dsn_parse(c->database_dsn, &s->where, why, sizeof why); /* validated with the config */
	s->timeouts.connect_ms = c->database_connect_timeout_ms;
	s->timeouts.query_ms = c->database_query_timeout_ms;
	s->durable = c->database_durable;
	s->migrate_on_start = c->database_migrate_on_start;
	s->retention_days = c->database_retention_days;
	s->purge_interval_s = c->database_purge_interval_s;
	s->queue_size = c->database_queue_size;
	s->queue_max_bytes = (size_t)c->database_queue_max_mb << 20;
	s->reconnect_max_ms = c->database_reconnect_max_ms;
	s->node_id = c->queue_backend == QUEUE_JETSTREAM ? c->jetstream.node_id : 0;
}

static int parse_subscription_rows(MYSQL_RES *res, es_config *into, char *err, size_t err_size)
{
	size_t n = (size_t)mysql_num_rows(res);
	db_subscription *rows = calloc(n ? n : 1, sizeof *rows);
	if (!rows) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	MYSQL_ROW row;
	size_t count = 0;
	int rc = 0;
	while (rc == 0 && (row = mysql_fetch_row(res))) {
		char why[200];
		unsigned long id = strtoul(row[0], NULL, 10);
		if (!row[1][0] || strlen(row[1]) > 64) {
			snprintf(err, err_size, "event_subscriptions row %lu: plugin name must be 1 to 64 characters", id);
			rc = -1;
		} else if (!pattern_valid(row[2], why, sizeof why)) {
			snprintf(err, err_size, "event_subscriptions row %lu: pattern '%.255s': %s", id, row[2], why);
			rc = -1;
		} else {
			rows[count++] = (db_subscription){.id = id, .plugin = row[1], .pattern = row[2]};
		}
	}
	if (rc == 0 && es_config_set_db_subscriptions(into, rows, count) != 0) {
		snprintf(err, err_size, "out of memory");
		rc = -1;
	}
	free(rows);
	return rc;
}

int database_read_subscriptions(database *db, es_config *into, const es_config *previous, char *err, size_t err_size)
{
	into->db_subscriptions_state = DB_SUBSCRIPTIONS_NONE;
	/* At a reload (`previous`), the database the daemon runs with:
	 * database.enabled and its connection keys apply at a restart only, so
	 * the routes come from the database that records the events. */
	bool enabled = previous ? database_running(db) : into->database_enabled;
	if (!enabled || !into->database_subscriptions)
		return 0;
	db_settings s;
	if (previous)
		s = db->settings;
	else
		settings_from(into, &s);
	db_conn conn = {0};
	static const char q[] = "SELECT id, plugin, pattern FROM event_subscriptions WHERE enabled <> 0 ORDER BY id";
	MYSQL_RES *res = db_connect(&conn, &s.where, &s.timeouts) == 0 ? db_query(&conn, q, sizeof q - 1) : NULL;
	if (!res) {
		const es_config *from = previous && previous->database_subscriptions ? previous : NULL;
		LOG_WARN("database", "event_subscriptions not read (%s); %s; read again once the database is reachable",
		         conn.error, from && from->db_subscription_count ? "keeping the rows read before"
		                                                       : "only the config file's subscriptions apply");
		db_close(&conn);
		if (from && es_config_set_db_subscriptions(into, from->db_subscriptions, from->db_subscription_count) != 0) {
			snprintf(err, err_size, "out of memory");
			return -1;
		}
		into->db_subscriptions_state = DB_SUBSCRIPTIONS_PREVIOUS;
		if (database_running(db))
			atomic_store(&db->subscriptions_pending, true);
		return 0;
	}
	int rc = parse_subscription_rows(res, into, err, err_size);
	mysql_free_result(res);
	db_close(&conn);
	if (rc == 0) {
		into->db_subscriptions_state = DB_SUBSCRIPTIONS_READ;
		if (into->db_subscription_count)
			LOG_INFO("database", "event_subscriptions: %zu row%s add subscriptions", into->db_subscription_count,
			         into->db_subscription_count == 1 ? "" : "s");
	}
	return rc;
}

node_claim_result db_node_claim_hold(db_shared *db, db_conn *conn, char *why, size_t why_size)
{
	int64_t sent = clock_monotonic_us(); /* the lease counts from before the statement */
	node_claim_result r = db_node_claim(conn, db->settings.node_id, db->settings.node_holder, why, why_size);
	if (r == NODE_CLAIM_ERROR)
		return r; /* the lease runs out on its own */
	bool taken = r == NODE_CLAIM_TAKEN;
	if (taken) {
		pthread_mutex_lock(&db->status_lock);
		snprintf(db->node_claim_error, sizeof db->node_claim_error, "%s", why);
		pthread_mutex_unlock(&db->status_lock);
	}
	atomic_store(&db->node_keys_until_us, taken ? 0 : sent + (int64_t)DB_NODE_CLAIM_KEYS_S * 1000000);
	/* (a claim taken is logged as the database being unavailable, with why) */
	bool before = atomic_exchange(&db->node_claim_taken, taken);
	if (!taken && before)
		LOG_INFO("database", "queue.jetstream.node_id %u is this daemon's now: writing history again",
		         db->settings.node_id);
	return r;
}

/* With a node_id: claim it before the daemon is ready, so the first events
 * get keys (database_next_seq() makes none without the claim).  An
 * unreachable server does not stop the start: the events writer claims
 * once it connects, and events until then have no history. */
static void claim_node_at_start(db_shared *db)
{
	db_conn conn = {0};
	if (db_connect(&conn, &db->settings.where, &db->settings.timeouts) != 0) {
		LOG_WARN("database", "queue.jetstream.node_id %u: the database is not reachable at start (%s); events get "
		         "no history until this daemon holds its number", db->settings.node_id, conn.error);
		return;
	}
	char why[512] = "";
	if (db_node_claim_hold(db, &conn, why, sizeof why) == NODE_CLAIM_ERROR)
		LOG_WARN("database", "queue.jetstream.node_id %u: cannot claim it at start (%s); retried when the writer "
		         "connects", db->settings.node_id, conn.error);
	db_close(&conn);
}

int database_start(database **out, const es_config *config, const database_readmit *readmit, char *err,
                   size_t err_size)
{
	*out = NULL;
	if (!config->database_enabled)
		return 0;
	db_shared *db = calloc(1, sizeof *db);
	if (!db) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	settings_from(config, &db->settings);
	db->readmit = *readmit;
	pthread_mutex_init(&db->status_lock, NULL);
	pthread_mutex_init(&db->readable_lock, NULL);
	pthread_mutex_init(&db->migrate_lock, NULL);
	atomic_init(&db->state, DB_CONNECTING);
	snprintf(db->status_error, sizeof db->status_error, "connecting");
	uint64_t now_us = (uint64_t)clock_realtime_us();
	/* the keys this run makes are above boot_seq (database_next_seq()) */
	db->boot_seq = db->settings.node_id ? now_us << DB_NODE_BITS : now_us;
	atomic_init(&db->subscriptions_pending, config->db_subscriptions_state == DB_SUBSCRIPTIONS_PREVIOUS);
	atomic_init(&db->last_seq, now_us);
	atomic_store_explicit(&db->running, true, memory_order_release);
	if (db->settings.migrate_on_start) {
		/* Before the threads that need the schema (and before the plugins
		 * and the HTTP server).  An unreachable server does not stop the
		 * start: the first writer to connect migrates then. */
		db_conn conn = {0};
		char why[512];
		if (db_connect(&conn, &db->settings.where, &db->settings.timeouts) != 0)
			LOG_WARN("database", "database.migrate_on_start: not reachable at start (%s); migrating once it is",
			         conn.error);
		else if (migrate_once(db, &conn, why, sizeof why) != 0)
			LOG_ERROR("database", "database.migrate_on_start: %s; retried at each reconnect", why);
		db_close(&conn);
	}
	if (db->settings.node_id) {
		/* (only here: --check-config and --migrate leave the state directory alone) */
		char why[600];
		if (db_node_holder(db->settings.node_holder, sizeof db->settings.node_holder, config->state_dir,
		                   config->server_host, config->server_port, &db->node_holder_fd, why, sizeof why) != 0)
			LOG_WARN("database",
			         "cannot keep this daemon's identity for its claim on queue.jetstream.node_id %u (%s): a "
			         "restart waits until the old claim is %d s old before it writes history",
			         db->settings.node_id, why, DB_NODE_CLAIM_LEASE_S);
		claim_node_at_start(db);
	}
	/* The reader first: the writers wake it (db_reader_wake) as soon as
	 * they connect, so it must be set up before they run. */
	if (db_reader_start(db, err, err_size) != 0) {
		atomic_store(&db->running, false);
		database_free(db);
		return -1;
	}
	if (db_writer_start(db, err, err_size) != 0) {
		db_reader_stop(db);
		atomic_store(&db->running, false);
		database_free(db);
		return -1;
	}
	char redacted[512];
	dsn_redact(config->database_dsn, redacted, sizeof redacted);
	LOG_INFO("database", "recording events in %s (%s mode, retention %g days)", redacted,
	         db->settings.durable ? "durable" : "async", db->settings.retention_days);
	if (db->settings.node_id)
		LOG_INFO("database", "node %u of a shared database: JetStream redelivers what a stop left unfinished, "
		         "the database does not", db->settings.node_id);
	*out = db;
	return 0;
}

void database_allow_recovery(database *db)
{
	if (!database_running(db))
		return;
	/* With JetStream the unacknowledged deliveries of a stopped node come
	 * back from the stream (to any node): a redelivery from the table too
	 * would run them twice, and would take the other nodes' unfinished
	 * events for this one's. */
	if (db->settings.node_id)
		return;
	atomic_store(&db->recovery_allowed, true);
	db_reader_wake(db);
}

void database_quiesce(database *db, int64_t deadline_us)
{
	if (!database_running(db))
		return;
	atomic_store(&db->quiescing, true);
	while (atomic_load(&db->outstanding) > 0 && clock_monotonic_us() < deadline_us) {
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	uint64_t left = atomic_load(&db->outstanding);
	if (left) {
		/* Their HTTP threads stop next: nobody may wake them after that. */
		atomic_store(&db->orphaned, true);
		LOG_WARN("database", "%llu database request%s still unanswered at the shutdown deadline; their clients get no answer",
		         (unsigned long long)left, left == 1 ? "" : "s");
	}
}

void database_stop(database *db, int64_t deadline_us)
{
	if (!database_running(db))
		return;
	atomic_store(&db->quiescing, true);
	db_reader_stop(db);
	db_writer_stop(db, deadline_us);
	atomic_store_explicit(&db->running, false, memory_order_release);
}

void database_free(database *db)
{
	if (!db)
		return;
	db_reader_free(db);
	db_writer_free(db);
	if (db->node_holder_fd > 0)
		close(db->node_holder_fd); /* the identity's lock: the claim was given up by the writer */
	pthread_mutex_destroy(&db->status_lock);
	pthread_mutex_destroy(&db->readable_lock);
	pthread_mutex_destroy(&db->migrate_lock);
	free(db);
}

const char *database_health(database *db, char *why, size_t why_size)
{
	why[0] = '\0';
	if (!database_running(db))
		return "disabled";
	if (atomic_load(&db->node_claim_taken)) {
		pthread_mutex_lock(&db->status_lock);
		snprintf(why, why_size, "%s", db->node_claim_error);
		pthread_mutex_unlock(&db->status_lock);
		return "failing";
	}
	if (atomic_load(&db->state) == DB_UP)
		return "ok";
	db_status_error(db, why, why_size);
	return "failing";
}

void database_metrics_render(database *db, struct evbuffer *out)
{
	if (!database_running(db))
		return;
	db_counters *c = &db->counters;
	prom_text_header(out, "eventsys_db_up", "gauge", "1 while the database writer is connected.");
	evbuffer_add_printf(out, "eventsys_db_up %d\n", atomic_load(&db->state) == DB_UP);
	prom_text_header(out, "eventsys_db_rows_written_total", "counter", "Rows written (or updated) by the writer, by table.");
	static const char *const kinds[] = {"events",    "deliveries", "dead_letters", "event_state",
	                                    "audit_log", "delivery_attempts"};
	for (int i = 0; i < 6; i++)
		evbuffer_add_printf(out, "eventsys_db_rows_written_total{table=\"%s\"} %llu\n", kinds[i],
		                    (unsigned long long)atomic_load(&c->rows[i]));
	prom_text_header(out, "eventsys_db_transactions_total", "counter",
	                 "Transactions committed, by writer (events rows / events transactions = the mean group commit).");
	static const char *const writers[] = {"events", "outcomes"};
	for (int i = 0; i < 2; i++)
		evbuffer_add_printf(out, "eventsys_db_transactions_total{writer=\"%s\"} %llu\n", writers[i],
		                    (unsigned long long)atomic_load(&c->transactions[i]));
	prom_text_header(out, "eventsys_db_last_batch_rows", "gauge", "Rows in the writer's last committed transaction.");
	evbuffer_add_printf(out, "eventsys_db_last_batch_rows %llu\n", (unsigned long long)atomic_load(&c->last_batch_rows));
	prom_text_header(out, "eventsys_db_commit_duration_seconds", "histogram", "Time to write and commit one batch.");
	prom_text_histogram(out, "eventsys_db_commit_duration_seconds", "", &c->commit_latency);
	prom_text_header(out, "eventsys_db_query_duration_seconds", "histogram", "Time to answer one history API query.");
	prom_text_histogram(out, "eventsys_db_query_duration_seconds", "", &c->query_latency);
	prom_text_header(out, "eventsys_db_errors_total", "counter", "Database errors, by operation.");
	static const char *const ops[] = {"connect", "write", "read"};
	for (int i = 0; i < 3; i++)
		evbuffer_add_printf(out, "eventsys_db_errors_total{op=\"%s\"} %llu\n", ops[i],
		                    (unsigned long long)atomic_load(&c->errors[i]));
	prom_text_header(out, "eventsys_db_queue_depth", "gauge", "Records waiting for the writer.");
	evbuffer_add_printf(out, "eventsys_db_queue_depth %zu\n", db_writer_queue_depth(db));
	prom_text_header(out, "eventsys_db_queue_capacity", "gauge", "database.queue_size.");
	evbuffer_add_printf(out, "eventsys_db_queue_capacity %u\n", db->settings.queue_size);
	prom_text_header(out, "eventsys_db_records_dropped_total", "counter",
	                 "History records that could not be written (queue full, refused, shutdown deadline).");
	evbuffer_add_printf(out, "eventsys_db_records_dropped_total %llu\n", (unsigned long long)atomic_load(&c->dropped));
	prom_text_header(out, "eventsys_db_refused_total", "counter",
	                 "Durable stores refused at once (database down or queue full): answered 503.");
	evbuffer_add_printf(out, "eventsys_db_refused_total %llu\n", (unsigned long long)atomic_load(&c->refused));
	prom_text_header(out, "eventsys_db_purged_events_total", "counter", "Events deleted by the retention purge.");
	evbuffer_add_printf(out, "eventsys_db_purged_events_total %llu\n", (unsigned long long)atomic_load(&c->purged));
	prom_text_header(out, "eventsys_db_recovered_events_total", "counter",
	                 "Events of an earlier run redelivered at start (their deliveries had not finished).");
	evbuffer_add_printf(out, "eventsys_db_recovered_events_total %llu\n",
	                    (unsigned long long)atomic_load(&c->recovered));
	prom_text_header(out, "eventsys_db_dead_letters_replayed_total", "counter", "Dead letters replayed through the API.");
	evbuffer_add_printf(out, "eventsys_db_dead_letters_replayed_total %llu\n",
	                    (unsigned long long)atomic_load(&c->replayed));
}

int database_check(const es_config *config, void *out)
{
	FILE *f = out;
	if (!config->database_enabled)
		return 0;
	db_settings s;
	settings_from(config, &s);
	db_conn conn = {0};
	if (db_connect(&conn, &s.where, &s.timeouts) != 0) {
		fprintf(f, "database: cannot connect now (%s); a start would keep retrying\n", conn.error);
		return 0;
	}
	int version = db_schema_version(&conn);
	char err[512];
	int problems = 0;
	if (version >= 0 && db_schema_check(&conn, err, sizeof err) == 0) {
		fprintf(f, "database: reachable, schema version %d (this build needs %u)\n", version, db_schema_wanted());
	} else if (config->database_migrate_on_start && version >= 0) {
		fprintf(f, "database: reachable, schema version %d; database.migrate_on_start will bring it to %u\n", version,
		        db_schema_wanted());
	} else {
		fprintf(f, "database: %s\n", version < 0 ? conn.error : err);
		problems = 1;
	}
	db_close(&conn);
	return problems;
}

/* ---- event-system --migrate ---- */

static void print_migration(const db_migration *m, void *arg)
{
	fprintf(arg, "applied %04u_%s\n", m->version, m->name);
}

int database_migrate_command(const es_config *config, void *out)
{
	FILE *f = out;
	if (!config->database_dsn[0]) {
		fprintf(f, "no database.dsn (or EVENT_SYSTEM_DATABASE_DSN) to migrate\n");
		return 1;
	}
	db_settings s;
	settings_from(config, &s);
	db_conn conn = {0};
	char redacted[512];
	dsn_redact(config->database_dsn, redacted, sizeof redacted);
	if (db_connect(&conn, &s.where, &s.timeouts) != 0) {
		fprintf(f, "cannot connect to %s: %s\n", redacted, conn.error);
		return 1;
	}
	int before = db_schema_version(&conn);
	if (before < 0) {
		fprintf(f, "cannot read the schema version: %s\n", conn.error);
		db_close(&conn);
		return 1;
	}
	fprintf(f, "database %s: schema version %d; this build needs %u\n", redacted, before, db_schema_wanted());
	char err[512];
	int rc = db_schema_migrate(&conn, print_migration, f, err, sizeof err);
	if (rc != 0) {
		fprintf(f, "%s\n", err);
		db_close(&conn);
		return 1;
	}
	int after = db_schema_version(&conn);
	if (after != before) {
		sqlbuf b = {0};
		char detail[128];
		snprintf(detail, sizeof detail, "schema version %d -> %d", before, after);
		sqlbuf_adds(&b, "INSERT INTO audit_log (at,actor,action,detail) VALUES (");
		sqlbuf_add_time(&b, clock_realtime_us());
		sqlbuf_adds(&b, ",'event-system --migrate','schema.migrated',");
		sqlbuf_add_string(&b, &conn, detail, strlen(detail));
		sqlbuf_adds(&b, ")");
		if (!b.failed)
			db_exec(&conn, b.data, b.len);
		sqlbuf_free(&b);
	}
	fprintf(f, "schema version %d: %s\n", after, after == before ? "already up to date" : "migrated");
	db_close(&conn);
	return 0;
}

#else /* no MySQL client: a database is never running (the config refuses database.enabled) */

bool database_running(const database *db) { return false; }
bool database_durable(const database *db) { return false; }
uint64_t database_next_seq(database *db) { return 0; }
int database_start(database **out, const es_config *config, const database_readmit *readmit, char *err, size_t err_size)
{
	*out = NULL;
	return 0;
}
void database_free(database *db) {}
void database_allow_recovery(database *db) {}
int database_read_subscriptions(database *db, es_config *into, const es_config *previous, char *err, size_t err_size)
{
	into->db_subscriptions_state = DB_SUBSCRIPTIONS_NONE;
	return 0;
}
void database_on_subscriptions_readable(database *db, void (*on_readable)(void *), void *arg) {}
void database_quiesce(database *db, int64_t deadline_us) {}
void database_stop(database *db, int64_t deadline_us) {}
db_ticket *db_ticket_new(database *db, struct event_base *base, db_ticket_done done, void *arg) { return NULL; }
void db_ticket_free(db_ticket *ticket) {}
int database_store(database *db, es_event *const *events, size_t count, db_ticket *ticket, char *why, size_t why_size)
{
	snprintf(why, why_size, "built without a MySQL client");
	return -1;
}
void database_record(database *db, es_event *event) {}
void database_refused(database *db, es_event *event) {}
void database_settle(database *db, es_event *event) {}
void database_outcome(database *db, es_event *event, const char *plugin, delivery_outcome outcome, uint32_t attempts,
                      bool timed_out, const char *error) {}
void database_audit(database *db, const char *actor, const char *action, const char *detail) {}
void database_note_crash(database *db, const database_crash *crash) {}
const char *database_health(database *db, char *why, size_t why_size) { why[0] = '\0'; return "disabled"; }
void database_metrics_render(database *db, struct evbuffer *out) {}
int database_check(const es_config *config, void *out) { return 0; }
int database_migrate_command(const es_config *config, void *out)
{
	fprintf(out, "this build has no MySQL client (configure --with-mysql)\n");
	return 1;
}
int database_request(database *db, const db_request *request, struct event_base *base, db_request_done done, void *arg,
                     char *why, size_t why_size)
{
	snprintf(why, why_size, "no database is configured (database.enabled)");
	return -1;
}

#endif
