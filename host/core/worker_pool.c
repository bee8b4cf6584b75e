/*
 * Bounded delivery queue with worker threads, deadlines and retries.
 *
 * Locking: `lock` guards the ring, the retry heap and the worker slots.
 * Handlers run without it.  Producers do not take it: they put deliveries
 * into the inbox, a bounded multi-producer ring of its own (see "the
 * inbox" below), and take the lock only to wake a worker that sleeps
 * without a timer near, or any sleeping worker for an event a client waits
 * for (see wait_for_work()).  Workers move the inbox's deliveries into the
 * ring under the lock before they look at it.  Who owns a running delivery is decided by one
 * compare-and-swap on the worker's state word (sequence number + kind): the
 * worker moves BUSY→IDLE when its handler returns, the supervisor moves
 * BUSY→ABANDONED when the deadline passed.  Whoever wins decides the
 * outcome; the sequence number makes a stale observation fail the CAS.
 *
 * Workers take up to BATCH_MAX deliveries per lock acquisition.  When a
 * worker is abandoned, the untouched rest of its batch goes back to the
 * front of the ring, so one stuck handler holds at most the deliveries of
 * one handler call: one, or with a batch handler (pool_handler.handle_batch)
 * those of that call.
 */
#include "config.h"

#include "core/worker_pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crash_report.h"
#include "core/delivery_handles.h"
#include "util/log.h"

#define BATCH_MAX 32
/* Abandoned calls per supervisor round; more wait for the next round,
 * which then comes at once. */
#define EXPIRED_CALLS_MAX 4
/* Asynchronous deliveries timed out per supervisor round; the same. */
#define EXPIRED_ASYNC_MAX 64
#define IDLE_WAIT_MAX_US 1000000 /* every wait has a timeout */
#define ERR_SIZE 256

enum { W_IDLE = 0, W_BUSY = 1, W_ABANDONED = 2 };
#define STATE(seq, kind) (((uint64_t)(seq) << 2) | (kind))
#define STATE_KIND(s) ((unsigned)((s)&3u))

typedef struct delivery {
	es_event *event;
	uint32_t attempt;   /* 1-based attempt this delivery will make */
	/* Someone waits for its outcome: a watch (synchronous trigger) or a
	 * distributed queue (origin).  Copied from the event when it is
	 * queued, as is queued_us: a worker's quick success reads neither
	 * from the event, whose first lines the other plugins' workers
	 * share (and write, dropping their references). */
	bool told;
	/* A client waits on the connection for it (a watch: a synchronous
	 * trigger): no worker's short sleep may delay it (wait_for_work()). */
	bool waited_on;
	int64_t due_us;     /* retry heap: not before (monotonic) */
	int64_t queued_us;  /* when it entered the queue: the event's received_us (monotonic) */
} delivery;

/* One place of the inbox.  `lap` says whose turn it is, for the position
 * pos that maps to it (lap base: pos with the place's index bits cleared):
 * free for a producer when lap == base, holding a delivery for the worker
 * when lap == base + 1, free for position pos + capacity once taken (base
 * + capacity).  The scheme of Vyukov's bounded MPMC queue (which stores
 * pos itself), with one consumer at a time, the thread holding the pool's
 * lock; relative to the base so that zeroed memory is an empty inbox and
 * its pages are touched only when used (a queue may be 16 M long). */
typedef struct inbox_place {
	_Atomic uint64_t lap;
	delivery d;
} inbox_place;

/* An asynchronous handler's delivery between its start and its end: the
 * delivery (with its event reference) belongs to the record, and the
 * record to whoever wins its handle (delivery_handles.h): the plugin's
 * completion, or the supervisor's (or stop's) timeout.  The winner finishes
 * the delivery, then frees the record. */
typedef struct async_record {
	worker_pool *pool;
	delivery d;
	es_delivery *handle;
	int64_t started_us;
	bool armed; /* its deadline runs (under pool lock) */
} async_record;

/* What a worker counted of its deliveries since it last added them to the
 * pool's shared counters: the handler latency of each, and the quiet
 * successes (ES_OK, nobody to tell).  Added at the end of each batch, and
 * before a handler starts once TALLY_FLUSH_US have passed, instead of with
 * about seven atomic operations per delivery on lines /metrics reads (the
 * counters and histograms were 17 % of the worker's time in the dispatch
 * profile).  The slot of a delivery is still given back at once: the bound
 * stays exact.  Written by the worker thread outside handler calls; the
 * supervisor adds it when it abandons the worker's call (the BUSY state
 * the worker published orders the worker's writes before). */
typedef struct delivery_tally {
	histogram_tally handler_latency;
	histogram_tally event_latency; /* of the quiet successes */
	uint32_t ok;                   /* quiet successes */
	int64_t since_us;              /* the last flush */
} delivery_tally;

/* How often a hand-over waiting for room in the successor's queue looks
 * (hand_over()). */
#define HANDOVER_ROOM_POLL_NS 1000000

/* How long counts may wait in a tally while handlers keep starting. */
#define TALLY_FLUSH_US 1000

typedef struct worker {
	worker_pool *pool;
	pthread_t thread;
	bool running;        /* thread created and not joined (under pool lock) */
	bool abandoned;      /* given up on by the supervisor (under pool lock) */
	bool joining;        /* a thread is joining it outside the lock (under pool lock) */
	atomic_bool exited;  /* set just before the thread returns: its last use of the pool */
	_Atomic uint64_t state;
	_Atomic int64_t started_us;
	uint64_t seq;        /* worker thread only */
	delivery *batch;     /* pool->batch_cap of them */
	unsigned batch_count;
	/* The handler call running: batch[batch_index .. +call_count) (one
	 * delivery without a batch handler); published by the BUSY store. */
	unsigned batch_index;
	unsigned call_count;
	pool_batch_item *items; /* pool->batch_cap: a batch handler's call (worker thread only) */
	bool streaming;       /* found work on its last look (worker thread, under pool lock) */
	delivery_tally tally; /* see delivery_tally */
} worker;

/* Fields are grouped by who writes them, each group on its own cache
 * line: producers (reserve, push) and workers (take, finish) run on
 * different cores, and a counter one side bumps must not evict what the
 * other side reads on every event (`stopping` and `policy` in reserve,
 * the ring indices under the lock). */
#define CACHE_LINE 64

struct worker_pool { /* NOLINT(clang-analyzer-optin.performance.Padding): the padding is the point */
	/* Read-mostly: set at create, read on every event. */
	char *name;
	plugin_policy policy;
	pool_handler handler;
	delivery *ring; /* capacity slots; head..head+count */
	inbox_place *inbox; /* inbox_mask + 1 (a power of two >= capacity) places */
	uint64_t inbox_mask;
	delivery *retry; /* min-heap on due_us, at most capacity */
	worker **slots; /* policy.workers + policy.max_stuck_workers */
	/* A worker's batch: BATCH_MAX, or a batch handler's batch_max when
	 * larger (fill_batch() tops up what take_batch() took). */
	unsigned batch_cap;
	/* Deliveries of abandoned calls: the supervisor's, then stop()'s once
	 * the supervisor is joined (EXPIRED_CALLS_MAX * batch_cap). */
	delivery *expired;
	/* With an asynchronous handler: its handles' owner, and queue_size
	 * records (each holds a slot of the bound, so there are never more)
	 * with a stack of the free ones; NULL without one. */
	delivery_handles *handles;
	async_record *async;
	uint32_t *async_free;
	size_t slot_count;
	atomic_bool stopping;
	/* stop() takes its last look at the queue: no worker takes anything
	 * any more (see settle_undelivered()). */
	atomic_bool closed;
	/* While set, no handler starts: the plugin's reopen() runs then.  A
	 * worker publishes BUSY before it reads this, the pauser sets it
	 * before it reads the workers' states (both seq_cst), so one of the
	 * two always sees the other. */
	atomic_bool paused;

	/* The queue: everything here is under `lock`. */
	_Alignas(CACHE_LINE) pthread_mutex_t lock;
	size_t head, count;
	size_t retry_count;
	uint64_t inbox_head; /* the next inbox position to take */
	unsigned wakeups_pending; /* signalled waiters that have not woken yet */
	pthread_cond_t work_ready;  /* workers wait here */
	pthread_cond_t supervisor_wake;
	pthread_cond_t quiet_changed; /* a paused pool's handlers returning: worker_pool_pause() waits here */
	pthread_cond_t async_settled; /* async_open went down: worker_pool_stop() waits here */
	uint32_t async_free_count;
	uint32_t async_open; /* records in use, and their winners still finishing (async_settle) */
	uint32_t live_workers; /* running and not abandoned */
	uint32_t stuck;        /* abandoned and not yet returned */
	pthread_t supervisor;
	bool supervisor_running;
	bool supervisor_stop;
	int64_t stop_deadline_us; /* under lock; valid once stopping */
	bool started;

	/* The bound's slots: taken by producers, given back by workers, each
	 * side counting on a line of its own (one word both wrote was the
	 * worker's most expensive instruction in the fan-out profile).  Held
	 * now: taken - released.  A producer checks the bound against the
	 * last `released` it read (released_seen): that can only be too low,
	 * so the check errs towards full, and only then is `released` read
	 * again; a refusal is decided on a fresh one. */
	_Alignas(CACHE_LINE) _Atomic uint64_t taken;
	_Atomic uint64_t released_seen;
	/* Slots a predecessor's hand-over waits for (see hand_over()): kept
	 * out of the producers' bound until it has them. */
	_Atomic uint32_t handover_claim;
	/* The inbox's next free position: claimed by producers (fetch-add).
	 * Every push claims one position per delivery, so this is also the
	 * count of deliveries pushed (the `received` stat, with handed_over). */
	_Atomic uint64_t inbox_tail;

	/* Given back by workers, the supervisor and stop. */
	_Alignas(CACHE_LINE) _Atomic uint64_t released;

