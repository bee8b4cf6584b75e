/*
 * One plugin instance's bounded queue and worker threads.
 *
 * Capacity counts every delivery the pool holds: queued, running, and
 * waiting for a retry.  A slot is taken when the event is accepted
 * (worker_pool_reserve) and given back only when its delivery is finished,
 * so a retry can never be refused and nothing is dropped silently: a full
 * pool refuses new events to the caller, who answers "busy".
 *
 * Each delivery runs under a deadline.  A supervisor thread watches the
 * workers; when a handler overruns, the delivery is counted as timed out and
 * retried or failed per policy, the stuck thread is abandoned (its eventual
 * result ignored) and a replacement is started, up to max_stuck_workers.
 * Abandoned threads are still owned by the pool, which joins them when they
 * return.
 *
 * Threads: push/reserve/stats from any thread; the pool owns its workers and
 * its supervisor and joins all of them in worker_pool_stop().
 */
#ifndef ES_WORKER_POOL_H
#define ES_WORKER_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include <event-system/plugin.h>

#include "model/es_config.h"
#include "model/delivery_outcome.h"
#include "model/es_event.h"
#include "util/histogram.h"


/* One delivery of a batch handler call (pool_handler.handle_batch).  The
 * pool fills `event` and `attempt` and sets `started`; the handler writes
 * `result` and, on ES_RETRY or ES_FAIL, a reason into `error`.  An item the
 * handler never handed to its plugin gets `started = false`: it goes back to
 * the front of the queue untouched (no attempt counted, no outcome), so a
 * handler may take a prefix of what it was offered. */
#define POOL_ERROR_SIZE 256
typedef struct pool_batch_item {
	const es_event *event; /* the pool's reference; valid during the call */
	uint32_t attempt;      /* 1-based */
	bool started;
	es_result result;
	char error[POOL_ERROR_SIZE];
} pool_batch_item;

typedef struct pool_handler {
	/* Run one delivery on a worker thread. */
	es_result (*handle)(void *ctx, const es_event *event, char *err, size_t err_size);
	/* Optional: run several deliveries in one call (1 to batch_max, the
	 * deliveries a worker took together, in queue order), used instead of
	 * handle() when set.  Outcomes, retries and dead letters stay per
	 * delivery; the deadline (timeout_ms) covers the whole call: a call
	 * that overruns it times out every delivery in it.  `batch_max` 0 means
	 * as many as the worker took (up to 32).  A worker that found fewer
	 * than batch_max waits up to `batch_linger_ms` for more (the deadline
	 * starts after that wait). */
	void (*handle_batch)(void *ctx, pool_batch_item *items, size_t n);
	/* Optional, used instead of handle() when set (not with handle_batch):
	 * start one delivery and return; it ends when worker_pool_complete() is
	 * called with `handle`, from any thread (inside this call too), or as a
	 * timeout when timeout_ms passes first.  `event` is the delivery's:
	 * valid until completed, past the deadline too (delivery_handles.h).
	 * A call that itself overruns the deadline abandons its worker as a
	 * stuck handle() does.  Deliveries started and not completed count
	 * against queue_size, also once timed out. */
	void (*handle_async)(void *ctx, const es_event *event, es_delivery *handle);
	uint32_t batch_max;
	uint32_t batch_linger_ms;
	/* Told about every outcome except DELIVERY_OK (which is only counted, to
	 * keep the hot path cheap) unless report_ok is set or someone watches
	 * the event (event->watch).  Called on a worker
	 * or supervisor thread, without pool locks held.  `timed_out` is set
	 * when this attempt overran its deadline. */
	void (*on_outcome)(void *ctx, const es_event *event, delivery_outcome outcome, uint32_t attempts,
	                   bool timed_out, const char *error);
	void *ctx;
	bool report_ok;
} pool_handler;

/* `ok`, `recent` and the two latency histograms of a successful delivery
 * nobody is told about are added once per batch a worker takes (or 1 ms
 * into a long one, before its next handler starts; at once when the
 * supervisor abandons a call): they may trail the delivery by that much.
 * Its slot (`depth`) is given back at once. */
typedef struct pool_stats {
	uint64_t received;    /* accepted into the queue */
	uint64_t refused;     /* refused because the pool was full */
	uint64_t ok;
	uint64_t retried;     /* retries scheduled */
	uint64_t timed_out;   /* attempts that overran the deadline */
	uint64_t dead;        /* dead-lettered */
	uint64_t undelivered; /* left when the pool stopped */
	uint32_t depth;       /* deliveries held now (queued + running + waiting to retry) */
	uint32_t capacity;
	uint32_t workers;     /* live, not stuck */
	uint32_t busy;        /* running a handler now */
	uint32_t waiting;     /* waiting for work now */
	uint32_t stuck;       /* abandoned threads still inside a handler */
	int64_t oldest_queued_age_us; /* 0 when the queue is empty */
	uint32_t recent;              /* final outcomes in the recent window (at most 64) */
	uint32_t recent_failed;       /* of which dead-lettered */
	/* An asynchronous handler's deliveries: started and not completed
	 * before their deadline, timed out and still not completed, and
	 * completions refused as late or as a second one. */
	uint32_t async_outstanding;
	uint32_t async_expired_open;
	uint64_t async_late;
	uint64_t async_twice;
} pool_stats;

typedef struct worker_pool worker_pool;

