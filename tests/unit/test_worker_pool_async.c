/* The worker pool with an asynchronous handler (SDK 1.1 handle_async):
 * deliveries completed from another thread before and after their
 * deadline, a second completion, outstanding deliveries counted against
 * the queue bound, and a stop with deliveries outstanding.  The fake
 * handler only records each handle; the test's threads complete them. */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "pool_fake.h"

static void fake_start(void *ctx, const es_event *e, es_delivery *handle)
{
	(void)e;
	fake *f = ctx;
	pthread_mutex_lock(&f->lock);
	if (f->started_count < FAKE_MAX_CALLS) {
		f->attempts_seen[f->started_count] = worker_pool_current_attempt();
		f->started[f->started_count++] = handle;
	}
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
}

static worker_pool *pool_new(fake *f, plugin_policy p)
{
	return pool_start("async", p,
	                  (pool_handler){.handle_async = fake_start, .on_outcome = fake_outcome, .ctx = f, .report_ok = true});
}

static es_delivery *started(fake *f, int i)
{
	pthread_mutex_lock(&f->lock);
	es_delivery *h = f->started[i];
	pthread_mutex_unlock(&f->lock);
	return h;
}

typedef struct completion {
	es_delivery *handle;
	es_result result;
	const char *reason;
	es_status status;
} completion;

static void *complete_main(void *arg)
{
	completion *c = arg;
	c->status = worker_pool_complete(c->handle, c->result, c->reason);
	return NULL;
}

/* Complete from a thread of the test's own, as a plugin's thread would. */
static es_status complete_from_thread(es_delivery *handle, es_result result, const char *reason)
{
	completion c = {.handle = handle, .result = result, .reason = reason};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, complete_main, &c), 0);
	pthread_join(t, NULL);
	return c.status;
}

/* A handler that completes inside its own call, racing producers for a
 * queue of one: the slot a completion gives back may be taken at once by
 * another event, and its worker must find a free record for it.  (The
 * record came back only after the slot: the new delivery was failed,
 * dead-lettered as "no delivery handle could be opened (out of memory)",
 * without reaching the plugin.) */
static void complete_at_once(void *ctx, const es_event *e, es_delivery *handle)
{
	(void)e;
	(void)ctx;
	worker_pool_complete(handle, ES_OK, NULL);
}

enum { RACERS = 4, RACER_ACCEPTS = 2000 };

typedef struct racer {
	worker_pool *pool;
	unsigned accepted;
} racer;

static void *race_submits(void *arg)
{
	racer *r = arg;
	while (r->accepted < RACER_ACCEPTS)
		r->accepted += submit(r->pool, "a");
	return NULL;
}

static void a_slot_given_back_by_a_completion_finds_its_record(void **state)
{
	(void)state;
	fake *f = fake_new();
	worker_pool *pool = pool_start("async", policy(3, 1, 5000, 1),
	                               (pool_handler){.handle_async = complete_at_once, .on_outcome = fake_outcome,
	                                              .ctx = f, .report_ok = true});
	racer racers[RACERS];
	pthread_t threads[RACERS];
	for (int i = 0; i < RACERS; i++) {
		racers[i] = (racer){.pool = pool};
		pthread_create(&threads[i], NULL, race_submits, &racers[i]);
	}
	for (int i = 0; i < RACERS; i++)
		pthread_join(threads[i], NULL);
	WAIT_FOR(f, f->ok + f->dead == RACERS * RACER_ACCEPTS);
	pthread_mutex_lock(&f->lock);
	unsigned dead = f->dead, ok = f->ok;
	char why[256];
	snprintf(why, sizeof why, "%s", f->dead_error);
	pthread_mutex_unlock(&f->lock);
	if (dead)
		fail_msg("%u of %u accepted events failed without reaching the plugin: %s", dead, ok + dead, why);
	stop_and_destroy(pool);
	fake_free(f);
}

static void completion_from_another_thread_before_the_deadline_decides(void **state)
{
	(void)state;
	fake *f = fake_new();
	worker_pool *pool = pool_new(f, policy(2, 8, 5000, 3));
	assert_true(submit(pool, "a"));
	WAIT_FOR(f, f->started_count == 1);
	pool_stats s;
	worker_pool_stats(pool, &s);
	assert_int_equal(s.async_outstanding, 1); /* started, not completed: still held */
	assert_int_equal(s.depth, 1);
	assert_int_equal(s.ok, 0);

	/* a retry first: the delivery goes again, as after handle()'s ES_RETRY */
	assert_int_equal(complete_from_thread(started(f, 0), ES_RETRY, "later"), ES_STATUS_OK);
	WAIT_FOR(f, f->started_count == 2);
	assert_int_equal(f->attempts_seen[1], 2);
	assert_int_equal(complete_from_thread(started(f, 1), ES_OK, NULL), ES_STATUS_OK);
	WAIT_FOR(f, f->ok == 1);
	WAIT_STATS(pool, s, s.depth == 0 && s.async_outstanding == 0);
	assert_int_equal(s.ok, 1);
	assert_int_equal(s.retried, 1);
	assert_int_equal(s.timed_out, 0);
	assert_int_equal(s.async_late, 0);
	stop_and_destroy(pool);
	assert_int_equal(f->retrying, 1);
	assert_int_equal(f->dead, 0);
	fake_free(f);
}