	/* Written by workers under `lock` when they go to sleep and wake, read
	 * by producers without it after each push (see
	 * worker_pool_push_reserved_adopt()): a line of their own, away from
	 * the lock's line the workers write on every batch. */
	_Alignas(CACHE_LINE) _Atomic unsigned idle_waiters;
	_Atomic unsigned short_sleepers; /* idle waiters that look again within policy.wakeup_coalesce_us */

	/* Written by producers (and a predecessor's hand-over) only. */
	_Alignas(CACHE_LINE) _Atomic uint64_t refused;
	/* Deliveries a predecessor handed over on reload (under its lock):
	 * received without a push. */
	_Atomic uint64_t handed_over;

	/* Written by workers (and the supervisor) only. */
	_Alignas(CACHE_LINE) _Atomic uint64_t ok;
	_Atomic uint64_t retried, timed_out, dead, undelivered;
	/* The last 64 final outcomes, one bit each (1: dead-lettered), and how
	 * many there were: /health's failure ratio, without a lock. */
	_Atomic uint64_t recent_bits;
	_Atomic uint64_t recent_count;

	_Alignas(CACHE_LINE) histogram handler_latency;
	_Alignas(CACHE_LINE) histogram event_latency;
};

static _Thread_local uint32_t current_attempt;
static _Thread_local int64_t current_deadline_us;
static _Thread_local uint64_t jitter_state;
/* The batch handler call running on this thread (NULL outside one). */
static _Thread_local const pool_batch_item *current_items;
static _Thread_local size_t current_item_count;

uint32_t worker_pool_current_attempt(void)
{
	return current_attempt;
}

uint32_t worker_pool_attempt_of(const es_event *event)
{
	for (size_t i = 0; i < current_item_count; i++)
		if (current_items[i].event == event)
			return current_items[i].attempt;
	return current_attempt;
}

int64_t worker_pool_current_deadline_us(void)
{
	return current_deadline_us;
}

histogram *worker_pool_handler_latency(worker_pool *p)
{
	return &p->handler_latency;
}

histogram *worker_pool_event_latency(worker_pool *p)
{
	return &p->event_latency;
}

/* ---- ring and retry heap (under lock) ---- */

/* head + n wrapped into the ring, without a division (n <= capacity) */
static size_t ring_index(const worker_pool *p, size_t n)
{
	size_t i = p->head + n;
	return i >= p->policy.queue_size ? i - p->policy.queue_size : i;
}

static void ring_push_back(worker_pool *p, const delivery *d)
{
	p->ring[ring_index(p, p->count)] = *d;
	p->count++;
}

static void ring_push_front(worker_pool *p, const delivery *d)
{
	p->head = p->head ? p->head - 1 : p->policy.queue_size - 1;
	p->ring[p->head] = *d;
	p->count++;
}

static delivery ring_pop(worker_pool *p)
{
	delivery d = p->ring[p->head];
	p->head = ring_index(p, 1);
	p->count--;
	return d;
}

static void heap_push(worker_pool *p, const delivery *d)
{
	size_t i = p->retry_count++;
	p->retry[i] = *d;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (p->retry[parent].due_us <= p->retry[i].due_us)
			break;
		delivery t = p->retry[parent];
		p->retry[parent] = p->retry[i];
		p->retry[i] = t;
		i = parent;
	}
}

static delivery heap_pop(worker_pool *p)
{
	delivery top = p->retry[0];
	p->retry[0] = p->retry[--p->retry_count];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < p->retry_count && p->retry[l].due_us < p->retry[m].due_us)
			m = l;
		if (r < p->retry_count && p->retry[r].due_us < p->retry[m].due_us)
			m = r;
		if (m == i)
			break;
		delivery t = p->retry[m];
		p->retry[m] = p->retry[i];
		p->retry[i] = t;
		i = m;
	}
	return top;
}

/* ---- the inbox ----
 *
 * Producers put deliveries here without the pool's lock: each claims its
 * positions with one fetch-add on inbox_tail, writes them, and publishes
 * each with a release store of its place's seq.  A claimed place is always
 * free already: every delivery in the inbox holds a slot of the bound (it
 * was reserved), so there are never more than `capacity` claimed and not
 * yet taken, and the inbox has at least that many places.  The worker
 * holding the lock takes published deliveries in position order; a place
 * claimed but not yet published (its producer between the fetch-add and
 * the store) stops it there until it is. */

/* Move what is published into the ring, in order.  Under lock.  The ring
 * has room: ring + inbox never hold more than the bound. */
static void inbox_drain(worker_pool *p)
{
	for (;;) {
		inbox_place *place = &p->inbox[p->inbox_head & p->inbox_mask];
		uint64_t base = p->inbox_head & ~p->inbox_mask;
		if (atomic_load_explicit(&place->lap, memory_order_acquire) != base + 1)
			return;
		ring_push_back(p, &place->d);
		atomic_store_explicit(&place->lap, base + p->inbox_mask + 1, memory_order_release);
		p->inbox_head++;
	}
}

/* Positions claimed and not yet taken (published or not).  Under lock. */
static bool inbox_claimed(const worker_pool *p)
{
	return atomic_load(&p->inbox_tail) != p->inbox_head;
}

/* Everything claimed, published: wait for producers between their claim
 * and their store (a few instructions, unless one was descheduled there).
 * Under lock; bounded by `until_us`. */
static void inbox_drain_all(worker_pool *p, int64_t until_us)
{
	inbox_drain(p);
	while (inbox_claimed(p) && clock_monotonic_us() < until_us) {
		pthread_mutex_unlock(&p->lock);
		sched_yield();
		pthread_mutex_lock(&p->lock);
		inbox_drain(p);
	}
}

/* Wake one idle worker unless enough wake-ups are already on their way:
 * a burst of pushes then costs one futex wake, not one per event, while a
 * backlog still wakes every idle worker in turn.  Under lock. */
static void wake_worker(worker_pool *p, bool waited_on)
{
	if (p->short_sleepers && !waited_on)
		return; /* it looks within policy.wakeup_coalesce_us: see wait_for_work() */
	if (p->idle_waiters > p->wakeups_pending) {
		p->wakeups_pending++;
		pthread_cond_signal(&p->work_ready);
	}
}

/* ---- outcomes ---- */

static uint64_t backoff_us(const plugin_policy *policy, uint32_t failed_attempts)
{
	double delay = policy->backoff_initial_ms * 1000.0;
	for (uint32_t i = 1; i < failed_attempts && delay < policy->backoff_max_ms * 1000.0; i++)
		delay *= policy->backoff_multiplier;
	if (delay > policy->backoff_max_ms * 1000.0)
		delay = policy->backoff_max_ms * 1000.0;
	/* "equal jitter": half fixed, half random, so retries of a burst spread out */
	if (jitter_state == 0)
		jitter_state = (uint64_t)clock_monotonic_us() * 2654435761u | 1;
	jitter_state ^= jitter_state << 13;
	jitter_state ^= jitter_state >> 7;
	jitter_state ^= jitter_state << 17;
	double fraction = (double)(jitter_state >> 11) / (double)(1ull << 53);
	return (uint64_t)(delay / 2 + fraction * delay / 2);
}

static void release_slot(worker_pool *p)
{
	atomic_fetch_add_explicit(&p->released, 1, memory_order_release);
}

/* Slots held now, for the stats: `taken` read between two equal reads of
 * `released` is exact at that instant.  While both keep moving, the last
 * difference clamped to the bound (the two reads are not one instant:
 * slots taken meanwhile may have been given back before the first). */
static uint32_t slots_held(worker_pool *p)
{
	uint64_t held = 0;
	for (int tries = 0; tries < 8; tries++) {
		uint64_t released = atomic_load_explicit(&p->released, memory_order_acquire);
		uint64_t taken = atomic_load_explicit(&p->taken, memory_order_acquire);
		held = taken - released;
		if (atomic_load_explicit(&p->released, memory_order_acquire) == released)
			return (uint32_t)held;
	}
	return held < p->policy.queue_size ? (uint32_t)held : p->policy.queue_size;
}

static void notify(worker_pool *p, const es_event *event, delivery_outcome outcome, uint32_t attempts,
                   bool timed_out, const char *error)
{
	if (p->handler.on_outcome)
		p->handler.on_outcome(p->handler.ctx, event, outcome, attempts, timed_out, error);
}

/* `n` deliveries that ended well, after the ones remembered so far. */
static void remember_ok_outcomes(worker_pool *p, uint32_t n)
{
	uint64_t bits = atomic_load_explicit(&p->recent_bits, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&p->recent_bits, &bits, n >= 64 ? 0 : bits << n,
	                                              memory_order_relaxed, memory_order_relaxed))
		;
	atomic_fetch_add_explicit(&p->recent_count, n, memory_order_relaxed);
}

static void remember_outcome(worker_pool *p, bool failed)
{
	uint64_t bits = atomic_load_explicit(&p->recent_bits, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&p->recent_bits, &bits, (bits << 1) | (failed ? 1u : 0u),
	                                              memory_order_relaxed, memory_order_relaxed))
		;
	atomic_fetch_add_explicit(&p->recent_count, 1, memory_order_relaxed);
}

/* A distributed queue's delivery (es_event_origin): told how its one
 * attempt ended; the queue redelivers, here or on another node. */
static void settle_origin(const delivery *d, delivery_outcome outcome, uint64_t retry_delay_us, const char *error)
{
	if (d->event->origin)
		d->event->origin->settle(d->event->origin, (int)outcome, retry_delay_us, error);
}

/* Decide what happens after attempt d->attempt ended with `result` at
 * `now_us` (monotonic; a worker passes the time its handler returned, read
 * once for both latency histograms).  Takes over d->event's reference.
 * Called without the lock. */
