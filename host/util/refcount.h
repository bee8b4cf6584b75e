/*
 * A reference count, the one helper behind every reference-counted thing in
 * the host (events, configs, routing tables, waiters, plugin images and
 * instances).  Each type keeps the same two verbs: <type>_ref() takes a
 * reference, <type>_unref() drops one and frees on the last.
 *
 * Memory order: taking a reference needs none (the caller already holds
 * one); dropping one is acquire-release, so the thread that frees sees
 * every write made by the others before they dropped theirs.
 */
#ifndef ES_REFCOUNT_H
#define ES_REFCOUNT_H

#include <stdatomic.h>
#include <stdbool.h>

typedef struct refcount {
	atomic_uint count;
} refcount;

/* One reference, the creator's. */
static inline void refcount_init(refcount *r)
{
	atomic_init(&r->count, 1);
}

static inline void refcount_get(refcount *r)
{
	atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
}

/* A reference unless the count is 0 already (the last one was dropped and
 * the object waits to be freed): for a pointer read without a reference,
 * whose memory something else keeps (a hazard pointer).  True when taken. */
static inline bool refcount_get_unless_zero(refcount *r)
{
	unsigned n = atomic_load_explicit(&r->count, memory_order_relaxed);
	do {
		if (n == 0)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&r->count, &n, n + 1, memory_order_relaxed,
	                                                memory_order_relaxed));
	return true;
}

/* `n` references at once (for `n` new holders: one atomic add). */
static inline void refcount_get_many(refcount *r, unsigned n)
{
	atomic_fetch_add_explicit(&r->count, n, memory_order_relaxed);
}

/* Drop a reference; true when it was the last: the caller frees. */
static inline bool refcount_put(refcount *r)
{
	return atomic_fetch_sub_explicit(&r->count, 1, memory_order_acq_rel) == 1;
}

/* The references held now (a snapshot: others may take or drop some). */
static inline unsigned refcount_read(const refcount *r)
{
	return atomic_load_explicit(&r->count, memory_order_acquire);
}

#endif
