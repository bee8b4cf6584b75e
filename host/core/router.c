/*
 * Pattern matching and the immutable routing table, and the table's
 * lifetime: a reference count for those who keep it, a hazard pointer
 * (util/hazard.h) for a request that borrows it, and the retired list
 * for a table whose last reference goes while it is still borrowed.
 * Thread rule: a borrow is returned on the thread that took it, before
 * that thread blocks or returns to its event loop (router.h).
 */
#include "config.h"

#include "core/router.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/es_config.h"
#include "model/pattern.h"
#include "util/hazard.h"
#include "util/refcount.h"
#include "core/plugin_instance.h"

struct routing_table {
	refcount refs;
	struct routing_table *next_retired; /* on the retired list */
	uint64_t generation;
	es_config *config;
	struct crash_ledger *crashes; /* the router's, set when installed */
	size_t count;
	plugin_instance *instances[];
};

struct router {
	/* Serialises swaps, and guards `current` against a swap during a
	 * locked acquire (a thread that borrows already); readers otherwise
	 * read it through a hazard pointer (util/hazard.h), without the lock. */
	pthread_mutex_t lock;
	void *_Atomic current; /* routing_table *; holds the router's reference */
	struct crash_ledger *crashes; /* set once at start; not owned */
};

static routing_table *current_of(router *r)
{
	return atomic_load_explicit(&r->current, memory_order_relaxed);
}

static _Atomic uint64_t unmatched_total;

uint64_t router_unmatched_total(void)
{
	return atomic_load_explicit(&unmatched_total, memory_order_relaxed);
}

routing_table *routing_table_build(plugin_instance *const *instances, size_t count, uint64_t generation,
                                   es_config *config)
{
	if (count > ROUTER_MAX_TARGETS)
		return NULL;
	routing_table *t = calloc(1, sizeof *t + count * sizeof t->instances[0]);
	if (!t)
		return NULL;
	refcount_init(&t->refs);
	t->generation = generation;
	t->count = count;
	t->config = config;
	if (config)
		es_config_ref(config);
	for (size_t i = 0; i < count; i++) {
		t->instances[i] = instances[i];
		plugin_instance_ref(instances[i]);
	}
	return t;
}

static void table_free(routing_table *t)
{
	for (size_t i = 0; i < t->count; i++)
		plugin_instance_unref(t->instances[i]);
	es_config_unref(t->config);
	free(t);
}

/* Tables whose last reference went while some thread announced them: a
 * borrower (router_borrow()) that held one past the reload's wait, a
 * swap that does not wait (start, stop), or a reader that read the
 * pointer just before a swap.  They are freed by the first collection that
 * finds them announced by no one: after a borrow is returned or an
 * acquire lost that race (collect_retired()), at a last unref, or at
 * router_destroy(). */
static pthread_mutex_t retired_lock = PTHREAD_MUTEX_INITIALIZER;
static routing_table *retired; /* under retired_lock */
/* Written under retired_lock; read without it to skip a collection when
 * there is nothing to collect (every request returns a borrow). */
static _Atomic size_t retired_count;

/* Free `t` (NULL: none) unless borrowed, and every retired table no
 * longer borrowed. */
static void free_unborrowed(routing_table *t)
{
	routing_table *done = NULL;
	pthread_mutex_lock(&retired_lock);
	if (t) {
		t->next_retired = retired;
		retired = t;
		atomic_fetch_add_explicit(&retired_count, 1, memory_order_relaxed);
	}
	for (routing_table **at = &retired; *at;) {
		routing_table *r = *at;
		if (hazard_announced(r)) {
			at = &r->next_retired;
			continue;
		}
		*at = r->next_retired;
		atomic_fetch_sub_explicit(&retired_count, 1, memory_order_relaxed);
		r->next_retired = done;
		done = r;
	}
	pthread_mutex_unlock(&retired_lock);
	while (done) { /* outside the lock: instances may stop as they go */
		routing_table *next = done->next_retired;
		table_free(done);
		done = next;
	}
}

void routing_table_unref(routing_table *t)
{
	if (t && refcount_put(&t->refs))
		free_unborrowed(t);
}

/* After this thread cleared an announcement: free what waited only for
 * it.  The count is read without ordering against the push, so a table
 * pushed at this moment may be missed here: the next return or acquire
 * (on any thread) that reads the count collects it then.  Memory is never
 * at stake, only how long a retired table stays. */
static void collect_retired(void)
{
	if (atomic_load_explicit(&retired_count, memory_order_relaxed))
		free_unborrowed(NULL);
}

size_t routing_tables_retired(void)
{
	return atomic_load(&retired_count);
}

