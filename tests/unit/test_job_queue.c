/* The bounded request queue shared by the history reader and the
 * JetStream dead letters: order, the cap, and reuse after draining. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/job_queue.h"

typedef struct request {
	int n;
	job_queue_link link;
} request;

static int number(job_queue_link *link)
{
	return ((request *)((char *)link - offsetof(request, link)))->n;
}

static void requests_come_out_in_the_order_they_went_in(void **state)
{
	job_queue q;
	job_queue_init(&q, 8);
	assert_true(job_queue_empty(&q));
	assert_null(job_queue_pop(&q));
	request r[5];
	for (int i = 0; i < 5; i++) {
		r[i].n = i;
		assert_true(job_queue_push(&q, &r[i].link));
	}
	assert_int_equal(q.depth, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(number(job_queue_pop(&q)), i);
	assert_true(job_queue_empty(&q));
	assert_null(job_queue_pop(&q));
	assert_int_equal(q.depth, 0);
}

static void a_full_queue_refuses_and_keeps_what_it_has(void **state)
{
	job_queue q;
	job_queue_init(&q, 2);
	request r[3] = {{.n = 0}, {.n = 1}, {.n = 2}};
	assert_true(job_queue_push(&q, &r[0].link));
	assert_true(job_queue_push(&q, &r[1].link));
	assert_false(job_queue_push(&q, &r[2].link));
	assert_int_equal(q.depth, 2);
	assert_int_equal(number(job_queue_pop(&q)), 0);
	/* one left the queue: there is room for one again */
	assert_true(job_queue_push(&q, &r[2].link));
	assert_int_equal(number(job_queue_pop(&q)), 1);
	assert_int_equal(number(job_queue_pop(&q)), 2);
	assert_null(job_queue_pop(&q));
}

static void a_drained_queue_takes_requests_again(void **state)
{
	job_queue q;
	job_queue_init(&q, 1);
	request a = {.n = 7}, b = {.n = 8};
	assert_true(job_queue_push(&q, &a.link));
	assert_int_equal(number(job_queue_pop(&q)), 7);
	assert_true(job_queue_push(&q, &b.link));
	assert_int_equal(number(job_queue_pop(&q)), 8);
	assert_true(job_queue_empty(&q));
}

static void a_zero_cap_refuses_everything(void **state)
{
	job_queue q;
	job_queue_init(&q, 0);
	request a = {.n = 1};
	assert_false(job_queue_push(&q, &a.link));
	assert_true(job_queue_empty(&q));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(requests_come_out_in_the_order_they_went_in),
		cmocka_unit_test(a_full_queue_refuses_and_keeps_what_it_has),
		cmocka_unit_test(a_drained_queue_takes_requests_again),
		cmocka_unit_test(a_zero_cap_refuses_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
