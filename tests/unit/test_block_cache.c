/* The block cache behind events: blocks freed on one thread are reused on
 * another, the depot stays within its bound, and under AddressSanitizer a
 * cached block is poisoned so that a use after free is still reported. */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model/es_event.h"
#include "util/block_cache.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define BLOCKS 1000

typedef struct blocks {
	void *block[BLOCKS];
	uint8_t cls[BLOCKS];
} blocks;

static void *free_all(void *arg)
{
	blocks *b = arg;
	for (size_t i = 0; i < BLOCKS; i++)
		block_cache_free(b->block[i], b->cls[i]);
	return NULL; /* this thread's exit hands its magazines to the depot */
}

static bool is_one_of(const blocks *b, const void *p)
{
	for (size_t i = 0; i < BLOCKS; i++)
		if (b->block[i] == p)
			return true;
	return false;
}

/* What the cache is for: a worker frees what the producer allocated, and
 * the producer's next allocations reuse those blocks instead of malloc. */
static void blocks_freed_by_another_thread_are_reused(void **state)
{
	(void)state;
	static blocks b;
	for (size_t i = 0; i < BLOCKS; i++) {
		b.block[i] = block_cache_alloc(300, &b.cls[i]);
		assert_non_null(b.block[i]);
		assert_int_not_equal(b.cls[i], BLOCK_CLASS_MALLOC);
		memset(b.block[i], 0xab, 300);
	}
	size_t before = block_cache_depot_blocks(300);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, free_all, &b), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(block_cache_depot_blocks(300), before + BLOCKS);

	size_t reused = 0;
	void *again[BLOCKS];
	uint8_t cls[BLOCKS];
	for (size_t i = 0; i < BLOCKS; i++) {
		again[i] = block_cache_alloc(300, &cls[i]);
		reused += is_one_of(&b, again[i]);
		memset(again[i], 0xcd, 300); /* usable: unpoisoned up to the size asked */
	}
	assert_int_equal(reused, BLOCKS);
	for (size_t i = 0; i < BLOCKS; i++)
		block_cache_free(again[i], cls[i]);
}

static void large_blocks_are_plain_malloc(void **state)
{
	(void)state;
	uint8_t cls;
	void *p = block_cache_alloc(64 * 1024, &cls);
	assert_non_null(p);
	assert_int_equal(cls, BLOCK_CLASS_MALLOC);
	memset(p, 1, 64 * 1024);
	block_cache_free(p, cls);
	assert_int_equal(block_cache_depot_capacity(64 * 1024), 0);
}

/* More blocks than the depot holds come back: the depot keeps its bound
 * and the rest goes to free() (LeakSanitizer would report them if lost). */
static void the_depot_is_bounded(void **state)
{
	(void)state;
	size_t cap = block_cache_depot_capacity(2000);
	assert_true(cap > 0);
	size_t n = cap + 300;
	blocks *sets = calloc((n + BLOCKS - 1) / BLOCKS, sizeof *sets);
	assert_non_null(sets);
	for (size_t i = 0; i < n; i++) {
		sets[i / BLOCKS].block[i % BLOCKS] = block_cache_alloc(2000, &sets[i / BLOCKS].cls[i % BLOCKS]);
		assert_non_null(sets[i / BLOCKS].block[i % BLOCKS]);
	}
	for (size_t i = 0; i < n; i++)
		block_cache_free(sets[i / BLOCKS].block[i % BLOCKS], sets[i / BLOCKS].cls[i % BLOCKS]);
	/* the depot took what it holds; the rest went back to free() */
	assert_int_equal(block_cache_depot_blocks(2000), cap);
	free(sets);
}

/* Events take their memory from the cache: a freed event's block is the
 * next event's (this thread's magazine is last in, first out). */
static void events_take_their_memory_from_the_cache(void **state)
{
	(void)state;
	es_event_fields f = {.name = "order.created", .data = "{\"a\":1}", .data_len = 7};
	es_event *e = es_event_create(&f);
	assert_non_null(e);
	assert_int_not_equal(e->block_class, BLOCK_CLASS_MALLOC);
	uintptr_t first = (uintptr_t)e;
	es_event_unref(e);
	e = es_event_create(&f);
	assert_non_null(e);
	assert_true((uintptr_t)e == first);
	es_event_unref(e);
}

#ifdef TEST_ASAN
/* Under AddressSanitizer a freed event's memory is poisoned while cached,
 * so a use after es_event_unref() is still reported; a reused block is
 * addressable only up to the size asked. */
static void a_freed_event_is_poisoned_under_asan(void **state)
{
	(void)state;
	es_event_fields f = {.name = "order.created", .data = "{\"a\":1}", .data_len = 7};
	es_event *e = es_event_create(&f);
	assert_non_null(e);
	const char *name = e->name;
	es_event_unref(e);
	assert_true(__asan_address_is_poisoned(name));
	assert_true(__asan_address_is_poisoned(e));
	uint8_t cls;
	char *p = block_cache_alloc(10, &cls);
	assert_false(__asan_address_is_poisoned(p + 9));
	assert_true(__asan_address_is_poisoned(p + 16));
	block_cache_free(p, cls);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(blocks_freed_by_another_thread_are_reused),
		cmocka_unit_test(large_blocks_are_plain_malloc),
		cmocka_unit_test(the_depot_is_bounded),
		cmocka_unit_test(events_take_their_memory_from_the_cache),
#ifdef TEST_ASAN
		cmocka_unit_test(a_freed_event_is_poisoned_under_asan),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
