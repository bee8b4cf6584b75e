/*
 * Waiting for an event's outcomes without blocking a loop thread: the
 * synchronous trigger (?wait=true) and POST /api/events/test.
 *
 * The HTTP thread creates a watch on its event_base, attaches it to the
 * event, binds it to the routing table that dispatches the event (room for
 * one outcome per plugin of that table), dispatches, then arms it with the
 * plugins the event was queued for.  Binding and dispatching use the same
 * table: a durable event is dispatched by the table in force when its row
 * commits, which a reload may have made larger than the one the request
 * arrived with.  Worker threads record each plugin's final outcome; when all
 * are in (or the timeout fires first) the `done` callback runs on the HTTP
 * thread, which answers the request there.
 *
 * Ownership: reference-counted.  The creator holds one (released with
 * delivery_watch_close() on the HTTP thread once it has answered); the event
 * holds one (released when the event is freed).  Outcomes that arrive after
 * close are ignored.
 */
#ifndef ES_DELIVERY_WATCH_H
#define ES_DELIVERY_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/worker_pool.h"

struct event_base;

typedef struct delivery_watch delivery_watch;

typedef struct watch_outcome {
	char plugin[65];
	const char *status; /* "ok", "failed", "undelivered"; "pending" while waiting */
	uint32_t attempts;
	bool timed_out;
	char error[256];
} watch_outcome;

/* `done(watch, timed_out, arg)` runs once on the base's thread.  NULL when
 * out of memory.  Call on the base's thread. */
delivery_watch *delivery_watch_create(struct event_base *base, uint32_t timeout_ms,
                                      void (*done)(delivery_watch *watch, bool timed_out, void *arg), void *arg);
/* Before dispatch, once: room for `table_size` outcomes, the size of the
 * routing table that will dispatch the event (the same table, not the one
 * the request arrived with), and the timeout starts.  False when out of
 * memory. */
bool delivery_watch_bind(delivery_watch *watch, size_t table_size);
/* Take a reference for the event (before es_event_create). */
void delivery_watch_ref(delivery_watch *watch);
void delivery_watch_unref(delivery_watch *watch);

/* After dispatch: `names` are the plugins the event was queued for (at most
 * the bound table's size). */
void delivery_watch_arm(delivery_watch *watch, const char *const *names, size_t count);
/* From a worker thread: a plugin's outcome (only final ones complete it). */
void delivery_watch_record(delivery_watch *watch, const char *plugin, delivery_outcome outcome, uint32_t attempts,
                           bool timed_out, const char *error);
/* On the base's thread, inside or after done(): the outcomes so far, one
 * per armed plugin in arm order ("pending" where none arrived).  Freezes
 * them: outcomes arriving later are ignored. */
size_t delivery_watch_outcomes(delivery_watch *watch, const watch_outcome **outcomes);
/* On `base`'s thread, when its loop is about to stop: every watch of that
 * base still waiting gets its done() now, as a timeout (or as complete when
 * all its outcomes are in), so that each waiting request is answered before
 * the loop goes.  Returns how many were answered. */
size_t delivery_watch_expire_all(struct event_base *base);
/* On the base's thread: stop listening (frees the timer and the wake-up
 * event) and drop the creator's reference. */
void delivery_watch_close(delivery_watch *watch);

#endif
