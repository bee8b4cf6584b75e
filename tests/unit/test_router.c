/* Subscription patterns: the documented grammar, match by match; and a
 * routing table borrowed without a reference (router_borrow()) is never
 * freed under its borrower by a swap, and a reload sees its borrowers. */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/router.h"

typedef struct match_case {
	const char *pattern;
	const char *name;
	bool matches;
} match_case;

static void patterns_match_as_documented(void **state)
{
	static const match_case cases[] = {
		{"order.created", "order.created", true},
		{"order.created", "order.deleted", false},
		{"order.created", "order.created.v2", false},
		{"order.*", "order.created", true},
		{"order.*", "order", false},
		{"order.*", "order.created.v2", false},
		{"*.created", "order.created", true},
		{"*.created", "user.created", true},
		{"*.created", "a.b.created", false},
		{"order.**", "order", true},
		{"order.**", "order.created", true},
		{"order.**", "order.created.v2", true},
		{"order.**", "orders.created", false},
		{"**", "x", true},
		{"**", "a.b.c.d", true},
		{"**.created", "created", true},
		{"**.created", "a.b.created", true},
		{"**.created", "a.b.deleted", false},
		{"a.**.z", "a.z", true},
		{"a.**.z", "a.b.c.z", true},
		{"a.**.z", "a.b.c", false},
		{"user-*.login", "user-eu.login", true},
		{"user-*.login", "user-.login", true},
		{"user-*.login", "admin-eu.login", false},
		{"*-created", "order-created", true},
		{"o*r.c*d", "order.created", true},
		{"Order.Created", "order.created", false}, /* case-sensitive */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bool got = pattern_match(cases[i].pattern, cases[i].name);
		if (got != cases[i].matches)
			fail_msg("pattern '%s' vs '%s': expected %s", cases[i].pattern, cases[i].name,
			         cases[i].matches ? "match" : "no match");
	}
}

static void invalid_patterns_are_refused_with_a_reason(void **state)
{
	const char *bad[] = {"", "a..b", ".a", "a.", "a.**b", "a b", "a/b", "***"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char err[256] = "";
		if (pattern_valid(bad[i], err, sizeof err))
			fail_msg("pattern '%s' should be invalid", bad[i]);
		assert_true(err[0] != '\0');
	}
	const char *good[] = {"a", "a.b", "*", "**", "a.*", "**.b", "a-*_x.**", "A.B"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char err[256];
		if (!pattern_valid(good[i], err, sizeof err))
			fail_msg("pattern '%s' should be valid: %s", good[i], err);
	}
}

static void empty_table_routes_nothing_and_counts_unmatched(void **state)
{
	router *r = router_create();
	routing_table *t = router_acquire(r);
	es_event_fields f = {.name = "nobody.listens"};
	es_event *e = es_event_create(&f);
	uint64_t before = router_unmatched_total();
	dispatch_result res;
	assert_int_equal(router_dispatch(t, e, &res), DISPATCH_OK);
	assert_int_equal(res.matched, 0);
	assert_int_equal(router_unmatched_total(), before + 1);
	es_event_unref(e);
	routing_table_unref(t);
	router_destroy(r);
}

/* ---- borrowing ---- */

static uint64_t current_generation(router *r)
{
	routing_table *t = router_acquire(r);
	uint64_t g = routing_table_generation(t);
	routing_table_unref(t);
	return g;
}

static void swap_to(router *r, uint64_t generation)
{
	router_swap(r, routing_table_build(NULL, 0, generation, NULL));
}

/* A swap does not wait for a borrower, and the table it replaced stays
 * whole until given back (under ASan a freed table read here is a use
 * after free), and no longer. */
static void a_borrowed_table_outlives_its_swap(void **state)
{
	router *r = router_create();
	swap_to(r, 1);
	table_borrow b;
	routing_table *borrowed = router_borrow(r, &b);
	assert_true(b.announced);
	assert_int_equal(routing_table_users(borrowed), 1); /* the borrower, besides the router's reference */

	swap_to(r, 2);
	assert_int_equal(current_generation(r), 2); /* new requests route by it at once */
	assert_int_equal(routing_tables_retired(), 1);
	assert_int_equal(routing_table_generation(borrowed), 1);

	router_return(&b); /* freed now: nothing else waits for it */
	assert_int_equal(routing_tables_retired(), 0);
	router_destroy(r);
}

