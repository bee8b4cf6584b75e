/*
 * Delivery handles: what an asynchronous handler (SDK 1.1 handle_async)
 * holds for a delivery it completes later, from any thread.
 *
 * A handle is a token, not memory: an index into one process-wide table of
 * slots and the slot's generation, packed into the es_delivery pointer the
 * plugin sees.  The host never frees a slot, it only reuses it with a new
 * generation, so a completion that comes late, twice, or after the plugin
 * stopped finds a slot whose state or generation says so and is refused
 * harmlessly: nothing the plugin passes back is ever dereferenced as a
 * pointer.
 *
 * A slot's states: OUTSTANDING (started, not decided), CLAIMED (the plugin's
 * completion won and its owner is finishing the delivery), EXPIRED (the
 * host decided without the plugin: its deadline passed or the pool stopped;
 * the slot keeps a reference to the event so that the plugin may still read
 * it until it completes), FREE (completed; reusable).  Exactly one of
 * delivery_handle_claim() and delivery_handle_expire() wins a handle.
 * Free slots are reused first in, first out, so a second completion is
 * recognised as such for as long as possible.
 *
 * Each worker pool with an asynchronous handler owns one delivery_handles:
 * its name for the log and its counters.  delivery_handles_free() forgets
 * every handle still pointing at it, so a slot never outlives its owner.
 *
 * Locking: the table lock guards the free list and the growth of the table;
 * each slot has its own lock.  Callers may hold their own lock (a pool's)
 * around delivery_handle_expire(), never around claim: slot locks come last.
 */
#ifndef ES_DELIVERY_HANDLES_H
#define ES_DELIVERY_HANDLES_H

#include <stdbool.h>
#include <stdint.h>

#include <event-system/plugin.h>

#include "model/es_event.h"

typedef struct delivery_handles delivery_handles;

/* What a completion found. */
typedef enum handle_claim {
	HANDLE_CLAIMED, /* outstanding: the caller owns the delivery now */
	HANDLE_LATE,    /* the host decided it already (deadline, stop) */
	HANDLE_TWICE,   /* completed before */
	HANDLE_UNKNOWN, /* NULL, not a handle, or its plugin was unloaded */
} handle_claim;

/* `name` (copied) names the plugin in log lines.  NULL when out of memory. */
delivery_handles *delivery_handles_create(const char *name);
/* Forget the owner's handles: expired ones drop their event and every later
 * completion of any of them is HANDLE_UNKNOWN.  None may be OUTSTANDING or
 * CLAIMED (the pool finished all its deliveries first). */
void delivery_handles_free(delivery_handles *owner);

/* A new OUTSTANDING handle for `record` (the owner's; returned by a
 * winning claim).  NULL when out of memory or the table is full. */
es_delivery *delivery_handle_open(delivery_handles *owner, void *record);
/* The plugin's completion: OUTSTANDING -> CLAIMED, *record set.  Any other
 * answer is counted on the owner (late, twice) or process-wide (unknown)
 * and logged once per owner; a late completion also drops the event the
 * slot kept.  Call delivery_handle_release() once the claimed delivery is
 * finished with. */
handle_claim delivery_handle_claim(es_delivery *handle, void **record);
/* CLAIMED -> FREE. */
void delivery_handle_release(es_delivery *handle);
/* The host's decision without the plugin: OUTSTANDING -> EXPIRED, keeping
 * a reference to `event` until the plugin completes the handle (or the
 * owner is freed).  False when the plugin's claim won. */
bool delivery_handle_expire(es_delivery *handle, es_event *event);

/* Handles expired and not completed yet (they count against the queue
 * bound), late and second completions. */
uint32_t delivery_handles_expired_open(const delivery_handles *owner);
uint64_t delivery_handles_late(const delivery_handles *owner);
uint64_t delivery_handles_twice(const delivery_handles *owner);

#endif
