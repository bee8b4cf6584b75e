/*
 * Event history in MySQL/MariaDB: what the rest of the host tells the
 * database, and asks of it.  A handle, `database`, made by database_start()
 * and owned by the daemon (es_daemon.db, handed to the plugins' services
 * and the pipeline); NULL when database.enabled is off.  Every call below
 * takes it, may take NULL, and is a no-op (or says "disabled") while no
 * database runs, so the code that calls them does not care whether one is
 * configured.
 *
 * Threads: two writer threads (db_writer.c), each with its own connection,
 * turn everything recorded into multi-row INSERTs, one transaction per
 * round (group commit): one writes the event rows (durable triggers wait on
 * it), the other the outcomes of stored events and the audit log.  The
 * reader thread (db_reader.c) owns a third connection for the history API,
 * dead-letter replays, recovery after a crash and the retention purge.
 * HTTP and worker threads only queue work for them and never wait on MySQL.
 *
 * Lifecycle (main thread): database_start() before the plugins load (their
 * pools report outcomes to it) and before the HTTP server; at shutdown
 * database_quiesce() before stopping the HTTP threads (answers every
 * durable trigger still waiting), database_stop() after the plugins
 * stopped (records their last outcomes), database_free() last.
 */
#ifndef ES_DATABASE_H
#define ES_DATABASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/es_event.h"
#include "model/delivery_outcome.h"

struct es_config;

typedef struct database database;
struct event_base;

/* A plugin crashed while it handled a recorded event (core/crash_ledger.h). */
typedef struct database_crash {
	uint64_t seq;
	char plugin[65];
	uint32_t attempt;
	char signal[16];
	int64_t at_us; /* realtime; with seq and plugin, what makes it one crash */
} database_crash;

/* What earlier runs recorded of an event's delivery to one plugin, as
 * redelivery reads it: how often it crashed the plugin (delivery_crashes)
 * and the highest attempt number that ended without a final outcome
 * (crashed, or retried: delivery_attempts), so the next attempt is
 * attempts + 1. */
typedef struct database_crash_count {
	const char *plugin;
	uint32_t crashes;
	uint32_t attempts;
} database_crash_count;
struct evbuffer;

/* ---- lifecycle (main thread) ---- */

/* How the reader thread puts a stored event back to the plugins: a
 * dead-letter replay and a redelivery after a crash.  Admission lives in
 * the core, above the database, so the composition root hands these down
 * (core/readmit.h); they are called on the reader thread, which keeps its
 * own reference on the event, and passes its own handle.  A queued event
 * is settled by them (the admission's hold: database_settle()). */
typedef struct database_readmit {
	/* Queue `event` for the loaded plugin named `plugin` only: 1 queued,
	 * 0 no plugin of that name is loaded, -1 its queue is full. */
	int (*replay)(void *ctx, database *db, es_event *event, const char *plugin);
	/* Queue `event`, all or nothing, for every plugin that matches it and is
	 * not one of the `finished_count` names in `finished` (those have a
	 * final outcome): 0 queued (to none when none is left), -1 a queue was
	 * full and nothing was queued (try again later).  `crashes` says how
	 * often the event crashed which plugin (delivery_crashes) and how many
	 * attempts it made: one that reached its max_crashes, or has no
	 * attempt left under max_attempts, is dead-lettered instead of
	 * delivered; the others continue at attempt `attempts` + 1. */
	int (*redeliver)(void *ctx, database *db, es_event *event, const char *const *finished, size_t finished_count,
	                 const struct database_crash_count *crashes, size_t crash_count);
	void *ctx;
} database_readmit;

/* The most final outcomes a redelivery looks at per event: one per plugin
 * a routing table can hold (ROUTER_MAX_TARGETS). */
#define DATABASE_MAX_PLUGINS 256

/* Start the writer and reader threads for `config` (database.enabled).  Does
 * not wait for the server: connecting happens on the threads, which keep
 * retrying.  `readmit` is copied.  0, or -1 with err (out of memory, thread
 * creation). */
int database_start(database **out, const struct es_config *config, const database_readmit *readmit, char *err,
                   size_t err_size);
/* After database_stop(), and after everything that held the handle: the
 * HTTP and metrics threads, the plugins' pools. */
void database_free(database *db);
/* The plugins run and routes are installed: events of an earlier run whose
 * deliveries had not finished may be redelivered now (reader thread). */
void database_allow_recovery(database *db);
/* Wait (until deadline_us, monotonic) for every durable trigger to be
 * answered; refuse new ones. */
void database_quiesce(database *db, int64_t deadline_us);
/* Write what is queued (until deadline_us), then stop both threads. */
void database_stop(database *db, int64_t deadline_us);
/* For --check-config: connect and check the schema, a line on `out`.
 * Returns the problems found: 1 when the schema cannot be used (a start
 * would refuse events), 0 when it can -- or when the server cannot be
 * reached now (said, but a start would wait for it). */