/* A reload waits while routing_table_users() counts someone: a borrower
 * counts until it gives the table back. */
static void a_borrower_counts_as_a_user(void **state)
{
	router *r = router_create();
	swap_to(r, 1);
	table_borrow b;
	router_borrow(r, &b);
	routing_table *old = router_exchange(r, routing_table_build(NULL, 0, 2, NULL));
	assert_int_equal(routing_table_users(old), 1);
	router_return(&b);
	assert_int_equal(routing_table_users(old), 0);
	routing_table_unref(old);
	assert_int_equal(routing_tables_retired(), 0);
	router_destroy(r);
}

/* A borrow inside a borrow takes a reference; they may be returned in any
 * order, and each keeps its table until then. */
static void borrows_nest_and_return_in_any_order(void **state)
{
	router *r = router_create();
	swap_to(r, 1);
	table_borrow outer, inner;
	routing_table *a = router_borrow(r, &outer);
	routing_table *b = router_borrow(r, &inner);
	assert_ptr_equal(a, b);
	assert_true(outer.announced);
	assert_false(inner.announced);
	assert_int_equal(routing_table_users(a), 2); /* inner's reference and outer, besides the router's */

	router_return(&outer); /* out of order */
	swap_to(r, 2);
	assert_int_equal(routing_table_generation(b), 1); /* the inner reference holds it */
	assert_int_equal(routing_tables_retired(), 0);
	router_return(&inner);
	assert_int_equal(routing_tables_retired(), 0);
	router_destroy(r);
}

#define RACE_SWAPS 3000
#define RACE_READERS 3

typedef struct race {
	router *r;
	atomic_bool stop;
	atomic_uint threads_done;
	uint64_t reads[RACE_READERS];
	bool backwards[RACE_READERS]; /* a reader saw an older table after a newer one */
} race;

typedef struct race_reader {
	race *race;
	int index;
} race_reader;

/* Borrow and acquire in turn, reading the table each time: a table freed
 * under a reader is a use after free (ASan) or a race (TSan). */
static void *read_tables(void *arg)
{
	race_reader *rr = arg;
	race *x = rr->race;
	uint64_t last = 0;
	while (!atomic_load(&x->stop)) {
		table_borrow b;
		uint64_t g = routing_table_generation(router_borrow(x->r, &b));
		router_return(&b);
		routing_table *t = router_acquire(x->r);
		uint64_t g2 = routing_table_generation(t);
		routing_table_unref(t);
		if (g < last || g2 < g)
			x->backwards[rr->index] = true;
		last = g2;
		x->reads[rr->index]++;
	}
	atomic_fetch_add(&x->threads_done, 1);
	return NULL;
}

static void readers_never_see_a_freed_or_older_table(void **state)
{
	race x = {.r = router_create()};
	race_reader rr[RACE_READERS];
	pthread_t t[RACE_READERS];
	for (int i = 0; i < RACE_READERS; i++) {
		rr[i] = (race_reader){.race = &x, .index = i};
		assert_int_equal(pthread_create(&t[i], NULL, read_tables, &rr[i]), 0);
	}
	for (uint64_t g = 1; g <= RACE_SWAPS; g++)
		router_swap(x.r, routing_table_build(NULL, 0, g, NULL));
	atomic_store(&x.stop, true);
	for (int i = 0; i < RACE_READERS; i++) {
		pthread_join(t[i], NULL);
		assert_false(x.backwards[i]);
	}
	assert_int_equal(current_generation(x.r), RACE_SWAPS);
	router_destroy(x.r);
	assert_int_equal(routing_tables_retired(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(patterns_match_as_documented),
		cmocka_unit_test(invalid_patterns_are_refused_with_a_reason),
		cmocka_unit_test(empty_table_routes_nothing_and_counts_unmatched),
		cmocka_unit_test(a_borrowed_table_outlives_its_swap),
		cmocka_unit_test(a_borrower_counts_as_a_user),
		cmocka_unit_test(borrows_nest_and_return_in_any_order),
		cmocka_unit_test(readers_never_see_a_freed_or_older_table),
	};
	return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
