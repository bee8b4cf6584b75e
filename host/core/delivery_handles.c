/*
 * The process-wide table of delivery handles (delivery_handles.h).
 *
 * Slots live in chunks that are allocated as the table grows and never
 * freed, so a token's slot can always be looked at.  The table grows only
 * when no slot is free: its size is the most handles open at once, which
 * the queue bounds of the pools with asynchronous handlers bound.
 */
#include "config.h"

#include "core/delivery_handles.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define CHUNK_SLOTS 1024u
#define MAX_CHUNKS 4096u /* 4 Mi handles open at once */
#define NO_SLOT UINT32_MAX

_Static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "a handle packs a 64-bit token into a pointer");

typedef enum slot_state { SLOT_FREE, SLOT_OUTSTANDING, SLOT_CLAIMED, SLOT_EXPIRED } slot_state;

typedef struct slot {
	pthread_mutex_t lock;
	uint32_t gen;             /* under lock; changes when the slot is reused or forgotten */
	slot_state state;         /* under lock */
	delivery_handles *owner;  /* under lock; NULL once forgotten */
	void *record;             /* the owner's, while OUTSTANDING or CLAIMED */
	es_event *kept;           /* EXPIRED: the event the plugin may still read */
	uint32_t index;           /* its own, set once */
	uint32_t next_free;       /* under the table lock */
	bool on_free_list;        /* under the table lock */
} slot;

