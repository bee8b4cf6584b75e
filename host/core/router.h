/*
 * Routing events to plugin instances by name.
 *
 * Pattern grammar (dotted, like event names):
 *   - a segment of [A-Za-z0-9_-] matches itself;
 *   - `*` inside a segment matches any run of characters within that
 *     segment (`order.*` matches `order.created`; `user-*.login` matches
 *     `user-eu.login`), never a '.';
 *   - a whole segment `**` matches zero or more segments (`order.**`
 *     matches `order`, `order.created` and `order.created.v2`; `**` alone
 *     matches every event).
 *
 * A routing table is immutable once built and reference-counted.  The router
 * holds the current one and swaps it atomically (reload); a caller routes
 * one event entirely through the table it acquired, so every event is
 * routed by either the old or the new table, never by a mix.
 */
#ifndef ES_ROUTER_H
#define ES_ROUTER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/es_event.h"
#include "model/pattern.h"

#define ROUTER_MAX_TARGETS 256 /* DATABASE_MAX_PLUGINS too */

typedef struct plugin_instance plugin_instance;

typedef struct routing_table routing_table;

struct es_config;

/* Build a table over `instances` (each gets a reference held by the table)
 * and `config` (a reference too; may be NULL in tests): a request that
 * acquires the table sees one consistent pair of routes and settings.
 * NULL when out of memory or more than ROUTER_MAX_TARGETS instances. */
routing_table *routing_table_build(plugin_instance *const *instances, size_t count, uint64_t generation,
                                   struct es_config *config);
/* The config the table was built with (NULL if none). */
const struct es_config *routing_table_config(const routing_table *table);
/* Holders of the table besides the caller's own reference: its other
 * references, plus 1 while any thread borrows it (router_borrow()). */
unsigned routing_table_users(const routing_table *table);
void routing_table_unref(routing_table *table);
size_t routing_table_size(const routing_table *table);
plugin_instance *routing_table_instance(const routing_table *table, size_t index);
uint64_t routing_table_generation(const routing_table *table);

typedef struct router router;
struct crash_ledger;

router *router_create(void);
/* The crash ledger (quarantines) every table installed from now on names;
 * set once at start, before events flow.  Not owned. */
void router_set_crash_ledger(router *r, struct crash_ledger *crashes);
/* The ledger of the router the table is installed in (NULL: none). */
struct crash_ledger *routing_table_crash_ledger(const routing_table *table);
/* Frees the router and releases its current table. */
void router_destroy(router *r);
/* Install `table` (the router takes over the caller's reference) and
 * release the previous one. */
void router_swap(router *r, routing_table *table);
/* Install `table` and hand the previous one (with the router's reference)
 * to the caller, who may wait for its other users to finish. */
routing_table *router_exchange(router *r, routing_table *table);
/* The current table with a new reference; release it when done. */
routing_table *router_acquire(router *r);
/* The current table for one short piece of work on this thread (one
 * request's routing), without a lock or a reference count: the thread
 * announces it in a hazard pointer (util/hazard.h), and a table whose last
 * reference goes while borrowed is kept until it is returned.  Give it
 * back with router_return(&b) on the same thread, before it blocks or goes
 * back to its event loop (a reload waits for it); what outlives that takes
 * its own reference (router_acquire(), which gives the current table: the
 * borrowed one unless a reload swapped it since).  A borrow while this
 * thread borrows already takes a reference instead; borrows may be
 * returned in any order.  A borrower counts in routing_table_users(). */
typedef struct table_borrow {
	routing_table *table;
	bool announced; /* else a reference */
} table_borrow;
routing_table *router_borrow(router *r, table_borrow *b);
void router_return(table_borrow *b);
/* Tables kept only because a thread still borrows them: for tests. */
size_t routing_tables_retired(void);

typedef enum dispatch_status {
	DISPATCH_OK = 0,        /* queued for every matching instance (maybe none) */
	DISPATCH_BUSY = 1,      /* a matching queue was full: queued nowhere */
	DISPATCH_STOPPING = 2,  /* the host is shutting down */
} dispatch_status;

typedef struct dispatch_result {
	size_t matched;                              /* instances that got the event */
	plugin_instance *targets[ROUTER_MAX_TARGETS]; /* borrowed from the table */
	plugin_instance *busy;                       /* DISPATCH_BUSY: the full one */
	/* router_match() with queue.backend jetstream: plugins this node does
	 * not run whose settings subscribe to the event (names borrowed from
	 * the table's config); the nodes that run them consume the messages */
	size_t elsewhere;
	const char *elsewhere_names[ROUTER_MAX_TARGETS];
} dispatch_result;

/* Copy what `from` holds (its counts, busy, and the used part of its
 * arrays): a whole dispatch_result is 4 KB. */
void dispatch_result_copy(dispatch_result *to, const dispatch_result *from);

/* Routing in two phases, for the admission pipeline (core/pipeline.h),
 * which is how the host queues every event; pointers in *result are valid
 * while the caller holds `table`.
 *
 * Phase one: the instances of `table` whose subscriptions match `event`
 * (or those `select` accepts, when not NULL: a replay, a redelivery) into
 * result->targets, and a slot in each of their queues, all or nothing:
 * DISPATCH_BUSY (result->busy is full) reserves none.  `quiet`: a full
 * queue is not counted as a refusal (the caller retries later). */
dispatch_status router_reserve(routing_table *table, const es_event *event,
                               bool (*select)(plugin_instance *instance, const es_event *event, void *arg), void *arg,
                               bool quiet, dispatch_result *result);
/* Phase two, after DISPATCH_OK: the event into every reserved slot (each
 * queue takes its own reference; the caller keeps its own).  Cannot fail. */
void router_push(const dispatch_result *result, es_event *event);

/* Phase two for many events at once (a batch request): the deliveries are
 * collected, then each queue gets all of its own under one lock, in the
 * order they were added.  Each event is held (a reference) until pushed. */
typedef struct push_later_item push_later_item;
typedef struct push_later {
	push_later_item *items;
	size_t count, cap;
} push_later;
/* Add the deliveries of `event` to `result`'s targets.  Cannot fail: when
 * no memory is left to hold them, what was collected is pushed now, then
 * this event (the order per queue is kept). */
void push_later_add(push_later *later, const dispatch_result *result, es_event *event);
/* Push everything collected and free the list (it may be used again). */
void push_later_flush(push_later *later);

/* Only the matching: the instances of `table` whose subscriptions match
 * `event` into result->targets, no queue slot taken (the JetStream backend
 * queues in NATS, core/js_link.h).  With queue.backend jetstream also the
 * plugins the table's config has settings for, enabled with an explicit
 * `subscribe`, that this node does not run (its file is missing during a
 * rolling upgrade, it was refused or quarantined here) into
 * result->elsewhere_names: another node runs them.  Counted as unmatched
 * when none. */
void router_match(routing_table *table, const es_event *event, dispatch_result *result);

/* Both phases at once, for events no database records (the unit tests and
 * benchmarks of the router itself). */
dispatch_status router_dispatch(routing_table *table, es_event *event, dispatch_result *result);

/* Counters of the router itself. */
uint64_t router_unmatched_total(void);

#endif