static void completion_after_the_deadline_is_a_timeout_and_counted_late(void **state)
{
	(void)state;
	fake *f = fake_new();
	worker_pool *pool = pool_new(f, policy(2, 8, 100, 2));
	assert_true(submit(pool, "a"));
	/* attempt 1 is never completed in time: a timeout, retried */
	WAIT_FOR(f, f->started_count == 2);
	assert_int_equal(f->attempts_seen[1], 2);
	pool_stats s;
	worker_pool_stats(pool, &s);
	assert_int_equal(s.timed_out, 1);
	assert_int_equal(s.retried, 1);
	assert_int_equal(s.async_expired_open, 1); /* timed out, not completed: held against the bound */

	/* the late completion is ignored, counted, and frees what it held */
	assert_int_equal(complete_from_thread(started(f, 0), ES_OK, NULL), ES_STATUS_NOT_FOUND);
	worker_pool_stats(pool, &s);
	assert_int_equal(s.async_late, 1);
	assert_int_equal(s.async_expired_open, 0);
	assert_int_equal(s.ok, 0);

	/* attempt 2 in time decides the delivery */
	assert_int_equal(complete_from_thread(started(f, 1), ES_OK, NULL), ES_STATUS_OK);
	WAIT_STATS(pool, s, s.ok == 1 && s.depth == 0);
	assert_int_equal(s.dead, 0);
	assert_int_equal(s.timed_out, 1);
	stop_and_destroy(pool);
	assert_int_equal(f->ok, 1);
	fake_free(f);
}

static void second_completion_is_refused_harmlessly(void **state)
{
	(void)state;
	fake *f = fake_new();
	worker_pool *pool = pool_new(f, policy(2, 8, 5000, 3));
	assert_true(submit(pool, "a"));
	WAIT_FOR(f, f->started_count == 1);
	es_delivery *h = started(f, 0);
	assert_int_equal(complete_from_thread(h, ES_FAIL, "bad"), ES_STATUS_OK);
	assert_int_equal(complete_from_thread(h, ES_OK, NULL), ES_STATUS_INVALID);
	assert_int_equal(worker_pool_complete(h, ES_RETRY, NULL), ES_STATUS_INVALID);
	pool_stats s;
	WAIT_STATS(pool, s, s.dead == 1 && s.depth == 0);
	assert_int_equal(s.ok, 0);
	assert_int_equal(s.async_twice, 2);
	assert_int_equal(s.async_late, 0);
	/* not a handle at all */
	assert_int_equal(worker_pool_complete(NULL, ES_OK, NULL), ES_STATUS_NOT_FOUND);
	assert_int_equal(worker_pool_complete((es_delivery *)(uintptr_t)0xdeadbeef00001234ull, ES_OK, NULL),
	                 ES_STATUS_NOT_FOUND);
	stop_and_destroy(pool);
	assert_int_equal(f->dead, 1);
	assert_int_equal(f->ok, 0);
	assert_string_equal(f->dead_error, "bad");
	fake_free(f);
}

static void invalid_result_fails_the_delivery(void **state)
{
	(void)state;
	fake *f = fake_new();
	worker_pool *pool = pool_new(f, policy(2, 8, 5000, 3));
	assert_true(submit(pool, "a"));
	WAIT_FOR(f, f->started_count == 1);
	assert_int_equal(worker_pool_complete(started(f, 0), (es_result)7, NULL), ES_STATUS_INVALID);
	pool_stats s;
	WAIT_STATS(pool, s, s.dead == 1 && s.depth == 0);
	stop_and_destroy(pool);
	assert_string_equal(f->dead_error, "handler completed with invalid result 7");
	fake_free(f);
}

static void outstanding_deliveries_count_against_the_bound(void **state)
{
	(void)state;
	fake *f = fake_new();
	worker_pool *pool = pool_new(f, policy(2, 2, 100, 1));
	assert_true(submit(pool, "a"));
	assert_true(submit(pool, "b"));
	WAIT_FOR(f, f->started_count == 2);
	assert_false(submit(pool, "c")); /* both started, none completed: full */
	pool_stats s;
	worker_pool_stats(pool, &s);
	assert_int_equal(s.refused, 1);
	assert_int_equal(s.async_outstanding, 2);

	/* past the deadline both are dead letters (one attempt), yet neither
	 * was completed: they still hold the bound */
	WAIT_STATS(pool, s, s.dead == 2 && s.depth == 0);
	assert_int_equal(s.timed_out, 2);
	assert_int_equal(s.async_outstanding, 0);
	assert_int_equal(s.async_expired_open, 2);
	assert_false(submit(pool, "d"));
	assert_int_equal(f->started_count, 2);

	/* one late completion gives one slot back */
	assert_int_equal(complete_from_thread(started(f, 0), ES_OK, NULL), ES_STATUS_NOT_FOUND);
	assert_true(submit(pool, "e"));
	assert_false(submit(pool, "f"));
	WAIT_FOR(f, f->started_count == 3);
	assert_int_equal(complete_from_thread(started(f, 2), ES_OK, NULL), ES_STATUS_OK);
	WAIT_STATS(pool, s, s.ok == 1 && s.depth == 0);
	assert_int_equal(s.refused, 3);
	stop_and_destroy(pool);
	fake_free(f);
}

