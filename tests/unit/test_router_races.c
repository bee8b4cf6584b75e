/* Two interleavings of a router_acquire() with a reload, forced step by
 * step: calls from router.o to hazard.o go through the __wrap_ functions
 * below (-Wl,--wrap, tests/include.am), which pause at chosen points.
 *
 * - routing_table_users() must count a thread that moves from "announced"
 *   to "holds a reference" while it looks: the reload stops waiting on 0.
 *   It read the count before the slots and answered 0 here.
 * - A table retired because a reader announced it just before a swap is
 *   freed when that reader lets go, not at the next reload.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "core/router.h"

void *__real_hazard_protect(void *_Atomic *shared);
void *__wrap_hazard_protect(void *_Atomic *shared);
bool __real_hazard_announced(const void *p);
bool __wrap_hazard_announced(const void *p);

static sem_t reader_protected, reader_go, reader_done;

/* Every wait of these tests ends within 5 s: a step that never comes
 * fails the test rather than hang it. */
static void step_wait(sem_t *s)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	int rc;
	while ((rc = sem_timedwait(s, &until)) != 0 && errno == EINTR)
		;
	if (rc != 0)
		fail_msg("a forced step did not come within 5 s");
}
static _Thread_local bool pause_after_protect; /* the reader thread */
static const void *_Atomic trap_announced;       /* pause the scan of this table */

void *__wrap_hazard_protect(void *_Atomic *shared)
{
	void *p = __real_hazard_protect(shared);
	if (pause_after_protect) {
		pause_after_protect = false; /* once */
		sem_post(&reader_protected);
		step_wait(&reader_go);
	}
	return p;
}

bool __wrap_hazard_announced(const void *p)
{
	const void *want = p;
	if (atomic_compare_exchange_strong(&trap_announced, &want, NULL)) {
		/* between the reload's read of the count and its scan */
		sem_post(&reader_go);
		step_wait(&reader_done);
	}
	return __real_hazard_announced(p);
}

typedef struct reader_arg {
	router *r;
	routing_table *got;
} reader_arg;

static void *acquirer(void *arg)
{
	reader_arg *a = arg;
	pause_after_protect = true;
	a->got = router_acquire(a->r); /* a plugin's emit, /metrics, on_stored ... */
	sem_post(&reader_done);
	return NULL;
}

/* A router at generation 1 and a thread in router_acquire() of it, held
 * just after it announced the table (before it takes a reference). */
static router *router_with_a_paused_acquirer(reader_arg *a, pthread_t *t)
{
	sem_init(&reader_protected, 0, 0);
	sem_init(&reader_go, 0, 0);
	sem_init(&reader_done, 0, 0);
	router *r = router_create();
	router_swap(r, routing_table_build(NULL, 0, 1, NULL));
	a->r = r;
	assert_int_equal(pthread_create(t, NULL, acquirer, a), 0);
	step_wait(&reader_protected);
	return r;
}

static void users_count_an_acquirer_between_count_and_scan(void **state)
{
	reader_arg a = {0};
	pthread_t t;
	router *r = router_with_a_paused_acquirer(&a, &t);

	/* a reload: router_exchange(), then wait_unused() asks */
	routing_table *old = router_exchange(r, routing_table_build(NULL, 0, 2, NULL));
	atomic_store(&trap_announced, old);
	unsigned users = routing_table_users(old);
	pthread_join(t, NULL);

	assert_ptr_equal(a.got, old);      /* the acquirer holds the old table ... */
	assert_int_equal(routing_table_users(old), 1); /* ... by a reference (asked now) */
	routing_table_unref(old);
	routing_table_unref(a.got);
	router_destroy(r);
	assert_int_equal(users, 1); /* 0 would end the reload's wait here */
}

static void a_table_retired_by_an_acquire_is_freed_when_it_lets_go(void **state)
{
	reader_arg a = {0};
	pthread_t t;
	router *r = router_with_a_paused_acquirer(&a, &t);
	router_swap(r, routing_table_build(NULL, 0, 2, NULL)); /* a swap that does not wait (start, stop) */
	assert_int_equal(routing_tables_retired(), 1);
	sem_post(&reader_go);
	pthread_join(t, NULL);
	assert_int_equal(routing_table_generation(a.got), 2); /* it retried: fine */
	routing_table_unref(a.got);

	/* nobody announces generation 1 any more: it is gone, with its config
	 * and plugin instances, not kept until the next reload */
	assert_int_equal(routing_tables_retired(), 0);
	router_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(users_count_an_acquirer_between_count_and_scan),
		cmocka_unit_test(a_table_retired_by_an_acquire_is_freed_when_it_lets_go),
	};
	return cmocka_run_group_tests_name("router races", tests, NULL, NULL);
}