static void finish_at(worker_pool *p, delivery *d, es_result result, bool timed_out, const char *error,
                      int64_t now_us)
{
	if (result == ES_OK) {
		histogram_observe_us(&p->event_latency, now_us - d->event->received_us);
		remember_outcome(p, false);
		atomic_fetch_add_explicit(&p->ok, 1, memory_order_relaxed);
		release_slot(p);
		if (p->handler.report_ok || d->event->watch)
			notify(p, d->event, DELIVERY_OK, d->attempt, false, NULL);
		settle_origin(d, DELIVERY_OK, 0, NULL);
		es_event_unref(d->event);
		return;
	}
	if (timed_out)
		atomic_fetch_add_explicit(&p->timed_out, 1, memory_order_relaxed);
	if (result == ES_RETRY && d->attempt < p->policy.max_attempts && d->event->origin) {
		/* the queue holds it during the back-off, not this pool */
		atomic_fetch_add_explicit(&p->retried, 1, memory_order_relaxed);
		release_slot(p);
		notify(p, d->event, DELIVERY_RETRYING, d->attempt, timed_out, error);
		settle_origin(d, DELIVERY_RETRYING, backoff_us(&p->policy, d->attempt), error);
		es_event_unref(d->event);
		return;
	}
	if (result == ES_RETRY && d->attempt < p->policy.max_attempts) {
		uint32_t attempts = d->attempt;
		d->attempt++;
		d->due_us = now_us + (int64_t)backoff_us(&p->policy, attempts);
		atomic_fetch_add_explicit(&p->retried, 1, memory_order_relaxed);
		notify(p, d->event, DELIVERY_RETRYING, attempts, timed_out, error);
		pthread_mutex_lock(&p->lock);
		heap_push(p, d);
		wake_worker(p, false); /* a waiter may sleep past the new due time */
		pthread_mutex_unlock(&p->lock);
		return;
	}
	atomic_fetch_add_explicit(&p->dead, 1, memory_order_relaxed);
	histogram_observe_us(&p->event_latency, now_us - d->event->received_us);
	remember_outcome(p, true);
	release_slot(p); /* before telling anyone: an observer sees the slot free */
	notify(p, d->event, DELIVERY_DEAD, d->attempt, timed_out, error);
	settle_origin(d, DELIVERY_DEAD, 0, error);
	es_event_unref(d->event);
}

/* Add `t` to the pool's counters (in finish_at()'s order) and empty it. */
static void flush_tally(worker_pool *p, delivery_tally *t, int64_t now_us)
{
	histogram_add_tally(&p->handler_latency, &t->handler_latency);
	if (t->ok) {
		histogram_add_tally(&p->event_latency, &t->event_latency);
		remember_ok_outcomes(p, t->ok);
		atomic_fetch_add_explicit(&p->ok, t->ok, memory_order_relaxed);
		t->ok = 0;
	}
	t->since_us = now_us;
}

static void finish(worker_pool *p, delivery *d, es_result result, bool timed_out, const char *error)
{
	finish_at(p, d, result, timed_out, error, clock_monotonic_us());
}

/* ---- asynchronous deliveries ---- */

/* A free record, counted open; NULL when none is (it cannot be: each open
 * record holds a slot of the bound).  Under lock. */
static async_record *async_record_take(worker_pool *p)
{
	if (!p->async_free_count)
		return NULL;
	p->async_open++;
	return &p->async[p->async_free[--p->async_free_count]];
}

/* The record of a delivery its winner took out (the delivery copied) back
 * on the free list, before the winner finishes the delivery: finishing
 * gives the delivery's slot of the bound back, a producer may take that
 * slot at once, and a worker then needs a free record for it (one given
 * back after the slot was not there yet: the worker failed the delivery
 * as "out of memory").  The winner stays counted in async_open until
 * async_settle().  Under lock. */
static void async_record_free(worker_pool *p, async_record *rec)
{
	rec->armed = false;
	rec->handle = NULL;
	p->async_free[p->async_free_count++] = (uint32_t)(rec - p->async);
}

/* The winner of a record finished its delivery: its last use of the pool
 * (stop() waits for async_open to reach 0). */
static void async_settle(worker_pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->async_open--;
	pthread_cond_broadcast(&p->async_settled);
	if (p->async_open == 0 && atomic_load(&p->stopping)) {
		/* draining workers wait for the last one (wait_for_work) */
		p->wakeups_pending = p->idle_waiters;
		pthread_cond_broadcast(&p->work_ready);
	}
	pthread_mutex_unlock(&p->lock);
}

/* Armed records started before `before_us` whose handle the host wins now
 * (delivery_handle_expire): disarmed and put in out[], at most `max`.
 * Under lock. */
static size_t async_take_expired(worker_pool *p, int64_t before_us, async_record **out, size_t max)
{
	size_t n = 0;
	for (uint32_t i = 0; p->async_open && i < p->policy.queue_size && n < max; i++) {
		async_record *rec = &p->async[i];
		if (!rec->armed || rec->started_us >= before_us)
			continue;
		if (!delivery_handle_expire(rec->handle, rec->d.event))
			continue; /* the plugin's completion won: it finishes this one */
		rec->armed = false;
		out[n++] = rec;
	}
	return n;
}

/* Time out the deliveries async_take_expired() took.  Without the lock. */
static void async_finish_expired(worker_pool *p, async_record **recs, size_t n, const char *reason)
{
	if (n)
		LOG_WARN(p->name, "%zu deliver%s not completed in time (%s), first event %s (%s): timed out", n,
		         n == 1 ? "y" : "ies", reason, recs[0]->d.event->id, recs[0]->d.event->name);
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&p->lock);
		delivery d = recs[i]->d;
		async_record_free(p, recs[i]);
		pthread_mutex_unlock(&p->lock);
		finish(p, &d, ES_RETRY, true, reason);
		async_settle(p);
	}
}

es_status worker_pool_complete(es_delivery *handle, es_result result, const char *error)
{
	void *won;
	switch (delivery_handle_claim(handle, &won)) {
	case HANDLE_CLAIMED:
		break;
	case HANDLE_TWICE:
		return ES_STATUS_INVALID;
	case HANDLE_LATE:
	case HANDLE_UNKNOWN:
	default:
		return ES_STATUS_NOT_FOUND;
	}
	/* The record is ours: its pool lives until we give it back. */
	async_record *rec = won;
	worker_pool *p = rec->pool;
	pthread_mutex_lock(&p->lock);
	rec->armed = false;
	delivery d = rec->d;
	int64_t started = rec->started_us;
	pthread_mutex_unlock(&p->lock);
	delivery_handle_release(handle);
	pthread_mutex_lock(&p->lock);
	async_record_free(p, rec);
	pthread_mutex_unlock(&p->lock);

	es_status status = ES_STATUS_OK;
	char err[ERR_SIZE];
	if (result != ES_OK && result != ES_RETRY && result != ES_FAIL) {
		snprintf(err, sizeof err, "handler completed with invalid result %d", (int)result);
		result = ES_FAIL;
		error = err;
		status = ES_STATUS_INVALID;
	}
	if (!error || !error[0])
		error = result == ES_OK ? NULL : "handler reported failure";
	int64_t now = clock_monotonic_us();
	histogram_observe_us(&p->handler_latency, now - started);
	finish_at(p, &d, result, false, error, now);
	async_settle(p);
	return status;
}

/* ---- workers ---- */

/* Move due retries, then queued deliveries, into w->batch.  Under lock;
 * the inbox drained by the caller. */
static unsigned take_batch(worker_pool *p, worker *w, int64_t now)
{
	unsigned n = 0;
	while (n < BATCH_MAX && p->retry_count && p->retry[0].due_us <= now)
		w->batch[n++] = heap_pop(p);
	while (n < BATCH_MAX && p->count)
		w->batch[n++] = ring_pop(p);
	/* Leave work for the other idle workers: take a fair share of a burst. */
	if (n > 1 && p->idle_waiters > 0) {
		unsigned keep = (n + p->idle_waiters) / (p->idle_waiters + 1);
		bool waited_on = false;
		while (n > keep) {
			waited_on |= w->batch[n - 1].waited_on;
			ring_push_front(p, &w->batch[--n]);
		}
		wake_worker(p, waited_on); /* it takes its share and wakes the next */
	}
	return n;
}

/* How soon a worker looks again at an inbox place claimed but not yet
 * published (its producer may have been descheduled in between). */
#define INBOX_LOOK_US 20

/* Wait for work: false when the worker should exit.  Under lock.
 *
 * Wake-ups are per burst, not per event.  A worker that found work last
 * time (a stream is running) sleeps at most the plugin's
 * wakeup_coalesce_us (the window; 0: never short) and counts itself
 * in `short_sleepers`; producers do not wake anyone while a short sleeper
 * exists, since it looks at the queue within the window anyway and takes
 * everything that came meanwhile in one batch.  A short sleep that found
 * nothing ends the stream: the next wait is an ordinary one, and the next
 * push wakes the worker at once (the latency of a lone event is a futex
 * wake-up, not the window).  The cost under a stream is one timer
 * wake-up per worker per window, paid by the worker, and up to a
 * window added to an event's latency; nothing spins.  An event a
 * client waits for (a synchronous trigger: its watch) is not made to wait:
 * its push wakes a short sleeper too. */
