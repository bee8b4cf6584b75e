/* The worker pool's batch seam (pool_handler.handle_batch), driven by a
 * fake batch handler: several deliveries per call, never more than
 * batch_max, outcomes, retries and dead letters per delivery, deliveries the
 * handler did not start going back untouched, and a call that overruns the
 * deadline timing out every delivery in it. */
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

static void fake_handle_batch(void *ctx, pool_batch_item *items, size_t n)
{
	fake *f = ctx;
	pthread_mutex_lock(&f->lock);
	if (f->calls < FAKE_MAX_CALLS)
		f->call_sizes[f->calls] = (unsigned)n;
	if (f->calls == 0)
		f->first_call_us = clock_monotonic_us();
	f->calls++;
	while (f->block_all && !f->released)
		pthread_cond_wait(&f->changed, &f->lock);
	for (size_t i = 0; i < n; i++) {
		pool_batch_item *it = &items[i];
		if (f->start_only_first && i > 0) {
			it->started = false;
			continue;
		}
		f->handled++;
		const char *name = it->event->name;
		/* the host API's delivery_attempt() reads this per event */
		assert_int_equal(worker_pool_attempt_of(it->event), it->attempt);
		if (strcmp(name, "retry-once") == 0) {
			if (f->retry_seen < 4)
				f->retry_attempts_seen[f->retry_seen] = it->attempt;
			f->retry_seen++;
			it->result = it->attempt == 1 ? ES_RETRY : ES_OK;
			if (it->result == ES_RETRY)
				snprintf(it->error, sizeof it->error, "not yet");
		} else if (strcmp(name, "poison") == 0) {
			it->result = ES_FAIL;
			snprintf(it->error, sizeof it->error, "cannot be handled");
		} else {
			it->result = ES_OK;
		}
	}
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
}

static worker_pool *pool_new_linger(fake *f, uint32_t timeout_ms, uint32_t attempts, uint32_t batch_max,
                                    uint32_t linger_ms)
{
	/* report_ok: every outcome reaches fake_outcome */
	pool_handler h = {.handle_batch = fake_handle_batch, .batch_max = batch_max, .batch_linger_ms = linger_ms,
	                  .on_outcome = fake_outcome, .ctx = f, .report_ok = true};
	return pool_start("test", policy(1, 100, timeout_ms, attempts), h);
}

static worker_pool *pool_new(fake *f, uint32_t timeout_ms, uint32_t attempts, uint32_t batch_max)
{
	return pool_new_linger(f, timeout_ms, attempts, batch_max, 0);
}

/* Queue `names` while the pool is paused, so that the (single) worker takes
 * them together when it resumes. */
static void submit_backlog(worker_pool *pool, const char *const *names, size_t n)
{
	assert_int_equal(worker_pool_pause(pool, clock_monotonic_us() + 1000000), 0);
	for (size_t i = 0; i < n; i++)
		assert_true(submit(pool, names[i]));
	worker_pool_resume(pool);
}

static void wait_settled(worker_pool *pool)
{
	pool_stats s;
	WAIT_STATS(pool, s, s.depth == 0);
}

static void backlog_is_handled_in_calls_of_at_most_batch_max(void **state)
{
	(void)state;
	fake *f = fake_new();
	worker_pool *pool = pool_new(f, 5000, 3, 4);
	const char *names[10];
	for (int i = 0; i < 10; i++)
		names[i] = "a.b";
	submit_backlog(pool, names, 10);
	WAIT_FOR(f, f->ok == 10);
	wait_settled(pool);
	pthread_mutex_lock(&f->lock);
	unsigned total = 0, largest = 0;
	for (unsigned i = 0; i < f->calls; i++) {
		total += f->call_sizes[i];
		if (f->call_sizes[i] > largest)
			largest = f->call_sizes[i];
		assert_true(f->call_sizes[i] >= 1 && f->call_sizes[i] <= 4);
	}
	pthread_mutex_unlock(&f->lock);
	assert_int_equal(total, 10);
	assert_int_equal(largest, 4); /* batches formed, and none beyond batch_max */
	assert_true(f->calls <= 3 + 1);
	stop_and_destroy(pool);
	fake_free(f);
}

static void a_failed_delivery_in_a_batch_is_retried_alone(void **state)
{
	(void)state;
	fake *f = fake_new();
	worker_pool *pool = pool_new(f, 5000, 3, 8);
	const char *names[] = {"a", "retry-once", "b", "poison", "c"};
	submit_backlog(pool, names, 5);
	WAIT_FOR(f, f->ok == 4 && f->dead == 1);
	wait_settled(pool);
	pool_stats s;
	worker_pool_stats(pool, &s);
	assert_int_equal(s.ok, 4);
	assert_int_equal(s.dead, 1);
	assert_int_equal(s.retried, 1);
	/* only the failed one came again: 5 first attempts + 1 retry */
	assert_int_equal(f->handled, 6);
	assert_int_equal(f->retry_seen, 2);
	assert_int_equal(f->retry_attempts_seen[0], 1);
	assert_int_equal(f->retry_attempts_seen[1], 2);
	assert_int_equal(f->retrying, 1);
	assert_string_equal(f->dead_error, "cannot be handled");
	assert_int_equal(f->call_sizes[0], 5);
	stop_and_destroy(pool);
	fake_free(f);
}

