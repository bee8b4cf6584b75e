/*
 * The admission pipeline: the one way an event enters the host, whoever
 * brings it -- an HTTP trigger (single, synchronous, batch; durable or
 * not), a plugin's emit, a dead-letter replay, a redelivery after a crash.
 *
 *   accept  pipeline_event_create(): the event with its database key (seq)
 *   record  durable triggers: pipeline_store(), and admit once the rows
 *           committed; everything else: pipeline_record() on the side.  A
 *           stored row queued again (replay, redelivery) is not recorded.
 *   route   pipeline_admit(), with ONE routing table the caller holds: it
 *   queue   picks the targets, sizes the waiter (if any) by the same table,
 *           and queues the event for every target, all or nothing
 *   settle  queued: the admission's hold on the recorded event ends
 *           (database_settle: the row is done once every delivery is
 *           final); refused: a new event's row is marked refused
 *           (database_refused), a stored row is left as it was.
 *
 * The contract, which whatever replaces the local queues (a distributed
 * queue) must keep:
 *   - an event is queued for every target of one routing table, or for
 *     none; a waiter is bound and armed with that same table, so it always
 *     has room for every outcome it will be told;
 *   - each admission ends queued or refused, and the database has been told
 *     which before pipeline_admit() returns; the outcomes come later, from
 *     the worker pools;
 *   - it never blocks: a full queue is a refusal (ADMIT_BUSY), not a wait;
 *   - references: the caller keeps its own on the event; each queue takes
 *     its own.  The table is the caller's, held for the call.
 * `db` is the daemon's database (NULL: none); every call takes it.
 * Threads: any thread.  Counting and logging refusals, and answering the
 * sender, stay with the caller: they differ per front door.
 */
#ifndef ES_PIPELINE_H
#define ES_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/delivery_watch.h"
#include "core/js_link.h"
#include "core/router.h"
#include "db/database.h"
#include "model/es_event.h"

/* Accept: the event for `fields`, with a database key when a database
 * runs (fields->seq is set).  NULL when out of memory; the caller's watch
 * reference in fields->watch is then still the caller's. */
es_event *pipeline_event_create(database *db, es_event_fields *fields);

/* Record, without waiting (no database, async mode, emitted events). */
void pipeline_record(database *db, es_event *event);

/* Record and wait (durable mode): queue `count` events to be committed in
 * one transaction; `ticket` completes on its base's thread, and the events
 * are admitted then, with the table in force at that moment.  0 queued,
 * -1 refused at once with the reason in why (the ticket will not
 * complete).  See database_store(). */
int pipeline_store(database *db, es_event *const *events, size_t count, db_ticket *ticket, char *why, size_t why_size);

typedef struct admission {
	/* in: a synchronous waiter to bind and arm, or NULL */
	delivery_watch *watch;
	/* in: the targets; NULL: the instances whose subscriptions match */
	bool (*select)(plugin_instance *instance, const es_event *event, void *arg);
	void *select_arg;
	/* in: the event's row was stored by an earlier admission (a replay, a
	 * redelivery): a refusal leaves the row as it was */
	bool stored_row;
	/* in: queued to none is a refusal (ADMIT_UNMATCHED, row left as it
	 * was): a replay to a plugin not loaded */
	bool need_target;
	/* in: a full queue is not counted as a refusal (the caller retries) */
	bool quiet;
	/* in: collect the deliveries here (a batch request pushes all of them
	 * together, push_later_flush()); NULL: queued at once */
	push_later *later;
	/* out: the targets (ADMIT_QUEUED) or the full one (ADMIT_BUSY);
	 * last: admission_clear() leaves its arrays alone */
	dispatch_result result;
} admission;

/* Every "in" field of `a` zero (NULL, false), as `(admission){0}` would
 * make them, without clearing result's two arrays of ROUTER_MAX_TARGETS
 * pointers (4 KB: clearing and copying them per event was 6 % of the
 * batch endpoint's profile).  Set the fields wanted after it. */
void admission_clear(admission *a);

typedef enum admit_status {
	ADMIT_QUEUED,    /* to result.matched instances (maybe none) */
	ADMIT_BUSY,      /* result.busy's queue was full: queued nowhere */
	ADMIT_UNMATCHED, /* need_target and no instance: queued nowhere */
	ADMIT_NO_MEMORY, /* the waiter could not be bound: queued nowhere */
} admit_status;

/* Route, queue and settle `event` through `table` (held by the caller). */
admit_status pipeline_admit(database *db, routing_table *table, es_event *event, admission *a);

/* The JetStream backend (queue.backend: jetstream) in place of step 3:
 * the queue is the NATS stream, shared by every node.  `event` is routed
 * through `table` (the caller holds it until `done` ran: result->targets
 * are borrowed from it) and published once per target; queued means
 * JetStream acknowledged every message (a quorum of the stream's replicas
 * holds it).  Each node that runs a target pulls and delivers it
 * (core/js_consumers.h).  No waiter: the outcomes happen on any node.
 *   PUBLISH_PENDING    `done` runs on `base`'s thread with the status
 *   PUBLISH_UNMATCHED  no target: nothing to store, done will not run
 *   PUBLISH_REFUSED    refused now (NATS unreachable ...): why; done will not run */
typedef enum publish_start {
	PUBLISH_PENDING,
	PUBLISH_UNMATCHED,
	PUBLISH_REFUSED,
} publish_start;
publish_start pipeline_publish(js_link *link, routing_table *table, es_event *event, dispatch_result *result,
                               struct event_base *base, js_publish_done done, void *arg, char *why,
                               size_t why_size);
/* The same, waiting for JetStream (a plugin's emit() on a worker thread):
 * PUBLISH_UNMATCHED, PUBLISH_REFUSED (why) or PUBLISH_PENDING meaning stored. */
publish_start pipeline_publish_wait(js_link *link, routing_table *table, es_event *event, dispatch_result *result,
                                    char *why, size_t why_size);
/* With a database (several daemons on one database): the accepting node
 * records the event's row once JetStream holds it (a refused event gets
 * none), with the key its messages carry (`Es-Seq`) for the handling
 * nodes' outcomes.  `published` says how: true, acknowledged by JetStream
 * (the row stays `accepted`: the deliveries finish on any node, which
 * record their outcomes against the key); false, PUBLISH_UNMATCHED (done
 * at once, as the local backend does). */
void pipeline_record_published(database *db, es_event *event, bool published);

#endif
