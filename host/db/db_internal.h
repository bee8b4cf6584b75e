/*
 * Shared between the database files (database.c: lifecycle, status and
 * metrics; db_writer.c; db_reader.c).  Not for the rest of the host: it
 * uses database.h.
 */
#ifndef ES_DB_INTERNAL_H
#define ES_DB_INTERNAL_H

#include <event2/util.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/database.h"
#include "db/db_conn.h"
#include "db/db_node_claim.h"
#include "util/dsn.h"
#include "util/histogram.h"

struct event;
struct event_base;

/* What the threads need of the config, copied at start (database.* keys
 * take effect on restart only). */
typedef struct db_settings {
	dsn where;
	db_timeouts timeouts;
	bool durable;
	bool migrate_on_start;
	double retention_days;
	uint32_t purge_interval_s;
	uint32_t queue_size;
	size_t queue_max_bytes;
	uint32_t reconnect_max_ms;
	/* queue.jetstream.node_id with the JetStream backend, else 0: keys are
	 * then (microseconds << DB_NODE_BITS) | node_id, and redelivery after a
	 * restart is JetStream's, not the reader's (database.h). */
	uint32_t node_id;
	/* with a node_id: who this daemon is in node_claims (db_node_claim.h) */
	char node_holder[256];
} db_settings;

/* The low bits of a key that name the node that made it (node_id <= 1023). */
#define DB_NODE_BITS 10

typedef enum db_state {
	DB_CONNECTING = 0, /* not connected yet since start */
	DB_UP = 1,
	DB_DOWN = 2,
} db_state;

/* Counters for /metrics, written by the database threads. */
typedef struct db_counters {
	_Atomic uint64_t rows[6];          /* by db_row_kind */
	_Atomic uint64_t transactions[2]; /* by writer: events, outcomes */
	_Atomic uint64_t last_batch_rows;
	_Atomic uint64_t errors[3];        /* connect, write, read */
	_Atomic uint64_t dropped;          /* records that could not be written */
	_Atomic uint64_t refused;          /* durable triggers answered 503 for the database */
	_Atomic uint64_t purged;           /* events deleted by retention */
	_Atomic uint64_t recovered;        /* events redelivered after a restart */
	_Atomic uint64_t replayed;         /* dead letters replayed */
	histogram commit_latency;          /* one transaction, from first statement to COMMIT */
	histogram query_latency;           /* history API queries */
} db_counters;

enum db_row_kind { ROWS_EVENT, ROWS_DELIVERY, ROWS_DEAD_LETTER, ROWS_STATE, ROWS_AUDIT, ROWS_ATTEMPT };
enum db_error_kind { DB_ERR_CONNECT, DB_ERR_WRITE, DB_ERR_READ };

struct writer;
struct reader;

/* The database handle (database.h): everything its threads share. */
typedef struct database {
	atomic_bool running;         /* from database_start() until database_stop() */
	struct writer *writers;      /* the two writers (db_writer.c), freed with the handle */
	struct reader *reader;       /* the reader (db_reader.c), freed with the handle */
	db_settings settings;
	database_readmit readmit; /* how the reader queues stored events again (main.c) */
	/* db_state: set by both writers, each as it connects or loses its
	 * connection; the latest change wins. */
	_Atomic int state;
	pthread_mutex_t status_lock; /* guards status_error */
	char status_error[512];      /* why the database is failing */
	/* Another daemon holds this one's node_id (db_node_claim.h): no row
	 * is written, /health fails with node_claim_error (under status_lock)
	 * whatever the other writer's connection says.  Set by the events writer. */
	atomic_bool node_claim_taken;
	char node_claim_error[512];
	/* Until when (monotonic) this daemon may make keys with its node_id:
	 * its last successful claim's send time + DB_NODE_CLAIM_KEYS_S; 0 while
	 * it holds none.  Set by db_node_claim_hold(), read per key. */
	_Atomic int64_t node_keys_until_us;
	atomic_bool node_unkeyed_logged; /* "events get no history" said since keys were last allowed */
	int node_holder_fd;               /* the locked node-holder file (db_node_holder), or <= 0 */
	/* database.migrate_on_start: the schema is migrated once, by whoever
	 * gets there first (database_start, or a writer when the server was
	 * unreachable then); the others wait for it and only check. */
	pthread_mutex_t migrate_lock;
	bool migrated;               /* under migrate_lock */
	uint64_t boot_seq;           /* events of earlier runs have smaller keys */
	/* The last key made; with a node_id, its time part (microseconds). */
	_Atomic uint64_t last_seq;
	atomic_bool seeded;          /* a writer (either) read the largest key in use */
	atomic_bool recovery_allowed;/* plugins run: redelivery may start */
	atomic_bool quiescing;       /* shutting down: no new durable work */
	atomic_bool orphaned;        /* quiesce gave up: the HTTP threads are gone, answer nobody */
	_Atomic uint64_t outstanding;/* tickets and requests not yet answered */
	atomic_bool subscriptions_pending; /* event_subscriptions could not be read: reload once connected */
	/* Guarded by readable_lock, which is held while the callback runs, so
	 * that clearing it is a barrier; status_lock is never held then. */
	pthread_mutex_t readable_lock;
	void (*on_readable)(void *arg);
	void *on_readable_arg;
	db_counters counters;
} db_shared;

/* Waking an HTTP loop thread from a database thread (a durable store's
 * ticket, a history request's answer).  The wake event belongs to the
 * loop's base: created and freed on that loop's thread; a database thread
 * only fires it, once, and must not touch what it wakes afterwards.  Each
 * live wake counts as outstanding, so database_quiesce() can wait for them
 * before the HTTP threads stop; if it gives up, firing does nothing (the
 * base is about to be freed). */
struct event *db_wake_new(db_shared *db, struct event_base *base, void (*cb)(evutil_socket_t, short, void *), void *arg);
void db_wake_fire(db_shared *db, struct event *wake);
void db_wake_free(db_shared *db, struct event *wake);

/* Set the health state, logging each change once. */
void db_set_state(db_shared *db, db_state state, const char *error);
/* A writer connected: if event_subscriptions is waiting to be read, ask
 * for the reload that reads it. */
void db_connected(db_shared *db);
/* A copy of why the database is failing ("" when it is not). */
void db_status_error(db_shared *db, char *out, size_t out_size);

/* Connect and check the schema, migrating it first when `migrate` and
 * nobody has yet (database.migrate_on_start).  0, or -1 with the reason in
 * conn->error. */
int db_open(db_shared *db, db_conn *conn, bool migrate);
/* Claim (or renew) this daemon's node_id on `conn` (db_node_claim.h) and
 * keep the outcome: the key lease, /health's reason, the log line when the
 * number comes back.  `why` says who holds it when taken. */
node_claim_result db_node_claim_hold(db_shared *db, db_conn *conn, char *why, size_t why_size);

/* Writer (db_writer.c). */
int db_writer_start(db_shared *db, char *err, size_t err_size);
void db_writer_stop(db_shared *db, int64_t deadline_us);
void db_writer_free(db_shared *db);
size_t db_writer_queue_depth(db_shared *db);

/* Reader (db_reader.c). */
int db_reader_start(db_shared *db, char *err, size_t err_size);
void db_reader_stop(db_shared *db);
void db_reader_free(db_shared *db);
void db_reader_wake(db_shared *db);

#endif