size_t routing_table_size(const routing_table *t)
{
	return t->count;
}

plugin_instance *routing_table_instance(const routing_table *t, size_t index)
{
	return t->instances[index];
}

const es_config *routing_table_config(const routing_table *t)
{
	return t->config;
}

unsigned routing_table_users(const routing_table *t)
{
	/* The slots first, then the count: a router_acquire() whose
	 * announcement the scan no longer sees cleared it (a release store the
	 * scan's seq_cst load read) after taking its reference, which the
	 * count read below then sees.  The other order can miss both. */
	bool borrowed = hazard_announced(t);
	return refcount_read(&t->refs) - 1 + borrowed;
}

uint64_t routing_table_generation(const routing_table *t)
{
	return t->generation;
}

router *router_create(void)
{
	router *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	routing_table *empty = routing_table_build(NULL, 0, 0, NULL);
	if (!empty) {
		pthread_mutex_destroy(&r->lock);
		free(r);
		return NULL;
	}
	atomic_init(&r->current, empty);
	return r;
}

void router_destroy(router *r)
{
	if (!r)
		return;
	routing_table_unref(current_of(r));
	free_unborrowed(NULL); /* every thread that borrowed has stopped by now */
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void router_set_crash_ledger(router *r, struct crash_ledger *crashes)
{
	pthread_mutex_lock(&r->lock);
	r->crashes = crashes;
	current_of(r)->crashes = crashes;
	pthread_mutex_unlock(&r->lock);
}

struct crash_ledger *routing_table_crash_ledger(const routing_table *table)
{
	return table->crashes;
}

routing_table *router_exchange(router *r, routing_table *table)
{
	pthread_mutex_lock(&r->lock);
	table->crashes = r->crashes; /* before anyone can acquire it */
	routing_table *old = atomic_exchange(&r->current, table);
	pthread_mutex_unlock(&r->lock);
	return old;
}

void router_swap(router *r, routing_table *table)
{
	routing_table_unref(router_exchange(r, table));
}

static routing_table *acquire_locked(router *r)
{
	pthread_mutex_lock(&r->lock);
	routing_table *t = current_of(r);
	refcount_get(&t->refs);
	pthread_mutex_unlock(&r->lock);
	return t;
}

routing_table *router_acquire(router *r)
{
	for (;;) {
		routing_table *t = hazard_protect(&r->current);
		if (!t)
			return acquire_locked(r); /* this thread borrows already */
		/* Announced, so its memory stays; but a swap may have dropped
		 * its last reference since it was read (then it is retired, and
		 * must not come back): read the new one. */
		bool taken = refcount_get_unless_zero(&t->refs);
		hazard_release();
		if (taken)
			return t;
		collect_retired(); /* it may wait only for this announcement */
	}
}

routing_table *router_borrow(router *r, table_borrow *b)
{
	b->table = hazard_protect(&r->current);
	b->announced = b->table != NULL;
	if (!b->announced)
		b->table = acquire_locked(r); /* this thread borrows already */
	return b->table;
}

void router_return(table_borrow *b)
{
	if (b->announced) {
		hazard_release();
		collect_retired(); /* a swap may have retired it meanwhile */
	} else {
		routing_table_unref(b->table);
	}
	b->table = NULL;
}

void dispatch_result_copy(dispatch_result *to, const dispatch_result *from)
{
	to->matched = from->matched;
	to->elsewhere = from->elsewhere;
	to->busy = from->busy;
	memcpy(to->targets, from->targets, from->matched * sizeof from->targets[0]);
	memcpy(to->elsewhere_names, from->elsewhere_names, from->elsewhere * sizeof from->elsewhere_names[0]);
}

dispatch_status router_reserve(routing_table *t, const es_event *event,
                               bool (*select)(plugin_instance *, const es_event *, void *), void *arg, bool quiet,
                               dispatch_result *result)
{
	result->matched = 0;
	result->elsewhere = 0;
	result->busy = NULL;
	for (size_t i = 0; i < t->count; i++)
		if (select ? select(t->instances[i], event, arg) : plugin_instance_matches(t->instances[i], event->name))
			result->targets[result->matched++] = t->instances[i];
	if (result->matched == 0) {
		atomic_fetch_add_explicit(&unmatched_total, 1, memory_order_relaxed);
		return DISPATCH_OK;
	}
	/* Phase one: a slot in every queue, or none. */
	for (size_t i = 0; i < result->matched; i++) {
		if (!worker_pool_try_reserve(plugin_instance_pool(result->targets[i]), !quiet)) {
			for (size_t j = 0; j < i; j++)
				worker_pool_unreserve(plugin_instance_pool(result->targets[j]));
			result->busy = result->targets[i];
			return DISPATCH_BUSY;
		}
	}
	return DISPATCH_OK;
}

/* Whether `t` runs an instance of plugin `name`. */
static bool table_runs(const routing_table *t, const char *name)
{
	for (size_t i = 0; i < t->count; i++)
		if (strcmp(plugin_instance_name(t->instances[i]), name) == 0)
			return true;
	return false;
}

/* The configured plugins this node does not run that subscribe to `event`
 * (router_match(), JetStream only): routing must not depend on which node
 * accepted the event. */
static void match_elsewhere(const routing_table *t, const es_event *event, dispatch_result *result)
{
	const es_config *c = t->config;
	for (size_t i = 0; i < c->plugin_count; i++) {
		const plugin_settings *ps = &c->plugins[i];
		if (!ps->enabled || !ps->subscribe || table_runs(t, ps->name))
			continue;
		bool match = false;
		for (size_t j = 0; j < ps->subscribe_count && !match; j++)
			match = pattern_match(ps->subscribe[j], event->name);
		if (match && result->matched + result->elsewhere < ROUTER_MAX_TARGETS)
			result->elsewhere_names[result->elsewhere++] = ps->name;
	}
}

void router_match(routing_table *t, const es_event *event, dispatch_result *result)
{
	result->matched = 0;
	result->elsewhere = 0;
	result->busy = NULL;
	for (size_t i = 0; i < t->count; i++)
		if (plugin_instance_matches(t->instances[i], event->name))
			result->targets[result->matched++] = t->instances[i];
	if (t->config && t->config->queue_backend == QUEUE_JETSTREAM)
		match_elsewhere(t, event, result);
	if (result->matched + result->elsewhere == 0)
		atomic_fetch_add_explicit(&unmatched_total, 1, memory_order_relaxed);
}

void router_push(const dispatch_result *result, es_event *event)
{
	/* Phase two: cannot fail.  Each queue adopts one of the references
	 * taken here at once (with four plugins, one atomic add, not four). */
	es_event_ref_many(event, (unsigned)result->matched);
	for (size_t i = 0; i < result->matched; i++)
		worker_pool_push_reserved_adopt(plugin_instance_pool(result->targets[i]), &event, 1);
}

struct push_later_item {
	worker_pool *pool;
	es_event *event; /* a reference */
	size_t order;    /* when it was added: keeps the order per queue */
};

void push_later_add(push_later *later, const dispatch_result *result, es_event *event)
{
	if (later->count + result->matched > later->cap) {
		size_t cap = later->cap ? later->cap * 2 : 128;
		while (cap < later->count + result->matched)
			cap *= 2;
		push_later_item *items = realloc(later->items, cap * sizeof *items);
		if (!items) {
			push_later_flush(later);
			router_push(result, event);
			return;
		}
		later->items = items;
		later->cap = cap;
	}
	es_event_ref_many(event, (unsigned)result->matched); /* one per item */
	for (size_t i = 0; i < result->matched; i++) {
		later->items[later->count] = (push_later_item){
		        .pool = plugin_instance_pool(result->targets[i]), .event = event, .order = later->count};
		later->count++;
	}
}

static int by_pool_then_order(const void *a, const void *b)
{
	const push_later_item *x = a, *y = b;
	if (x->pool != y->pool)
		return (uintptr_t)x->pool < (uintptr_t)y->pool ? -1 : 1;
	return (x->order > y->order) - (x->order < y->order);
}

void push_later_flush(push_later *later)
{
	/* Already grouped (one plugin, the usual case): nothing to sort.
	 * items is NULL when nothing was added. */
	bool grouped = true;
	for (size_t i = 1; grouped && i < later->count; i++)
		grouped = by_pool_then_order(&later->items[i - 1], &later->items[i]) < 0;
	if (!grouped)
		qsort(later->items, later->count, sizeof *later->items, by_pool_then_order);
	es_event *run[64];
	for (size_t i = 0; i < later->count;) {
		worker_pool *pool = later->items[i].pool;
		size_t n = 0;
		while (i < later->count && later->items[i].pool == pool && n < sizeof run / sizeof run[0])
			run[n++] = later->items[i++].event;
		worker_pool_push_reserved_adopt(pool, run, n); /* the items' references */
	}
	free(later->items);
	*later = (push_later){0};
}

dispatch_status router_dispatch(routing_table *t, es_event *event, dispatch_result *result)
{
	dispatch_status st = router_reserve(t, event, NULL, NULL, false, result);
	if (st == DISPATCH_OK)
		router_push(result, event);
	return st;
}
