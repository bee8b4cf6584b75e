/*
 * Events emitted before the first routing table (see held_emits.h).
 */
#include "config.h"

#include "core/held_emits.h"

#include <pthread.h>
#include <stdlib.h>

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static es_event **held;
static size_t held_count;
static bool released;

held_status held_emits_put(es_event *event)
{
	held_status st = HELD_OK;
	pthread_mutex_lock(&held_lock);
	if (released) {
		st = HELD_RELEASED;
	} else if (held_count == HELD_EMITS_MAX) {
		st = HELD_FULL;
	} else {
		if (!held)
			held = malloc(HELD_EMITS_MAX * sizeof *held);
		if (held)
			held[held_count++] = event;
		else
			st = HELD_FULL;
	}
	pthread_mutex_unlock(&held_lock);
	return st;
}

void held_emits_take(es_event ***events, size_t *count)
{
	pthread_mutex_lock(&held_lock);
	released = true;
	*events = held;
	*count = held_count;
	held = NULL;
	held_count = 0;
	pthread_mutex_unlock(&held_lock);
}