static bool wait_for_work(worker_pool *p, worker *w)
{
	for (;;) {
		int64_t now = clock_monotonic_us();
		bool stopping = atomic_load(&p->stopping);
		if (stopping && now >= p->stop_deadline_us)
			return false;
		/* paused too: what is published waits in the ring, not the inbox */
		inbox_drain(p);
		w->batch_count = atomic_load(&p->paused) ? 0 : take_batch(p, w, now);
		if (w->batch_count) {
			w->streaming = true;
			return true;
		}
		bool claimed = inbox_claimed(p); /* and not published yet */
		if (stopping && p->retry_count == 0 && p->async_open == 0 && !claimed)
			return false; /* drained: nothing queued, waiting to retry or outstanding */
		uint32_t window_us = p->policy.wakeup_coalesce_us;
		bool short_sleep = w->streaming && window_us > 0 && !stopping && !atomic_load(&p->paused);
		w->streaming = false;
		int64_t wait = short_sleep ? (int64_t)window_us : IDLE_WAIT_MAX_US;
		if (p->retry_count && p->retry[0].due_us - now < wait)
			wait = p->retry[0].due_us - now;
		if (stopping && p->stop_deadline_us - now < wait)
			wait = p->stop_deadline_us - now;
		if (wait < 1)
			wait = 1;
		if (claimed && wait > INBOX_LOOK_US)
			wait = INBOX_LOOK_US; /* its producer publishes it in a moment */
		p->idle_waiters++; /* seq_cst: see worker_pool_push_reserved_adopt() */
		p->short_sleepers += short_sleep;
		/* A producer that claimed after take_batch() looked either sees
		 * this waiter (and wakes it) or is seen here. */
		if (!claimed && inbox_claimed(p))
			wait = 0;
		if (wait > 0)
			clock_cond_wait_us(&p->work_ready, &p->lock, wait);
		p->short_sleepers -= short_sleep;
		p->idle_waiters--;
		if (p->wakeups_pending)
			p->wakeups_pending--;
	}
}

/* The end of a worker the supervisor abandoned, once its handler returned.
 * `exited` is set under the lock, the last thing this thread does with the
 * pool: the supervisor joins exited workers while holding the lock, so one
 * marked exited must never still need it (it did: a deadlock). */