int database_check(const struct es_config *config, void *out);
/* `event-system --migrate`: connect, apply migrations, report on `out`.
 * Returns the process exit code. */
int database_migrate_command(const struct es_config *config, void *out);

/* Read the enabled rows of the event_subscriptions table into `into`
 * (main thread, before the config is used; a short connection of its own),
 * from the database `into` names at a start, and at a reload (`previous`
 * set) from the running one, `db` (none when it runs without): its keys
 * need a restart.
 * When the table cannot be read, `into` gets `previous`'s rows (NULL: none),
 * a warning is logged, and once a writer connects `on_readable` (below) is
 * called so a reload can read it.  0, or -1 when a row is invalid (err names
 * it: the config is then refused like any other config error). */
int database_read_subscriptions(database *db, struct es_config *into, const struct es_config *previous, char *err,
                                size_t err_size);
/* Called (from a writer thread, with no database lock but the callback's
 * own held) when event_subscriptions became readable after a failed read;
 * NULL to stop (before what `arg` points to goes): it returns once a call
 * in progress has returned. */
void database_on_subscriptions_readable(database *db, void (*on_readable)(void *arg), void *arg);

/* ---- the pipeline's hooks (any thread) ---- */

/* A database is running (events get a seq and are recorded). */
bool database_running(const database *db);
/* Durable mode: triggers are answered only after their rows commit. */
bool database_durable(const database *db);
/* The key of a new event's row; 0 when no database runs. */
uint64_t database_next_seq(database *db);

/* A durable store's completion, run on the HTTP thread whose base it was
 * created with.  `status` 0: committed; otherwise nothing of it was, and
 * it is the HTTP status to answer with `why`: 413 when an event is larger
 * than the database accepts, 503 for everything else. */
typedef struct db_ticket db_ticket;
typedef void (*db_ticket_done)(db_ticket *ticket, int status, const char *why, void *arg);
/* NULL when out of memory.  Free with db_ticket_free() in or after done. */
db_ticket *db_ticket_new(database *db, struct event_base *base, db_ticket_done done, void *arg);
void db_ticket_free(db_ticket *ticket);

/* Queue `count` events (with seq) to be written in one transaction; the
 * ticket completes when they are committed or failed.  Takes a reference
 * on each event.  0 queued; -1 refused at once (database down, queue full,
 * stopping) with the reason in why -- the ticket will not complete. */
int database_store(database *db, es_event *const *events, size_t count, db_ticket *ticket, char *why, size_t why_size);
/* Async mode and emitted events: record the event without waiting. */
void database_record(database *db, es_event *event);
/* The event's row exists but it was refused (a full plugin queue). */
void database_refused(database *db, es_event *event);
/* The dispatcher's hold on a recorded event is over (after dispatching):
 * once every delivery has a final outcome the event is marked done. */
void database_settle(database *db, es_event *event);
/* A plugin's outcome for a recorded event (final ones are stored). */
void database_outcome(database *db, es_event *event, const char *plugin, delivery_outcome outcome, uint32_t attempts,
                      bool timed_out, const char *error);
/* Remember a crash in delivery_crashes (idempotent).  Written by the
 * reader thread before it redelivers anything, so a crash handed over at
 * start counts in that start's redelivery. */
void database_note_crash(database *db, const database_crash *crash);
/* An audit record (reloads, replays): who, what, details. */
void database_audit(database *db, const char *actor, const char *action, const char *detail);

/* ---- status ---- */

/* "disabled", "ok", or "failing" with the reason in why. */
const char *database_health(database *db, char *why, size_t why_size);
/* Prometheus text for the database (nothing when disabled). */
void database_metrics_render(database *db, struct evbuffer *out);

/* ---- the history API (HTTP threads; answered on the base's thread) ---- */

typedef enum db_request_kind {
	DB_GET_EVENT,       /* key: event id */
	DB_LIST_EVENTS,     /* name, since, until, limit, before */
	DB_LIST_DEAD,       /* plugin, limit, before */
	DB_REPLAY_DEAD,     /* key: dead letter id */
} db_request_kind;

typedef struct db_request {
	db_request_kind kind;
	char key[160];
	char name[256];     /* event name or pattern ('*' glob) */
	char plugin[65];
	int64_t since_us, until_us; /* 0: open */
	uint64_t before;    /* paging cursor: rows with a smaller key */
	uint32_t limit;
	char actor[64];     /* who asked (replays are audited) */
} db_request;

/* `done(status, body_json, arg)` runs on the base's thread; body is owned
 * by the callee (valid during the call). */
typedef void (*db_request_done)(int status, const char *body, void *arg);
/* 0 queued; -1 refused at once (database down or busy) with a status
 * (503) and message in why. */
int database_request(database *db, const db_request *request, struct event_base *base, db_request_done done, void *arg,
                     char *why, size_t why_size);

#endif