struct delivery_handles {
	char *name;
	_Atomic uint32_t expired_open;
	_Atomic uint64_t late, twice;
	atomic_bool late_logged, twice_logged;
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(slot *) chunks[MAX_CHUNKS];
static _Atomic uint32_t slot_count; /* slots ever created; published after their chunk */
static uint32_t free_head = NO_SLOT, free_tail = NO_SLOT; /* under table_lock */
static _Atomic uint64_t unknown_completions;
static atomic_bool unknown_logged;

static slot *slot_at(uint32_t index)
{
	return &atomic_load_explicit(&chunks[index / CHUNK_SLOTS], memory_order_acquire)[index % CHUNK_SLOTS];
}

static es_delivery *token(uint32_t index, uint32_t gen)
{
	return (es_delivery *)(uintptr_t)(((uint64_t)gen << 32) | ((uint64_t)index + 1));
}

/* The slot a token names, and its generation; NULL when it names none. */
static slot *decode(const es_delivery *handle, uint32_t *gen)
{
	uint64_t t = (uint64_t)(uintptr_t)handle;
	uint32_t index_plus_one = (uint32_t)(t & 0xffffffffu);
	if (index_plus_one == 0 || index_plus_one > atomic_load_explicit(&slot_count, memory_order_acquire))
		return NULL;
	*gen = (uint32_t)(t >> 32);
	return slot_at(index_plus_one - 1);
}

/* Under table_lock. */
static void free_list_push(uint32_t index)
{
	slot *s = slot_at(index);
	if (s->on_free_list)
		return;
	s->on_free_list = true;
	s->next_free = NO_SLOT;
	if (free_tail == NO_SLOT)
		free_head = index;
	else
		slot_at(free_tail)->next_free = index;
	free_tail = index;
}

/* A free slot's index, growing the table when none is; NO_SLOT when full or
 * out of memory.  Under table_lock. */
static uint32_t free_list_pop(void)
{
	if (free_head == NO_SLOT) {
		uint32_t count = atomic_load_explicit(&slot_count, memory_order_relaxed);
		if (count / CHUNK_SLOTS >= MAX_CHUNKS)
			return NO_SLOT;
		slot *chunk = calloc(CHUNK_SLOTS, sizeof *chunk);
		if (!chunk)
			return NO_SLOT;
		for (uint32_t i = 0; i < CHUNK_SLOTS; i++) {
			pthread_mutex_init(&chunk[i].lock, NULL);
			chunk[i].index = count + i;
		}
		atomic_store_explicit(&chunks[count / CHUNK_SLOTS], chunk, memory_order_release);
		atomic_store_explicit(&slot_count, count + CHUNK_SLOTS, memory_order_release);
		for (uint32_t i = 0; i < CHUNK_SLOTS; i++)
			free_list_push(count + i);
	}
	uint32_t index = free_head;
	slot *s = slot_at(index);
	free_head = s->next_free;
	if (free_head == NO_SLOT)
		free_tail = NO_SLOT;
	s->on_free_list = false;
	return index;
}

static void release_to_free_list(const slot *s)
{
	pthread_mutex_lock(&table_lock);
	free_list_push(s->index);
	pthread_mutex_unlock(&table_lock);
}

delivery_handles *delivery_handles_create(const char *name)
{
	delivery_handles *owner = calloc(1, sizeof *owner);
	if (!owner)
		return NULL;
	owner->name = strdup(name);
	if (!owner->name) {
		free(owner);
		return NULL;
	}
	return owner;
}

void delivery_handles_free(delivery_handles *owner)
{
	if (!owner)
		return;
	uint32_t count = atomic_load_explicit(&slot_count, memory_order_acquire);
	for (uint32_t i = 0; i < count; i++) {
		slot *s = slot_at(i);
		es_event *kept = NULL;
		bool to_free_list = false;
		pthread_mutex_lock(&s->lock);
		if (s->owner == owner) {
			kept = s->kept;
			s->kept = NULL;
			to_free_list = s->state != SLOT_FREE;
			s->state = SLOT_FREE;
			s->owner = NULL;
			s->record = NULL;
			s->gen++; /* every earlier token of this slot is unknown now */
		}
		pthread_mutex_unlock(&s->lock);
		if (kept)
			es_event_unref(kept);
		if (to_free_list) {
			pthread_mutex_lock(&table_lock);
			free_list_push(i);
			pthread_mutex_unlock(&table_lock);
		}
	}
	free(owner->name);
	free(owner);
}

es_delivery *delivery_handle_open(delivery_handles *owner, void *record)
{
	pthread_mutex_lock(&table_lock);
	uint32_t index = free_list_pop();
	pthread_mutex_unlock(&table_lock);
	if (index == NO_SLOT)
		return NULL;
	slot *s = slot_at(index);
	pthread_mutex_lock(&s->lock);
	s->gen++;
	s->state = SLOT_OUTSTANDING;
	s->owner = owner;
	s->record = record;
	s->kept = NULL;
	uint32_t gen = s->gen;
	pthread_mutex_unlock(&s->lock);
	return token(index, gen);
}

handle_claim delivery_handle_claim(es_delivery *handle, void **record)
{
	uint32_t gen;
	slot *s = decode(handle, &gen);
	if (!s) {
		atomic_fetch_add_explicit(&unknown_completions, 1, memory_order_relaxed);
		if (!atomic_exchange(&unknown_logged, true))
			LOG_WARN("host", "a plugin completed a delivery handle that is not one (NULL or garbage); "
			         "ignored (logged once)");
		return HANDLE_UNKNOWN;
	}
	es_event *kept = NULL;
	handle_claim answer;
	pthread_mutex_lock(&s->lock);
	if (s->gen != gen || !s->owner) {
		answer = HANDLE_UNKNOWN;
	} else if (s->state == SLOT_OUTSTANDING) {
		s->state = SLOT_CLAIMED;
		*record = s->record;
		answer = HANDLE_CLAIMED;
	} else if (s->state == SLOT_EXPIRED) {
		/* late: the host decided already; the plugin is done with the
		 * event now, so the slot's reference goes */
		delivery_handles *owner = s->owner;
		kept = s->kept;
		s->kept = NULL;
		s->state = SLOT_FREE;
		atomic_fetch_sub_explicit(&owner->expired_open, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&owner->late, 1, memory_order_relaxed);
		if (!atomic_exchange(&owner->late_logged, true))
			LOG_WARN(owner->name, "a delivery was completed after its deadline had passed (it already "
			         "counted as a timeout); the completion is ignored (logged once, counted in "
			         "late_completions)");
		answer = HANDLE_LATE;
	} else {
		delivery_handles *owner = s->owner;
		atomic_fetch_add_explicit(&owner->twice, 1, memory_order_relaxed);
		if (!atomic_exchange(&owner->twice_logged, true))
			LOG_WARN(owner->name, "a delivery was completed twice; the second completion is ignored "
			         "(logged once, counted in double_completions)");
		answer = HANDLE_TWICE;
	}
	pthread_mutex_unlock(&s->lock);
	if (answer == HANDLE_UNKNOWN) {
		atomic_fetch_add_explicit(&unknown_completions, 1, memory_order_relaxed);
		if (!atomic_exchange(&unknown_logged, true))
			LOG_WARN("host", "a plugin completed a delivery handle of a stopped plugin, or one completed long "
			         "before; ignored (logged once)");
	}
	if (kept) {
		es_event_unref(kept);
		release_to_free_list(s);
	}
	return answer;
}

void delivery_handle_release(es_delivery *handle)
{
	uint32_t gen;
	slot *s = decode(handle, &gen);
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	bool released = s->gen == gen && s->state == SLOT_CLAIMED;
	if (released) {
		s->state = SLOT_FREE;
		s->record = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (released)
		release_to_free_list(s);
}

bool delivery_handle_expire(es_delivery *handle, es_event *event)
{
	uint32_t gen;
	slot *s = decode(handle, &gen);
	if (!s)
		return false;
	pthread_mutex_lock(&s->lock);
	bool won = s->gen == gen && s->state == SLOT_OUTSTANDING;
	if (won) {
		es_event_ref(event);
		s->kept = event;
		s->state = SLOT_EXPIRED;
		s->record = NULL;
		atomic_fetch_add_explicit(&s->owner->expired_open, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&s->lock);
	return won;
}

uint32_t delivery_handles_expired_open(const delivery_handles *owner)
{
	return atomic_load_explicit(&owner->expired_open, memory_order_relaxed);
}

uint64_t delivery_handles_late(const delivery_handles *owner)
{
	return atomic_load_explicit(&owner->late, memory_order_relaxed);
}

uint64_t delivery_handles_twice(const delivery_handles *owner)
{
	return atomic_load_explicit(&owner->twice, memory_order_relaxed);
}
