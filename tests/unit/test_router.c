/* Subscription patterns: the documented grammar, match by match. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(patterns_match_as_documented),
		cmocka_unit_test(invalid_patterns_are_refused_with_a_reason),
		cmocka_unit_test(empty_table_routes_nothing_and_counts_unmatched),
	};
	return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