/* `name` is copied and used for thread names and logs.  NULL on failure. */
worker_pool *worker_pool_create(const char *name, const plugin_policy *policy, const pool_handler *handler);
/* Start workers and the supervisor.  0, or -1 (logged). */
int worker_pool_start(worker_pool *pool);

/* Take one slot; false (and counted as refused) when full or stopping. */
bool worker_pool_reserve(worker_pool *pool);
/* The same; a refusal is counted (the `refused` stat) only when asked:
 * redelivery after a crash waits for room rather than refusing anyone. */
bool worker_pool_try_reserve(worker_pool *pool, bool count_refusal);
/* Give back a slot taken by worker_pool_reserve() without pushing. */
void worker_pool_unreserve(worker_pool *pool);
/* Queue an event into a reserved slot.  Takes a new reference to `event`. */
void worker_pool_push_reserved(worker_pool *pool, es_event *event);
/* Queue `count` events into slots reserved for them, in order, with at
 * most one wake-up.  Takes over one reference to each from the caller: a
 * caller pushing one event to several pools takes their references in one
 * step (one atomic add, not one per pool). */
void worker_pool_push_reserved_adopt(worker_pool *pool, es_event *const *events, size_t count);
/* reserve + push; false when full. */
bool worker_pool_submit(worker_pool *pool, es_event *event);

/* An asynchronous handler's completion of `handle` (any thread): the
 * result decides the delivery as handle()'s would; `error` (NULL or a
 * reason, copied) goes with ES_RETRY and ES_FAIL.  ES_STATUS_OK when it
 * decided the delivery, ES_STATUS_NOT_FOUND when the delivery had ended
 * without it (timed out, pool stopped, or unknown handle), ES_STATUS_INVALID
 * for a second completion, or for a result that is not an es_result (the
 * delivery then fails).  Never blocks on other deliveries. */
es_status worker_pool_complete(es_delivery *handle, es_result result, const char *error);

/* Stop taking events, let the workers drain until `deadline_us`
 * (monotonic), then stop them.  Returns the number of deliveries that were
 * not finished (also reported as DELIVERY_UNDELIVERED, with the attempts
 * made: a delivery still in a handler at the deadline counts the attempt
 * it is in, a queued or retrying one only those before).  Threads still
 * stuck in a handler are left running: worker_pool_stuck() tells how many. */
uint64_t worker_pool_stop(worker_pool *pool, int64_t deadline_us);
/* The same for a pool a reload replaces: what is left at the deadline is
 * handed to `successor`, the started pool of the new instance of the same
 * plugin, instead of being dropped.  Queued deliveries go to the front of
 * its queue in their order, retries to its retry heap with their due
 * time; each keeps its attempt number and its waiters (event->watch).
 * From then on the successor owns them (their slots are taken in it).
 * When the successor's queue has too little room (new events fill it), the
 * hand-over waits up to `room_wait_us` for its slots; meanwhile the
 * successor refuses new events as full while they would take those slots.  A delivery with an
 * es_event_origin is not handed over (its distributed queue redelivers
 * it), nor one the successor still has no room for: those are undelivered, as with worker_pool_stop(), and also
 * counted in the successor's `undelivered`, so the plugin's counter
 * survives the swap.  Unlike worker_pool_stop(), a handler call still
 * running at the deadline is not given up on then: it is waited for until
 * its own deadline (timeout_ms from its start), and its deliveries end as
 * it returned (a retry is handed over like the rest); only past its own
 * deadline is it abandoned as stuck.  Returns the undelivered; the number
 * handed over in *handed_over (may be NULL).  `successor` NULL: nothing
 * is handed over (a removed plugin), the wait is the same. */
uint64_t worker_pool_stop_handing_over(worker_pool *pool, int64_t deadline_us, worker_pool *successor,
                                       int64_t room_wait_us, uint64_t *handed_over);
/* Let no handler start, and wait until `deadline_us` (monotonic) for the
 * ones running (stuck ones included) to return.  Returns how many are still
 * inside a handler: 0 means none runs until worker_pool_resume().  Events
 * keep being queued meanwhile.  Call resume() whatever this returned. */
uint32_t worker_pool_pause(worker_pool *pool, int64_t deadline_us);
void worker_pool_resume(worker_pool *pool);

/* Threads still inside a handler after stop; the pool must not be destroyed
 * (nor the plugin unloaded) while this is non-zero. */
uint32_t worker_pool_stuck(worker_pool *pool);
/* Free a stopped pool; refuses (returns -1) while threads are stuck. */
int worker_pool_destroy(worker_pool *pool);

void worker_pool_stats(worker_pool *pool, pool_stats *out);

/* The pool's latency histograms: each handle() call, and from acceptance
 * to the final outcome (ok or dead-lettered).  Owned by the pool. */
histogram *worker_pool_handler_latency(worker_pool *pool);
histogram *worker_pool_event_latency(worker_pool *pool);

/* The attempt number of the delivery running on this thread (1-based). */
uint32_t worker_pool_current_attempt(void);
/* The same for `event` when this thread runs a batch call (the attempt of
 * that event in the batch), else worker_pool_current_attempt(). */
uint32_t worker_pool_attempt_of(const es_event *event);
/* When the handler running on this thread times out (CLOCK_MONOTONIC µs,
 * as the supervisor counts it), or 0 outside a handler. */
int64_t worker_pool_current_deadline_us(void);

#endif
