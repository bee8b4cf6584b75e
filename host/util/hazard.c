/*
 * Hazard pointers, one per thread: see hazard.h.
 *
 * Why a reader and a freer cannot miss each other: the reader stores its
 * announcement, then loads the shared pointer again; the pointer was
 * replaced (an exchange) before the freer loads the slots.  All of them
 * are seq_cst, so in their single order either the reader's second load
 * comes after the exchange (it sees the new pointer and announces that
 * instead, never using the old one) or the freer's load of its slot comes
 * after the announcement (it sees it and keeps the object).
 */
#include "config.h"

#include "util/hazard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_ALIGN 64 /* one slot per cache line: readers never share one */

typedef struct hazard_slot {
	_Alignas(SLOT_ALIGN) void *_Atomic announced; /* NULL: nothing */
	atomic_bool taken;                            /* by a live thread */
	struct hazard_slot *next;                     /* set before the slot is published */
} hazard_slot;

/* Every slot ever made, newest first: a push-only list. */
static hazard_slot *_Atomic slots;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t exit_key;
static bool exit_key_made;

static _Thread_local hazard_slot *mine;
static _Thread_local bool announcing;
/* Set when the thread's slot went back: a destructor that runs after that
 * one reads through the locked path rather than take a slot it would
 * never give back. */
static _Thread_local bool exited;

/* The thread exits: its slot goes back for another thread. */
static void give_back(void *arg)
{
	hazard_slot *s = arg;
	atomic_store(&s->announced, NULL);
	atomic_store_explicit(&s->taken, false, memory_order_release);
	mine = NULL;
	announcing = false;
	exited = true;
}

static void make_exit_key(void)
{
	exit_key_made = pthread_key_create(&exit_key, give_back) == 0;
}

static hazard_slot *claim_slot(void)
{
	pthread_once(&exit_key_once, make_exit_key);
	if (!exit_key_made)
		return NULL; /* out of keys: a slot could never be given back */
	hazard_slot *s;
	for (s = atomic_load(&slots); s; s = s->next) {
		bool free_slot = false;
		if (!atomic_load_explicit(&s->taken, memory_order_relaxed) &&
		    atomic_compare_exchange_strong(&s->taken, &free_slot, true))
			break;
	}
	if (!s) {
		s = aligned_alloc(SLOT_ALIGN, sizeof *s);
		if (!s)
			return NULL;
		memset(s, 0, sizeof *s);
		atomic_init(&s->announced, NULL);
		atomic_init(&s->taken, true);
		/* seq_cst, as the freer's read of the list: a freer whose read
		 * comes before this push replaced the pointer before it too, so
		 * this thread's first announcement re-checks the pointer after
		 * the replacement and never uses the old one */
		s->next = atomic_load(&slots);
		while (!atomic_compare_exchange_weak(&slots, &s->next, s))
			;
	}
	if (pthread_setspecific(exit_key, s) != 0) {
		atomic_store_explicit(&s->taken, false, memory_order_release);
		return NULL;
	}
	mine = s;
	return s;
}

void *hazard_protect(void *_Atomic *shared)
{
	if (announcing || exited)
		return NULL;
	hazard_slot *s = mine ? mine : claim_slot();
	if (!s)
		return NULL;
	void *p = atomic_load_explicit(shared, memory_order_relaxed);
	for (;;) {
		atomic_store(&s->announced, p);
		void *again = atomic_load(shared);
		if (again == p)
			break;
		p = again; /* replaced meanwhile: announce the new one */
	}
	announcing = true;
	return p;
}

void hazard_release(void)
{
	if (!announcing)
		return;
	atomic_store_explicit(&mine->announced, NULL, memory_order_release);
	announcing = false;
}

bool hazard_announced(const void *p)
{
	for (hazard_slot *s = atomic_load(&slots); s; s = s->next)
		if (atomic_load(&s->announced) == p)
			return true;
	return false;
}