static void completion_racing_the_deadline_decides_once(void **state)
{
	(void)state;
	/* Many deliveries completed right around their deadline: each ends
	 * exactly once, either as the completion or as a timeout. */
	fake *f = fake_new();
	worker_pool *pool = pool_new(f, policy(2, 64, 20, 1));
	for (int i = 0; i < 40; i++)
		assert_true(submit(pool, "r"));
	WAIT_FOR(f, f->started_count == 40);
	struct timespec ts = {0, 19000000};
	nanosleep(&ts, NULL);
	int ok = 0, late = 0;
	for (int i = 0; i < 40; i++) {
		es_status st = complete_from_thread(started(f, i), ES_OK, NULL);
		assert_true(st == ES_STATUS_OK || st == ES_STATUS_NOT_FOUND);
		if (st == ES_STATUS_OK)
			ok++;
		else
			late++;
	}
	pool_stats s;
	WAIT_STATS(pool, s, s.ok + s.dead == 40 && s.depth == 0);
	assert_int_equal(s.ok, ok);
	assert_int_equal(s.dead, late);
	assert_int_equal(s.async_late, late);
	assert_int_equal(s.async_expired_open, 0);
	stop_and_destroy(pool);
	fake_free(f);
}

static void stop_times_out_what_is_outstanding(void **state)
{
	(void)state;
	fake *f = fake_new();
	worker_pool *pool = pool_new(f, policy(2, 8, 60000, 3));
	assert_true(submit(pool, "a"));
	assert_true(submit(pool, "b"));
	WAIT_FOR(f, f->started_count == 2);
	/* one completes while the pool drains */
	assert_int_equal(complete_from_thread(started(f, 0), ES_OK, NULL), ES_STATUS_OK);
	int64_t t0 = clock_monotonic_us();
	uint64_t undelivered = worker_pool_stop(pool, clock_monotonic_us() + 300000);
	int64_t took = clock_monotonic_us() - t0;
	assert_true(took >= 250000);  /* it waited for the outstanding one ... */
	assert_true(took < 3000000); /* ... up to the stop deadline, not its own 60 s */
	assert_int_equal(undelivered, 1); /* timed out, its retry not delivered */
	pool_stats s;
	worker_pool_stats(pool, &s);
	assert_int_equal(s.ok, 1);
	assert_int_equal(s.timed_out, 1);
	assert_int_equal(s.async_outstanding, 0);
	assert_int_equal(worker_pool_stuck(pool), 0);
	assert_int_equal(worker_pool_destroy(pool), 0);
	/* the plugin's thread completes after the pool is gone: harmless */
	assert_int_equal(complete_from_thread(started(f, 1), ES_OK, NULL), ES_STATUS_NOT_FOUND);
	assert_int_equal(f->undelivered, 1);
	fake_free(f);
}

static void stop_ends_when_the_last_outstanding_completes(void **state)
{
	(void)state;
	fake *f = fake_new();
	worker_pool *pool = pool_new(f, policy(2, 8, 60000, 3));
	assert_true(submit(pool, "a"));
	WAIT_FOR(f, f->started_count == 1);
	completion c = {.handle = started(f, 0), .result = ES_OK};
	pthread_t t;
	/* completes while stop() waits */
	assert_int_equal(pthread_create(&t, NULL, complete_main, &c), 0);
	int64_t t0 = clock_monotonic_us();
	uint64_t undelivered = worker_pool_stop(pool, clock_monotonic_us() + 4000000);
	int64_t took = clock_monotonic_us() - t0;
	pthread_join(t, NULL);
	assert_int_equal(c.status, ES_STATUS_OK);
	assert_int_equal(undelivered, 0);
	assert_true(took < 2000000);
	assert_int_equal(worker_pool_destroy(pool), 0);
	assert_int_equal(f->ok, 1);
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(completion_from_another_thread_before_the_deadline_decides),
		cmocka_unit_test(a_slot_given_back_by_a_completion_finds_its_record),
		cmocka_unit_test(completion_after_the_deadline_is_a_timeout_and_counted_late),
		cmocka_unit_test(second_completion_is_refused_harmlessly),
		cmocka_unit_test(invalid_result_fails_the_delivery),
		cmocka_unit_test(outstanding_deliveries_count_against_the_bound),
		cmocka_unit_test(completion_racing_the_deadline_decides_once),
		cmocka_unit_test(stop_times_out_what_is_outstanding),
		cmocka_unit_test(stop_ends_when_the_last_outstanding_completes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
