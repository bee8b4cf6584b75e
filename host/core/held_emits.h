/*
 * Events plugins emit from init() while the daemon starts, before its first
 * routing table is published: routed then, they would match no plugin
 * (every plugin, the emitter too, is still starting).  They are held here,
 * at most HELD_EMITS_MAX, and routed once main publishes the table
 * (host_emit_release_held()).  After that, nothing is held again.
 *
 * Ownership: the list holds one reference to each event it took;
 * held_emits_take() hands them all to the caller.  One list per process,
 * guarded by its own lock.
 */
#ifndef ES_HELD_EMITS_H
#define ES_HELD_EMITS_H

#include <stdbool.h>
#include <stddef.h>

#include "model/es_event.h"

#define HELD_EMITS_MAX 1024

typedef enum held_status {
	HELD_OK,       /* taken: the list owns the reference */
	HELD_FULL,     /* HELD_EMITS_MAX already held: refused */
	HELD_RELEASED, /* the table is published: route it now */
} held_status;

/* Hold `event` (its reference moves to the list on HELD_OK). */
held_status held_emits_put(es_event *event);

/* Stop holding and take every held event, in emit order: *events is a
 * malloc'd array of *count references the caller owns (NULL when none). */
void held_emits_take(es_event ***events, size_t *count);

#endif