static void deliveries_not_started_go_back_untouched(void **state)
{
	(void)state;
	fake *f = fake_new();
	f->start_only_first = true;
	worker_pool *pool = pool_new(f, 5000, 1, 0);
	const char *names[] = {"a", "b", "c", "d"};
	submit_backlog(pool, names, 4);
	WAIT_FOR(f, f->ok == 4);
	wait_settled(pool);
	pool_stats s;
	worker_pool_stats(pool, &s);
	assert_int_equal(s.ok, 4);
	assert_int_equal(s.retried, 0); /* no attempt counted for the ones given back */
	assert_int_equal(s.dead, 0);
	assert_int_equal(f->handled, 4);
	assert_int_equal(f->call_sizes[0], 4);
	stop_and_destroy(pool);
	fake_free(f);
}

static void an_overrunning_call_times_out_each_of_its_deliveries(void **state)
{
	(void)state;
	fake *f = fake_new();
	f->block_all = true;
	worker_pool *pool = pool_new(f, 100, 1, 3);
	const char *names[] = {"a", "b", "c", "d", "e"};
	submit_backlog(pool, names, 5);
	/* the first call (3 deliveries) overruns; the rest went back to the
	 * ring and blocks the replacement worker's call likewise */
	WAIT_FOR(f, f->dead == 5);
	assert_int_equal(f->dead_timed_out, 5);
	pool_stats s;
	worker_pool_stats(pool, &s);
	assert_int_equal(s.timed_out, 5);
	assert_int_equal(f->call_sizes[0], 3);
	assert_int_equal(f->call_sizes[1], 2);
	fake_release(f);
	/* the stuck threads return; their results are ignored */
	int64_t until = clock_monotonic_us() + 5000000;
	while (worker_pool_stuck(pool) > 0 && clock_monotonic_us() < until) {
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(f->ok, 0);
	stop_and_destroy(pool);
	fake_free(f);
}

static void a_worker_lingers_for_a_fuller_batch(void **state)
{
	(void)state;
	fake *f = fake_new();
	worker_pool *pool = pool_new_linger(f, 5000, 1, 4, 300);
	int64_t first = clock_monotonic_us();
	assert_true(submit(pool, "a"));
	struct timespec pace = {0, 50000000}; /* a producer's pace, not a synchronisation */
	nanosleep(&pace, NULL);
	assert_true(submit(pool, "b"));
	WAIT_FOR(f, f->ok == 2);
	assert_int_equal(f->calls, 1);
	assert_int_equal(f->call_sizes[0], 2);
	assert_true(f->first_call_us - first >= 290000); /* waited for the linger */
	assert_true(f->first_call_us - first < 3000000);
	stop_and_destroy(pool);
	fake_free(f);
}

static void a_full_batch_does_not_linger(void **state)
{
	(void)state;
	fake *f = fake_new();
	worker_pool *pool = pool_new_linger(f, 5000, 1, 3, 10000);
	int64_t first = clock_monotonic_us();
	const char *names[] = {"a", "b", "c"};
	submit_backlog(pool, names, 3);
	WAIT_FOR(f, f->ok == 3);
	assert_int_equal(f->call_sizes[0], 3);
	assert_true(f->first_call_us - first < 5000000); /* not the 10 s linger */
	stop_and_destroy(pool);
	fake_free(f);
}

static void batch_max_beyond_what_one_take_holds(void **state)
{
	(void)state;
	fake *f = fake_new();
	worker_pool *pool = pool_new(f, 5000, 1, 100);
	const char *names[90];
	for (int i = 0; i < 90; i++)
		names[i] = "x";
	submit_backlog(pool, names, 90);
	WAIT_FOR(f, f->ok == 90);
	assert_int_equal(f->call_sizes[0], 90);
	stop_and_destroy(pool);
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backlog_is_handled_in_calls_of_at_most_batch_max),
		cmocka_unit_test(a_failed_delivery_in_a_batch_is_retried_alone),
		cmocka_unit_test(deliveries_not_started_go_back_untouched),
		cmocka_unit_test(an_overrunning_call_times_out_each_of_its_deliveries),
		cmocka_unit_test(a_worker_lingers_for_a_fuller_batch),
		cmocka_unit_test(a_full_batch_does_not_linger),
		cmocka_unit_test(batch_max_beyond_what_one_take_holds),
	};
	return cmocka_run_group_tests_name("worker_pool_batch", tests, NULL, NULL);
}