static void *leave_abandoned(worker_pool *p, worker *w)
{
	crash_report_thread_end();
	pthread_mutex_lock(&p->lock);
	atomic_store(&w->exited, true);
	pthread_cond_signal(&p->supervisor_wake);
	pthread_cond_broadcast(&p->quiet_changed);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Give w->batch[from..] back to the front of the ring, in order.  Under lock. */
static void give_back_rest(worker_pool *p, worker *w, unsigned from)
{
	for (unsigned j = w->batch_count; j > from; j--)
		ring_push_front(p, &w->batch[j - 1]);
	w->batch_count = 0;
}

/* Paused (reopen() is about to run) as the worker was to start
 * w->batch[from]: no handler starts; that delivery and the rest go back to
 * the front of the ring and the pauser is told that one less thread may
 * enter a handler.  Returns with the lock held: the worker goes back to
 * waiting.  Both the single-delivery loop and run_batch_calls() use it. */
static void give_back_paused(worker_pool *p, worker *w, unsigned from)
{
	pthread_mutex_lock(&p->lock);
	give_back_rest(p, w, from);
	pthread_cond_broadcast(&p->quiet_changed);
}

/* After a batch handler call over w->batch[first .. first+n) returned (and
 * the worker still owned it): the deliveries the handler did not start go
 * back to the front of the ring untouched; the others are finished one by
 * one.  A call that started none is made to count its first delivery as a
 * failed attempt, so a handler that never starts anything cannot spin a
 * worker forever.  Without the lock. */
static void finish_batch_call(worker_pool *p, worker *w, unsigned first, unsigned n)
{
	bool any_started = false;
	for (unsigned k = 0; k < n; k++)
		any_started |= w->items[k].started;
	if (!any_started) {
		w->items[0].started = true;
		w->items[0].result = ES_RETRY;
		snprintf(w->items[0].error, sizeof w->items[0].error, "the batch handler started none of its deliveries");
	}
	bool gave_back = false;
	pthread_mutex_lock(&p->lock);
	for (unsigned k = n; k-- > 0;) {
		if (!w->items[k].started) {
			ring_push_front(p, &w->batch[first + k]);
			gave_back = true;
		}
	}
	if (gave_back)
		wake_worker(p, false);
	pthread_mutex_unlock(&p->lock);
	for (unsigned k = 0; k < n; k++) {
		pool_batch_item *it = &w->items[k];
		if (!it->started)
			continue;
		es_result result = it->result;
		it->error[sizeof it->error - 1] = '\0';
		if (result != ES_OK && result != ES_RETRY && result != ES_FAIL) {
			snprintf(it->error, sizeof it->error, "handler returned invalid result %d", (int)result);
			result = ES_FAIL;
		}
		const char *error = it->error[0] ? it->error : (result == ES_OK ? NULL : "handler reported failure");
		finish(p, &w->batch[first + k], result, false, error);
	}
}

typedef enum calls_end {
	CALLS_DONE,          /* every delivery taken was handled; without the lock */
	CALLS_PAUSED,        /* the rest was given back (pause); under the lock */
	CALLS_PAST_DEADLINE, /* the rest was given back (shutdown deadline); under the lock */
	CALLS_ABANDONED,     /* the supervisor took the call's deliveries: the thread must leave; without the lock */
} calls_end;

/* The most deliveries in one batch handler call. */
static unsigned per_call(const worker_pool *p)
{
	return p->handler.batch_max ? p->handler.batch_max : BATCH_MAX;
}

/* A batch handler's batch: top up what take_batch() took to per_call(),
 * waiting up to batch_linger_ms for more to arrive (not while stopping or
 * paused).  Under lock. */
static void fill_batch(worker_pool *p, worker *w)
{
	unsigned want = per_call(p);
	int64_t until = clock_monotonic_us() + (int64_t)p->handler.batch_linger_ms * 1000;
	for (;;) {
		int64_t now = clock_monotonic_us();
		while (w->batch_count < want && p->retry_count && p->retry[0].due_us <= now)
			w->batch[w->batch_count++] = heap_pop(p);
		inbox_drain(p);
		while (w->batch_count < want && p->count)
			w->batch[w->batch_count++] = ring_pop(p);
		if (w->batch_count >= want || now >= until || atomic_load(&p->stopping) || atomic_load(&p->paused))
			return;
		p->idle_waiters++;
		clock_cond_wait_us(&p->work_ready, &p->lock, until - now);
		p->idle_waiters--;
		if (p->wakeups_pending)
			p->wakeups_pending--;
	}
}

/* Run w->batch through the batch handler, up to batch_max per call; the
 * same steps as worker_main's loop for one delivery.  Without the lock. */
static calls_end run_batch_calls(worker_pool *p, worker *w)
{
	unsigned limit = per_call(p);
	for (unsigned i = 0; i < w->batch_count;) {
		if (atomic_load_explicit(&p->stopping, memory_order_acquire) &&
		    clock_monotonic_us() >= p->stop_deadline_us) {
			pthread_mutex_lock(&p->lock);
			give_back_rest(p, w, i);
			return CALLS_PAST_DEADLINE;
		}
		unsigned n = w->batch_count - i < limit ? w->batch_count - i : limit;
		for (unsigned k = 0; k < n; k++) {
			pool_batch_item *it = &w->items[k];
			it->event = w->batch[i + k].event;
			it->attempt = w->batch[i + k].attempt;
			it->started = true;
			it->result = ES_RETRY;
			it->error[0] = '\0';
		}
		w->batch_index = i;
		w->call_count = n;
		atomic_store_explicit(&w->started_us, clock_monotonic_us(), memory_order_relaxed);
		uint64_t busy = STATE(++w->seq, W_BUSY);
		atomic_store(&w->state, busy);
		if (atomic_load(&p->paused)) {
			uint64_t expected = busy;
			if (!atomic_compare_exchange_strong(&w->state, &expected, STATE(w->seq, W_IDLE)))
				return CALLS_ABANDONED;
			give_back_paused(p, w, i);
			return CALLS_PAUSED;
		}
		int64_t started = atomic_load_explicit(&w->started_us, memory_order_relaxed);
		current_attempt = w->items[0].attempt;
		current_deadline_us = started + (int64_t)p->policy.timeout_ms * 1000;
		current_items = w->items;
		current_item_count = n;
		p->handler.handle_batch(p->handler.ctx, w->items, n);
		current_items = NULL;
		current_item_count = 0;
		current_deadline_us = 0;
		uint64_t expected = busy;
		if (!atomic_compare_exchange_strong_explicit(&w->state, &expected, STATE(w->seq, W_IDLE),
		                                             memory_order_acq_rel, memory_order_acquire))
			return CALLS_ABANDONED;
		if (atomic_load(&p->paused)) {
			pthread_mutex_lock(&p->lock);
			pthread_cond_broadcast(&p->quiet_changed);
			pthread_mutex_unlock(&p->lock);
		}
		histogram_observe_us(&p->handler_latency, clock_monotonic_us() - started);
		finish_batch_call(p, w, i, n);
		i += n;
	}
	w->batch_count = 0;
	return CALLS_DONE;
}

/* Start w->batch's deliveries through the asynchronous handler, one call
 * each: the steps of worker_main's loop for one delivery, except that the
 * delivery goes to a record before the call and ends when its handle is
 * won (delivery_handles.h), during the call or after it.  The call itself
 * runs under the deadline like handle(): one that overruns it abandons the
 * worker, which holds no delivery (call_count 0, batch_index past the one
 * the record took), so the supervisor takes none from it and the record
 * times out on its own.  Without the lock. */
static calls_end run_async_starts(worker_pool *p, worker *w)
{
	w->call_count = 0;
	for (unsigned i = 0; i < w->batch_count; i++) {
		if (atomic_load_explicit(&p->stopping, memory_order_acquire) &&
		    clock_monotonic_us() >= p->stop_deadline_us) {
			pthread_mutex_lock(&p->lock);
			give_back_rest(p, w, i);
			return CALLS_PAST_DEADLINE;
		}
		w->batch_index = i + 1;
		int64_t started = clock_monotonic_us();
		atomic_store_explicit(&w->started_us, started, memory_order_relaxed);
		uint64_t busy = STATE(++w->seq, W_BUSY);
		atomic_store(&w->state, busy);
		uint64_t expected = busy;
		if (atomic_load(&p->paused)) {
			bool mine = atomic_compare_exchange_strong(&w->state, &expected, STATE(w->seq, W_IDLE));
			pthread_mutex_lock(&p->lock);
			if (!mine) {
				/* abandoned meanwhile: it gave back the rest, not this one */
				ring_push_front(p, &w->batch[i]);
				w->batch_count = 0;
				pthread_mutex_unlock(&p->lock);
				return CALLS_ABANDONED;
			}
			give_back_rest(p, w, i);
			pthread_cond_broadcast(&p->quiet_changed);
			return CALLS_PAUSED;
		}
		delivery d = w->batch[i];
		es_event *event = d.event;
		es_event_ref(event); /* the call's own: the delivery may end inside the call */
		pthread_mutex_lock(&p->lock);
		async_record *rec = async_record_take(p);
		pthread_mutex_unlock(&p->lock);
		es_delivery *handle = NULL;
		if (rec) {
			rec->d = d;
			rec->started_us = started;
			handle = delivery_handle_open(p->handles, rec);
		}
		if (handle) {
			pthread_mutex_lock(&p->lock);
			rec->handle = handle;
			rec->armed = true;
			pthread_mutex_unlock(&p->lock);
			current_attempt = d.attempt;
			current_deadline_us = started + (int64_t)p->policy.timeout_ms * 1000;
			p->handler.handle_async(p->handler.ctx, event, handle);
			current_deadline_us = 0;
		} else {
			if (rec) {
				pthread_mutex_lock(&p->lock);
				async_record_free(p, rec);
				pthread_mutex_unlock(&p->lock);
			}
			finish(p, &d, ES_RETRY, false, "no delivery handle could be opened (out of memory)");
			if (rec)
				async_settle(p);
		}
		expected = busy;
		bool mine = atomic_compare_exchange_strong_explicit(&w->state, &expected, STATE(w->seq, W_IDLE),
		                                                     memory_order_acq_rel, memory_order_acquire);
		es_event_unref(event);
		if (!mine)
			return CALLS_ABANDONED;
		if (atomic_load(&p->paused)) {
			pthread_mutex_lock(&p->lock);
			pthread_cond_broadcast(&p->quiet_changed);
			pthread_mutex_unlock(&p->lock);
		}
	}
	w->batch_count = 0;
	return CALLS_DONE;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	worker_pool *p = w->pool;
	char err[ERR_SIZE];

	crash_report_thread_start(); /* a handler that overflows its stack is still attributed */
	pthread_mutex_lock(&p->lock);
	while (wait_for_work(p, w)) {
		/* take_batch() left a share of a burst to the other idle workers:
		 * top up only when asked to wait, or beyond what it may take */
		if (p->handler.handle_batch &&
		    (p->handler.batch_linger_ms || (per_call(p) > BATCH_MAX && w->batch_count == BATCH_MAX)))
			fill_batch(p, w);
		pthread_mutex_unlock(&p->lock);
		if (p->handler.handle_async || p->handler.handle_batch) {
			switch (p->handler.handle_async ? run_async_starts(p, w) : run_batch_calls(p, w)) {
			case CALLS_DONE:
				pthread_mutex_lock(&p->lock);
				continue;
			case CALLS_PAUSED:
				continue;
			case CALLS_PAST_DEADLINE:
				goto out_locked;
			case CALLS_ABANDONED:
				/* the supervisor holds its own references to the call's
				 * deliveries and gave the rest back: drop ours */
				for (unsigned k = 0; k < w->call_count; k++)
					es_event_unref(w->batch[w->batch_index + k].event);
				return leave_abandoned(p, w);
			}
		}
		/* One clock read per delivery: a handler's start is the previous
		 * one's return when nothing ran between them but counting (the
		 * clock was about 10 % of a dispatch profile); after an outcome
		 * someone is told about, the clock is read again. */
		int64_t now = clock_monotonic_us();
		delivery_tally *tally = &w->tally;
		tally->since_us = now;
		for (unsigned i = 0; i < w->batch_count; i++) {
			/* Acquire: stop_deadline_us is written before `stopping` is
			 * set and read here without the lock (relaxed, this worker
			 * could read a stale deadline and give its batch back). */
			if (atomic_load_explicit(&p->stopping, memory_order_acquire) &&
			    clock_monotonic_us() >= p->stop_deadline_us) {
				/* Past the shutdown deadline: hand the rest back for counting. */
				flush_tally(p, tally, now);
				pthread_mutex_lock(&p->lock);
				give_back_rest(p, w, i);
				goto out_locked;
			}
			delivery d = w->batch[i];
			w->batch_index = i;
			if (tally->since_us + TALLY_FLUSH_US <= now)
				flush_tally(p, tally, now);
			atomic_store_explicit(&w->started_us, now, memory_order_relaxed);
			uint64_t busy = STATE(++w->seq, W_BUSY);
			atomic_store(&w->state, busy);
			if (atomic_load(&p->paused)) {
				uint64_t expected = busy;
				if (!atomic_compare_exchange_strong(&w->state, &expected, STATE(w->seq, W_IDLE)))
					goto abandoned; /* the supervisor took it meanwhile */
				flush_tally(p, tally, now);
				give_back_paused(p, w, i);
				goto next_batch_locked;
			}

			current_attempt = d.attempt;
			err[0] = '\0';
			int64_t started = atomic_load_explicit(&w->started_us, memory_order_relaxed);
			current_deadline_us = started + (int64_t)p->policy.timeout_ms * 1000;
			es_result result = p->handler.handle(p->handler.ctx, d.event, err, sizeof err);
			current_deadline_us = 0;
			if (result != ES_OK && result != ES_RETRY && result != ES_FAIL) {
				snprintf(err, sizeof err, "handler returned invalid result %d", (int)result);
				result = ES_FAIL;
			}

			uint64_t expected = busy;
			if (!atomic_compare_exchange_strong_explicit(&w->state, &expected, STATE(w->seq, W_IDLE),
			                                             memory_order_acq_rel, memory_order_acquire)) {
			abandoned:
				/* Abandoned: the supervisor took this delivery (with its own
				 * reference), the rest of the batch and the tally.  Drop ours
				 * and leave. */
				es_event_unref(d.event);
				return leave_abandoned(p, w);
			}
			if (atomic_load(&p->paused)) {
				pthread_mutex_lock(&p->lock);
				pthread_cond_broadcast(&p->quiet_changed);
				pthread_mutex_unlock(&p->lock);
			}
			int64_t returned = clock_monotonic_us();
			histogram_tally_us(&tally->handler_latency, returned - started);
			bool only_counted = result == ES_OK && !p->handler.report_ok && !d.told;
			if (only_counted) {
				/* finish_at()'s ES_OK case, counted in the tally */
				histogram_tally_us(&tally->event_latency, returned - d.queued_us);
				tally->ok++;
				release_slot(p);
				es_event_unref(d.event);
				now = returned;
				continue;
			}
			/* someone is told: what came before is counted first */
			flush_tally(p, tally, returned);
			finish_at(p, &d, result, false, err[0] ? err : (result == ES_OK ? NULL : "handler reported failure"),
			          returned);
			now = clock_monotonic_us();
		}
		flush_tally(p, tally, now);
		w->batch_count = 0;
		pthread_mutex_lock(&p->lock);
	next_batch_locked:;
	}
out_locked:
	pthread_mutex_unlock(&p->lock);
	crash_report_thread_end();
	atomic_store(&w->exited, true);
	return NULL;
}

/* Start a worker in a free slot.  Under lock.  0 or -1. */
static int spawn_worker(worker_pool *p)
{
	for (size_t i = 0; i < p->slot_count; i++) {
		if (p->slots[i] && p->slots[i]->running)
			continue;
		worker *w = p->slots[i];
		if (!w) {
			w = calloc(1, sizeof *w);
			if (!w)
				return -1;
			p->slots[i] = w;
		}
		/* a slot's arrays outlive its threads (a joined one no longer uses them) */
		delivery *batch = w->batch ? w->batch : calloc(p->batch_cap, sizeof *batch);
		pool_batch_item *items = w->items || !p->handler.handle_batch ? w->items
		                                                              : calloc(p->batch_cap, sizeof *items);
		memset(w, 0, sizeof *w);
		w->batch = batch;
		w->items = items;
		if (!batch || (p->handler.handle_batch && !items))
			return -1;
		w->pool = p;
		w->call_count = 1; /* a batch handler's calls set their own */
		atomic_init(&w->exited, false);
		atomic_init(&w->state, STATE(0, W_IDLE));
		int rc = pthread_create(&w->thread, NULL, worker_main, w);
		if (rc != 0) {
			LOG_ERROR(p->name, "cannot start a worker thread: %s", strerror(rc));
			return -1;
		}
		char tname[16];
		snprintf(tname, sizeof tname, "es-%s", p->name);
		pthread_setname_np(w->thread, tname);
		w->running = true;
		p->live_workers++;
		return 0;
	}
	return -1;
}

/* ---- supervisor ---- */

static int64_t supervisor_tick_us(const worker_pool *p)
{
	int64_t tick = (int64_t)p->policy.timeout_ms * 1000 / 4;
	if (tick < 2000)
		tick = 2000;
	if (tick > 100000)
		tick = 100000;
	return tick;
}

/* Abandon worker w if it is still running the handler call seen in
 * `seen`.  Under lock.  On success timed_out[] gets the call's deliveries
 * (w->call_count of them, each with a new event reference; the caller has
 * room for batch_cap) and the rest of the batch goes back to the ring. */
static bool abandon(worker_pool *p, worker *w, uint64_t seen, delivery *timed_out)
{
	if (!atomic_compare_exchange_strong_explicit(&w->state, &seen, (seen & ~3ull) | W_ABANDONED,
	                                             memory_order_acq_rel, memory_order_acquire))
		return false;
	for (unsigned k = 0; k < w->call_count; k++) {
		timed_out[k] = w->batch[w->batch_index + k];
		es_event_ref(timed_out[k].event); /* the stuck thread keeps its own reference */
	}
	for (unsigned j = w->batch_count; j > w->batch_index + w->call_count; j--)
		ring_push_front(p, &w->batch[j - 1]);
	flush_tally(p, &w->tally, clock_monotonic_us()); /* the worker will not touch it again */
	w->abandoned = true;
	p->live_workers--;
	p->stuck++;
	return true;
}

/* Join workers whose thread has returned.  Under lock: a worker sets
 * `exited` only once it needs the lock no more (see worker_main). */
static void reap_exited(worker_pool *p)
{
	for (size_t i = 0; i < p->slot_count; i++) {
		worker *w = p->slots[i];
		if (!w || !w->running || w->joining || !atomic_load(&w->exited))
			continue;
		pthread_join(w->thread, NULL);
		w->running = false;
		if (w->abandoned) {
			p->stuck--;
			LOG_INFO(p->name, "a stuck worker returned from its handler and was joined (%u still stuck)",
			         p->stuck);
		} else {
			p->live_workers--;
		}
	}
}

/* Start workers until `workers` of them are live again.  The slots
 * (workers + max_stuck_workers) bound the threads, stuck ones included: a
 * replacement that found no free slot when its predecessor got stuck is
 * started here once a stuck thread returned and was reaped.  Under lock. */
static void restore_capacity(worker_pool *p)
{
	uint32_t before = p->live_workers;
	while (!atomic_load(&p->stopping) && p->live_workers < p->policy.workers && spawn_worker(p) == 0)
		;
	if (p->live_workers > before)
		LOG_INFO(p->name, "capacity restored by %u worker%s: %u of %u live, %u stuck",
		         p->live_workers - before, p->live_workers - before == 1 ? "" : "s", p->live_workers,
		         p->policy.workers, p->stuck);
}

static void *supervisor_main(void *arg)
{
	worker_pool *p = arg;
	delivery *expired = p->expired;
	unsigned call_first[EXPIRED_CALLS_MAX], call_size[EXPIRED_CALLS_MAX];
	bool more = false;
	pthread_mutex_lock(&p->lock);
	while (!p->supervisor_stop) {
		if (!more)
			clock_cond_wait_us(&p->supervisor_wake, &p->lock, supervisor_tick_us(p));
		more = false;
		reap_exited(p);

		size_t n_expired = 0, n_calls = 0;
		int64_t now = clock_monotonic_us();
		int64_t limit = (int64_t)p->policy.timeout_ms * 1000;
		for (size_t i = 0; i < p->slot_count; i++) {
			worker *w = p->slots[i];
			if (!w || !w->running || w->abandoned)
				continue;
			uint64_t seen = atomic_load_explicit(&w->state, memory_order_acquire);
			if (STATE_KIND(seen) != W_BUSY)
				continue;
			if (now - atomic_load_explicit(&w->started_us, memory_order_relaxed) <= limit)
				continue;
			if (n_calls == EXPIRED_CALLS_MAX) {
				more = true;
				break;
			}
			if (abandon(p, w, seen, &expired[n_expired])) {
				call_first[n_calls] = (unsigned)n_expired;
				call_size[n_calls++] = w->call_count;
				n_expired += w->call_count;
			}
		}
		async_record *timed_out[EXPIRED_ASYNC_MAX];
		size_t n_async = async_take_expired(p, now - limit, timed_out, EXPIRED_ASYNC_MAX);
		more |= n_async == EXPIRED_ASYNC_MAX;
		for (size_t i = 0; i < n_calls; i++) {
			bool replaced = !atomic_load(&p->stopping) && spawn_worker(p) == 0;
			const char *outcome = replaced ? "replacement started"
			                               : "no replacement (too many stuck workers): pool runs with fewer workers";
			if (call_size[i] == 0) {
				/* a handle_async() call: its delivery is the record's, which
				 * times out on its own (async_take_expired): none here */
				LOG_WARN(p->name, "asynchronous handler call did not return within %u ms; worker abandoned, %s",
				         p->policy.timeout_ms, outcome);
				continue;
			}
			const delivery *d = &expired[call_first[i]];
			if (call_size[i] == 1)
				LOG_WARN(p->name, "handler overran its %u ms deadline on event %s (%s); worker abandoned, %s",
				         p->policy.timeout_ms, d->event->id, d->event->name, outcome);
			else
				LOG_WARN(p->name,
				         "batch handler overran its %u ms deadline on %u events from %s (%s) on; "
				         "worker abandoned, %s",
				         p->policy.timeout_ms, call_size[i], d->event->id, d->event->name, outcome);
		}
		restore_capacity(p);
		inbox_drain(p);
		if (p->count && p->idle_waiters) {
			p->wakeups_pending = p->idle_waiters;
			pthread_cond_broadcast(&p->work_ready);
		}
		pthread_mutex_unlock(&p->lock);
		char err[ERR_SIZE];
		snprintf(err, sizeof err, "handler did not return within %u ms", p->policy.timeout_ms);
		for (size_t i = 0; i < n_expired; i++)
			finish(p, &expired[i], ES_RETRY, true, err);
		snprintf(err, sizeof err, "not completed within %u ms", p->policy.timeout_ms);
		async_finish_expired(p, timed_out, n_async, err);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- public ---- */

worker_pool *worker_pool_create(const char *name, const plugin_policy *policy, const pool_handler *handler)
{
	/* aligned for the cache-line groups above */
	worker_pool *p = aligned_alloc(CACHE_LINE, (sizeof *p + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE);
	if (!p)
		return NULL;
	memset(p, 0, sizeof *p);
	p->name = strdup(name);
	p->policy = *policy;
	if (p->policy.workers == 0)
		p->policy.workers = 1;
	if (p->policy.queue_size == 0)
		p->policy.queue_size = 1;
	if (p->policy.max_attempts == 0)
		p->policy.max_attempts = 1;
	p->handler = *handler;
	p->ring = calloc(p->policy.queue_size, sizeof *p->ring);
	size_t places = 1;
	while (places < p->policy.queue_size)
		places <<= 1;
	p->inbox = calloc(places, sizeof *p->inbox); /* zeroed: every place free for lap 0 */
	p->inbox_mask = places - 1;
	p->retry = calloc(p->policy.queue_size, sizeof *p->retry);
	p->slot_count = (size_t)p->policy.workers + p->policy.max_stuck_workers;
	p->slots = calloc(p->slot_count, sizeof *p->slots);
	p->batch_cap = handler->handle_batch && handler->batch_max > BATCH_MAX ? handler->batch_max : BATCH_MAX;
	p->expired = calloc((size_t)EXPIRED_CALLS_MAX * p->batch_cap, sizeof *p->expired);
	bool async_ok = true;
	if (handler->handle_async) {
		p->handles = delivery_handles_create(name);
		p->async = calloc(p->policy.queue_size, sizeof *p->async);
		p->async_free = calloc(p->policy.queue_size, sizeof *p->async_free);
		async_ok = p->handles && p->async && p->async_free;
		for (uint32_t i = 0; async_ok && i < p->policy.queue_size; i++) {
			p->async[i].pool = p;
			p->async_free[p->async_free_count++] = p->policy.queue_size - 1 - i;
		}
	}
	if (!p->name || !p->ring || !p->inbox || !p->retry || !p->slots || !p->expired || !async_ok) {
		delivery_handles_free(p->handles);
		free(p->async);
		free(p->async_free);
		free(p->expired);
		free(p->ring);
		free(p->inbox);
		free(p->retry);
		free(p->slots);
		free(p->name);
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	clock_cond_init(&p->work_ready); /* monotonic, like every wait of the host */
	clock_cond_init(&p->supervisor_wake);
	clock_cond_init(&p->quiet_changed);
	clock_cond_init(&p->async_settled);
	atomic_init(&p->stopping, false);
	return p;
}

int worker_pool_start(worker_pool *p)
{
	pthread_mutex_lock(&p->lock);
	int rc = 0;
	for (uint32_t i = 0; i < p->policy.workers && rc == 0; i++)
		rc = spawn_worker(p);
	if (rc == 0) {
		int err = pthread_create(&p->supervisor, NULL, supervisor_main, p);
		if (err == 0) {
			p->supervisor_running = true;
		} else {
			LOG_ERROR(p->name, "cannot start the supervisor thread: %s", strerror(err));
			rc = -1;
		}
	}
	p->started = true;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

bool worker_pool_reserve(worker_pool *p)
{
	return worker_pool_try_reserve(p, true);
}

/* The bound a slot is taken against: the queue's size less an
 * asynchronous handler's timed-out deliveries it has not completed yet
 * (they still count against it: worker_pool.h). */
static uint32_t slot_bound(const worker_pool *p)
{
	uint32_t bound = p->policy.queue_size;
	if (p->handles) {
		uint32_t expired_open = delivery_handles_expired_open(p->handles);
		bound = expired_open < bound ? bound - expired_open : 0;
	}
	return bound;
}

/* Take a slot if fewer than `bound` are held; false when not. */
static bool take_slot(worker_pool *p, uint32_t bound)
{
	uint64_t taken = atomic_load_explicit(&p->taken, memory_order_relaxed);
	uint64_t released = atomic_load_explicit(&p->released_seen, memory_order_relaxed);
	do {
		if (atomic_load_explicit(&p->stopping, memory_order_relaxed))
			return false;
		/* released_seen may be newer than this `taken` (another producer
		 * stored it after reading a later one): read both again then too */
		if (taken < released || taken - released >= bound) {
			released = atomic_load_explicit(&p->released, memory_order_acquire);
			taken = atomic_load_explicit(&p->taken, memory_order_relaxed);
			atomic_store_explicit(&p->released_seen, released, memory_order_relaxed);
			if (taken - released >= bound)
				return false;
		}
	} while (!atomic_compare_exchange_weak_explicit(&p->taken, &taken, taken + 1, memory_order_acquire,
	                                                memory_order_relaxed));
	return true;
}

bool worker_pool_try_reserve(worker_pool *p, bool count_refusal)
{
	uint32_t bound = slot_bound(p);
	uint32_t claim = atomic_load_explicit(&p->handover_claim, memory_order_relaxed);
	if (take_slot(p, claim < bound ? bound - claim : 0))
		return true;
	if (count_refusal)
		atomic_fetch_add_explicit(&p->refused, 1, memory_order_relaxed);
	return false;
}

void worker_pool_unreserve(worker_pool *p)
{
	release_slot(p);
}

/* The delivery of a newly accepted event; it holds the caller's reference. */
static delivery new_delivery(const worker_pool *p, es_event *event)
{
	/* a distributed queue counts the attempts itself; a redelivery after a
	 * restart continues from the attempts made before */
	return (delivery){.event = event, .attempt = es_event_first_attempt(event, p->name),
	                  .told = event->watch || event->origin, .waited_on = event->watch != NULL,
	                  .queued_us = event->received_us};
}

void worker_pool_push_reserved(worker_pool *p, es_event *event)
{
	es_event_ref(event);
	worker_pool_push_reserved_adopt(p, &event, 1);
}

/* Everything still queued or waiting to retry, once no worker takes
 * anything: counted undelivered with `why` (its next attempt never
 * starts), its slot given back.  How many. */
static uint64_t settle_undelivered(worker_pool *p, const char *why)
{
	uint64_t n = 0;
	pthread_mutex_lock(&p->lock);
	inbox_drain_all(p, clock_monotonic_us() + 1000000);
	while (p->count || p->retry_count) {
		delivery d = p->count ? ring_pop(p) : heap_pop(p);
		pthread_mutex_unlock(&p->lock);
		notify(p, d.event, DELIVERY_UNDELIVERED, d.attempt - 1, false, why);
		release_slot(p);
		es_event_unref(d.event);
		n++;
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	atomic_fetch_add(&p->undelivered, n);
	return n;
}

void worker_pool_push_reserved_adopt(worker_pool *p, es_event *const *events, size_t count)
{
	if (!count)
		return;
	/* The slots are reserved, so the places claimed are free (see the
	 * inbox): the wait below is for the store of the worker that took the
	 * place's last delivery to become visible, not for room. */
	uint64_t pos = atomic_fetch_add(&p->inbox_tail, count); /* seq_cst: see below */
	bool waited_on = false; /* wake even a short sleeper for one */
	for (size_t i = 0; i < count; i++, pos++) {
		inbox_place *place = &p->inbox[pos & p->inbox_mask];
		uint64_t base = pos & ~p->inbox_mask;
		while (atomic_load_explicit(&place->lap, memory_order_acquire) != base)
			sched_yield();
		place->d = new_delivery(p, events[i]);
		waited_on |= place->d.waited_on;
		atomic_store_explicit(&place->lap, base + 1, memory_order_release);
	}
	if (atomic_load(&p->closed)) {
		/* reserved before the pool began to stop, pushed after its last look */
		settle_undelivered(p, "the plugin stopped before it was queued");
		return;
	}
	/* Wake a worker only if one sleeps without looking again soon.  The
	 * claim above and a worker's idle_waiters++ before it sleeps are both
	 * seq_cst, each followed by the other's read: either this sees the
	 * waiter, or the waiter sees the claim and does not sleep (Dekker).
	 * Read idle_waiters first: a waiter counts itself there before it
	 * counts itself a short sleeper. */
	if (atomic_load(&p->idle_waiters) == 0 || (!waited_on && atomic_load(&p->short_sleepers) > 0))
		return;
	pthread_mutex_lock(&p->lock);
	wake_worker(p, waited_on);
	pthread_mutex_unlock(&p->lock);
}

bool worker_pool_submit(worker_pool *p, es_event *event)
{
	if (!worker_pool_reserve(p))
		return false;
	worker_pool_push_reserved(p, event);
	return true;
}

/* Join w until deadline_us; outside the lock, so the worker is claimed
 * first: the supervisor's reaper must never join the same thread. */
static void join_until(worker_pool *p, worker *w, int64_t deadline_us)
{
	pthread_mutex_lock(&p->lock);
	bool mine = w->running && !w->joining;
	if (mine)
		w->joining = true;
	pthread_mutex_unlock(&p->lock);
	if (!mine)
		return;
	int64_t left = deadline_us - clock_monotonic_us();
	struct timespec until = clock_realtime_in(left); /* see clock_realtime_in() */
	bool joined = pthread_timedjoin_np(w->thread, NULL, &until) == 0;
	pthread_mutex_lock(&p->lock);
	w->joining = false;
	if (joined) {
		w->running = false;
		if (w->abandoned)
			p->stuck--;
		else
			p->live_workers--;
	}
	pthread_mutex_unlock(&p->lock);
}

/* At the shutdown deadline: every asynchronous delivery still outstanding
 * is a timeout (its retry, if any, is then counted undelivered), and the
 * completions already under way are waited for, each a short finish. */
static void stop_async(worker_pool *p)
{
	if (!p->handles)
		return;
	async_record *timed_out[EXPIRED_ASYNC_MAX];
	size_t n;
	do {
		pthread_mutex_lock(&p->lock);
		n = async_take_expired(p, INT64_MAX, timed_out, EXPIRED_ASYNC_MAX);
		pthread_mutex_unlock(&p->lock);
		async_finish_expired(p, timed_out, n, "not completed before the shutdown deadline");
	} while (n == EXPIRED_ASYNC_MAX);
	int64_t until = clock_monotonic_us() + 5000000;
	pthread_mutex_lock(&p->lock);
	while (p->async_open && clock_monotonic_us() < until)
		clock_cond_wait_us(&p->async_settled, &p->lock, until - clock_monotonic_us());
	if (p->async_open)
		LOG_ERROR(p->name, "%u completion%s still finishing after 5 s; keeping the pool", p->async_open,
		          p->async_open == 1 ? "" : "s");
	pthread_mutex_unlock(&p->lock);
}

/* Hand what `p` still holds to `successor`, as much as it has room for,
 * oldest first: queued deliveries to the front of its queue in their
 * order, then retries to its retry heap with their due time, attempt
 * numbers kept.  The successor's slots are reserved first, without a lock;
 * the move is under both locks at once (the successor's workers must not
 * start the later ones before the earlier ones are in), taken in this
 * order only here: nothing else holds two pools' locks.  A distributed
 * queue's delivery is never handed over (its queue redelivers it): with
 * one among them, nothing is.
 *
 * Under sustained load new events fill the successor's queue as fast as
 * its workers empty it, so its slots are claimed first: producers see
 * the bound less what the hand-over still needs (they are refused as
 * full, and answered), and the hand-over takes each slot given back until
 * it has them all or `room_until_us` passes.  Accepted events go before
 * new ones.  Returns how many were handed over. */
static uint64_t hand_over(worker_pool *p, worker_pool *successor, int64_t room_until_us)
{
	pthread_mutex_lock(&p->lock);
	inbox_drain_all(p, clock_monotonic_us() + 1000000);
	size_t total = p->count + p->retry_count;
	bool distributed = false;
	for (size_t i = 0; i < p->count && !distributed; i++)
		distributed = p->ring[ring_index(p, i)].event->origin != NULL;
	for (size_t i = 0; i < p->retry_count && !distributed; i++)
		distributed = p->retry[i].event->origin != NULL;
	pthread_mutex_unlock(&p->lock);
	size_t reserved = 0;
	if (!distributed && total) {
		atomic_store(&successor->handover_claim, total < UINT32_MAX ? (uint32_t)total : UINT32_MAX);
		for (;;) {
			while (reserved < total && take_slot(successor, slot_bound(successor))) {
				reserved++;
				atomic_fetch_sub(&successor->handover_claim, 1);
			}
			if (reserved == total || clock_monotonic_us() >= room_until_us ||
			    atomic_load(&successor->stopping))
				break;
			struct timespec tick = {0, HANDOVER_ROOM_POLL_NS};
			nanosleep(&tick, NULL);
		}
		atomic_store(&successor->handover_claim, 0);
	}
	pthread_mutex_lock(&p->lock);
	pthread_mutex_lock(&successor->lock);
	/* nothing enters a stopping pool, but be exact about what is there:
	 * a push reserved before the stop may have come meanwhile */
	inbox_drain(p);
	size_t room = reserved < p->count + p->retry_count ? reserved : p->count + p->retry_count;
	size_t queued = room < p->count ? room : p->count;
	for (size_t i = queued; i > 0; i--)
		ring_push_front(successor, &p->ring[ring_index(p, i - 1)]);
	p->head = ring_index(p, queued);
	p->count -= queued;
	for (size_t i = queued; i < room; i++) {
		delivery d = heap_pop(p);
		heap_push(successor, &d);
	}
	if (room)
		wake_worker(successor, true); /* rare: whatever it holds, at once */
	pthread_mutex_unlock(&successor->lock);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < room; i++)
		release_slot(p);
	for (size_t i = room; i < reserved; i++)
		release_slot(successor);
	atomic_fetch_add_explicit(&successor->handed_over, room, memory_order_relaxed);
	return room;
}

/* How long stop waits for worker w: until the shutdown deadline, or, when
 * `let_handlers_finish` and w is inside a handler call, until that call's
 * own deadline if it is later; a little beyond either, for the thread to
 * notice.  A call past its own deadline is abandoned by the supervisor,
 * still running then, as at any other time.  Under lock. */
static int64_t join_deadline(const worker_pool *p, const worker *w, int64_t deadline_us, bool let_handlers_finish)
{
	int64_t until = deadline_us;
	if (let_handlers_finish && STATE_KIND(atomic_load_explicit(&w->state, memory_order_acquire)) == W_BUSY) {
		int64_t call_deadline = atomic_load_explicit(&w->started_us, memory_order_relaxed) +
		                        (int64_t)p->policy.timeout_ms * 1000 + supervisor_tick_us(p);
		if (call_deadline > until)
			until = call_deadline;
	}
	return until + 200000;
}

static uint64_t stop_pool(worker_pool *p, int64_t deadline_us, worker_pool *successor, int64_t room_wait_us,
                          bool let_handlers_finish, uint64_t *handed_over);

uint64_t worker_pool_stop(worker_pool *p, int64_t deadline_us)
{
	return stop_pool(p, deadline_us, NULL, 0, false, NULL);
}

uint64_t worker_pool_stop_handing_over(worker_pool *p, int64_t deadline_us, worker_pool *successor,
                                       int64_t room_wait_us, uint64_t *handed_over)
{
	return stop_pool(p, deadline_us, successor, room_wait_us, true, handed_over);
}

static uint64_t stop_pool(worker_pool *p, int64_t deadline_us, worker_pool *successor, int64_t room_wait_us,
                          bool let_handlers_finish, uint64_t *handed_over)
{
	uint64_t handed = 0;
	pthread_mutex_lock(&p->lock);
	p->stop_deadline_us = deadline_us;
	atomic_store(&p->stopping, true);
	pthread_cond_broadcast(&p->work_ready);
	pthread_mutex_unlock(&p->lock);

	/* Workers leave when drained or at the deadline; give them a little
	 * beyond it to notice.  The slot array does not change now: only the
	 * supervisor spawns, and it does not while stopping.  It still reaps
	 * (writing `running`) until it is joined below: read under the lock. */
	for (size_t i = 0; i < p->slot_count; i++) {
		/* Again while the wait grew: a worker idle when first looked at
		 * may have started a call just before the deadline (after it, no
		 * call starts, so twice suffices). */
		int64_t joined_until = 0;
		for (int look = 0; look < 3; look++) {
			pthread_mutex_lock(&p->lock);
			worker *w = p->slots[i];
			bool running = w && w->running;
			int64_t until = running ? join_deadline(p, w, deadline_us, let_handlers_finish) : 0;
			pthread_mutex_unlock(&p->lock);
			if (!running || until <= joined_until)
				break;
			join_until(p, w, until);
			joined_until = until;
		}
	}

	pthread_mutex_lock(&p->lock);
	p->supervisor_stop = true;
	pthread_cond_signal(&p->supervisor_wake);
	pthread_mutex_unlock(&p->lock);
	if (p->supervisor_running) {
		pthread_join(p->supervisor, NULL);
		p->supervisor_running = false;
	}
	stop_async(p);

	/* Whoever is still inside a handler now is stuck: take its delivery.
	 * The others are between deliveries and leave at once past the
	 * deadline; one that slipped into a handler meanwhile is abandoned on
	 * the next round. */
	delivery *left = p->expired; /* the supervisor's, joined above */
	uint64_t undelivered = 0;
	for (int round = 0; round < 100; round++) {
		size_t n_left = 0;
		bool waiting = false;
		pthread_mutex_lock(&p->lock);
		for (size_t i = 0; i < p->slot_count; i++) {
			worker *w = p->slots[i];
			if (!w || !w->running || w->abandoned)
				continue;
			uint64_t seen = atomic_load_explicit(&w->state, memory_order_acquire);
			/* call_count is read once the worker is ours (after the CAS) */
			if (STATE_KIND(seen) == W_BUSY && n_left + p->batch_cap <= (size_t)EXPIRED_CALLS_MAX * p->batch_cap &&
			    abandon(p, w, seen, &left[n_left]))
				n_left += w->call_count;
			else
				waiting = true;
		}
		pthread_mutex_unlock(&p->lock);
		/* Their attempt was made (the handler has them): counted, unlike
		 * the queued deliveries below, whose next attempt never starts. */
		for (size_t i = 0; i < n_left; i++) {
			notify(p, left[i].event, DELIVERY_UNDELIVERED, left[i].attempt, false,
			       "shutdown deadline reached while its handler ran");
			release_slot(p);
			es_event_unref(left[i].event);
		}
		atomic_fetch_add(&p->undelivered, n_left);
		undelivered += n_left;
		if (!waiting)
			break;
		for (size_t i = 0; i < p->slot_count; i++) {
			worker *w = p->slots[i];
			if (w && w->running && !w->abandoned)
				join_until(p, w, clock_monotonic_us() + 100000);
		}
	}
	/* What is left was not started (or was taken back from a stuck
	 * handler): to the successor, or undelivered. */
	if (successor)
		handed = hand_over(p, successor, clock_monotonic_us() + room_wait_us);
	/* Closed before the last look at the inbox (both seq_cst): a producer
	 * that reserved before `stopping` and pushes now either is seen there
	 * or sees `closed` and counts its deliveries itself. */
	atomic_store(&p->closed, true);
	undelivered += settle_undelivered(
		p, successor ? "not handed to the plugin's new instance" : "shutdown deadline reached");
	/* The plugin's counters live on in its successor: the loss too. */
	if (successor)
		atomic_fetch_add(&successor->undelivered, undelivered);
	if (handed_over)
		*handed_over = handed;
	return undelivered;
}

/* Threads inside a handler now: busy live workers and stuck ones.  Under lock. */
static uint32_t in_handler(worker_pool *p)
{
	uint32_t n = p->stuck;
	for (size_t i = 0; i < p->slot_count; i++) {
		worker *w = p->slots[i];
		if (w && w->running && !w->abandoned && STATE_KIND(atomic_load(&w->state)) == W_BUSY)
			n++;
	}
	return n;
}

uint32_t worker_pool_pause(worker_pool *p, int64_t deadline_us)
{
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->paused, true);
	uint32_t inside;
	for (;;) {
		reap_exited(p);
		inside = in_handler(p);
		if (inside == 0 || clock_monotonic_us() >= deadline_us)
			break;
		int64_t left = deadline_us - clock_monotonic_us();
		clock_cond_wait_us(&p->quiet_changed, &p->lock, left < 10000 ? left : 10000);
	}
	pthread_mutex_unlock(&p->lock);
	return inside;
}

void worker_pool_resume(worker_pool *p)
{
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->paused, false);
	p->wakeups_pending = p->idle_waiters;
	pthread_cond_broadcast(&p->work_ready);
	pthread_mutex_unlock(&p->lock);
}

uint32_t worker_pool_stuck(worker_pool *p)
{
	pthread_mutex_lock(&p->lock);
	reap_exited(p);
	/* After stop, a live worker not joined yet may still enter a handler:
	 * it counts too, so that shutdown() never runs beside it. */
	uint32_t stuck = p->stuck + p->async_open; /* async_open: a completion still finishing */
	for (size_t i = 0; atomic_load(&p->stopping) && i < p->slot_count; i++)
		if (p->slots[i] && p->slots[i]->running && !p->slots[i]->abandoned)
			stuck++;
	pthread_mutex_unlock(&p->lock);
	return stuck;
}

int worker_pool_destroy(worker_pool *p)
{
	if (!p)
		return 0;
	if (p->started) {
		pthread_mutex_lock(&p->lock);
		reap_exited(p);
		bool busy = p->async_open > 0; /* a completion still uses the pool */
		for (size_t i = 0; i < p->slot_count; i++)
			busy |= p->slots[i] && p->slots[i]->running;
		pthread_mutex_unlock(&p->lock);
		if (busy)
			return -1; /* a thread still runs (stuck in a handler): keep everything */
	}
	for (size_t i = 0; i < p->slot_count; i++) {
		if (p->slots[i]) {
			free(p->slots[i]->batch);
			free(p->slots[i]->items);
		}
		free(p->slots[i]);
	}
	free(p->slots);
	free(p->expired);
	delivery_handles_free(p->handles); /* later completions of its handles are unknown */
	free(p->async);
	free(p->async_free);
	free(p->ring);
	free(p->inbox);
	free(p->retry);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work_ready);
	pthread_cond_destroy(&p->supervisor_wake);
	pthread_cond_destroy(&p->quiet_changed);
	pthread_cond_destroy(&p->async_settled);
	free(p->name);
	free(p);
	return 0;
}

void worker_pool_stats(worker_pool *p, pool_stats *s)
{
	memset(s, 0, sizeof *s);
	s->received = atomic_load_explicit(&p->inbox_tail, memory_order_relaxed) +
	              atomic_load_explicit(&p->handed_over, memory_order_relaxed);
	s->refused = atomic_load_explicit(&p->refused, memory_order_relaxed);
	s->ok = atomic_load_explicit(&p->ok, memory_order_relaxed);
	s->retried = atomic_load_explicit(&p->retried, memory_order_relaxed);
	s->timed_out = atomic_load_explicit(&p->timed_out, memory_order_relaxed);
	s->dead = atomic_load_explicit(&p->dead, memory_order_relaxed);
	s->undelivered = atomic_load_explicit(&p->undelivered, memory_order_relaxed);
	s->depth = slots_held(p);
	uint64_t count = atomic_load_explicit(&p->recent_count, memory_order_relaxed);
	uint64_t bits = atomic_load_explicit(&p->recent_bits, memory_order_relaxed);
	s->recent = count < 64 ? (uint32_t)count : 64;
	if (s->recent < 64)
		bits &= (1ull << s->recent) - 1;
	s->recent_failed = (uint32_t)__builtin_popcountll(bits);
	s->capacity = p->policy.queue_size;
	if (p->handles) {
		s->async_expired_open = delivery_handles_expired_open(p->handles);
		s->async_late = delivery_handles_late(p->handles);
		s->async_twice = delivery_handles_twice(p->handles);
	}
	pthread_mutex_lock(&p->lock);
	s->async_outstanding = p->async_open;
	s->workers = p->live_workers;
	s->stuck = p->stuck;
	s->waiting = p->idle_waiters;
	for (size_t i = 0; i < p->slot_count; i++) {
		worker *w = p->slots[i];
		if (w && w->running && !w->abandoned && STATE_KIND(atomic_load(&w->state)) == W_BUSY)
			s->busy++;
	}
	inbox_drain(p);
	if (p->count)
		s->oldest_queued_age_us = clock_monotonic_us() - p->ring[p->head].queued_us;
	pthread_mutex_unlock(&p->lock);
}
