/* The fake plugin the worker pool unit tests drive, and the helpers around
 * it that every one of them needs.
 *
 * One `fake` serves the three handler seams: each test file writes its own
 * handler (handle, handle_batch or handle_async) and keeps what it sees in
 * that seam's fields; fake_outcome() is the on_outcome of all three.  The
 * handler and fake_outcome() broadcast `changed` under `lock` on every
 * change, so a test waits for a field with WAIT_FOR (wait_for.h).
 *
 * Ownership: the test owns the fake (fake_new(), fake_free()); the pool only
 * borrows it as pool_handler.ctx, so free it only after the pool is
 * destroyed.  Include after <cmocka.h>. */
#ifndef ES_TEST_POOL_FAKE_H
#define ES_TEST_POOL_FAKE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/worker_pool.h"
#include "wait_for.h"

/* How many calls (or started deliveries) a fake records one by one. */
#define FAKE_MAX_CALLS 256

typedef struct fake {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	bool block_all;         /* every call waits for `released` */
	bool block_hang_events; /* handle(): events named "hang" wait for `released` */
	bool released;          /* set by fake_release() */

	/* What on_outcome reported (fake_outcome()). */
	unsigned ok, retrying, undelivered, dead;
	unsigned dead_timed_out; /* dead letters that were timeouts */
	uint32_t dead_attempts;  /* attempts of the last dead letter */
	char dead_error[256];    /* error of the last dead letter */

	/* handle() and handle_batch(): calls made. */
	unsigned calls;
	/* handle(): the attempt of each call; handle_async(): of each start. */
	uint32_t attempts_seen[FAKE_MAX_CALLS];

	/* handle(): how the fake answers. */
	int ok_calls;            /* calls that returned ES_OK */
	int retry_until_attempt; /* return ES_RETRY while attempt < this */
	bool always_fail;

	/* handle_batch(): the size of each call, and how the fake answers. */
	unsigned call_sizes[FAKE_MAX_CALLS];
	int64_t first_call_us;   /* monotonic */
	unsigned handled;        /* deliveries started */
	unsigned retry_seen;     /* "retry-once" deliveries started */
	uint32_t retry_attempts_seen[4]; /* the attempts they were started with */
	bool start_only_first;   /* mark every item but the first not started */

	/* handle_async(): the handles in the order started. */
	es_delivery *started[FAKE_MAX_CALLS];
	int started_count;
} fake;

static inline fake *fake_new(void)
{
	fake *f = calloc(1, sizeof *f);
	assert_non_null(f);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->changed, NULL);
	return f;
}

static inline void fake_free(fake *f)
{
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->changed);
	free(f);
}

/* Let every blocked call return. */
static inline void fake_release(fake *f)
{
	pthread_mutex_lock(&f->lock);
	f->released = true;
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
}

static inline void fake_outcome(void *ctx, const es_event *e, delivery_outcome o, uint32_t attempts,
                                bool timed_out, const char *error)
{
	(void)e;
	fake *f = ctx;
	pthread_mutex_lock(&f->lock);
	if (o == DELIVERY_OK) {
		f->ok++;
	} else if (o == DELIVERY_DEAD) {
		f->dead++;
		f->dead_attempts = attempts;
		f->dead_timed_out += timed_out;
		snprintf(f->dead_error, sizeof f->dead_error, "%s", error ? error : "");
	} else if (o == DELIVERY_UNDELIVERED) {
		f->undelivered++;
	} else if (o == DELIVERY_RETRYING) {
		f->retrying++;
	}
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
}

/* A policy with quick backoff (1 ms doubling to 5 ms) and the config's
 * default wakeup_coalesce_us. */
static inline plugin_policy policy(uint32_t workers, uint32_t queue, uint32_t timeout_ms, uint32_t attempts)
{
	return (plugin_policy){.workers = workers, .queue_size = queue, .timeout_ms = timeout_ms,
	                       .max_attempts = attempts, .backoff_initial_ms = 1, .backoff_max_ms = 5,
	                       .backoff_multiplier = 2.0, .max_stuck_workers = 2, .wakeup_coalesce_us = 1000};
}

/* Create and start a pool; the caller stops it with stop_and_destroy(). */
static inline worker_pool *pool_start(const char *name, plugin_policy p, pool_handler h)
{
	worker_pool *pool = worker_pool_create(name, &p, &h);
	assert_non_null(pool);
	assert_int_equal(worker_pool_start(pool), 0);
	return pool;
}

static inline void stop_and_destroy(worker_pool *pool)
{
	worker_pool_stop(pool, clock_monotonic_us() + 2000000);
	assert_int_equal(worker_pool_destroy(pool), 0);
}

/* Submit an event named `name`; whether the pool took it. */
static inline bool submit(worker_pool *pool, const char *name)
{
	es_event_fields fields = {.name = name};
	es_event *e = es_event_create(&fields);
	bool ok = worker_pool_submit(pool, e);
	es_event_unref(e);
	return ok;
}

/* Poll the pool's stats into `s` until `cond` (on `s`) holds; fails the
 * test after 5 s.  The pool books a delivery slightly after the handler or
 * on_outcome saw it, so wait here before asserting its counters. */
#define WAIT_STATS(pool, s, cond)                                     \
	do {                                                          \
		int64_t until_ = clock_monotonic_us() + 5000000;      \
		for (;;) {                                            \
			worker_pool_stats((pool), &(s));              \
			if ((cond) || clock_monotonic_us() > until_)  \
				break;                                \
			struct timespec ts_ = {0, 1000000};           \
			nanosleep(&ts_, NULL);                        \
		}                                                     \
		if (!(cond))                                          \
			fail_msg("timed out waiting for: %s", #cond); \
	} while (0)

#endif
