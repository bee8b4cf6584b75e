/* Test plugin: writes through an invalid pointer (a real SIGSEGV, not one a
 * sanitizer's null check stops first) when it handles an event named
 * crash.*; crash.overflow instead recurses until its stack overflows.
 * Other events are handled normally. */
#include "test_plugin.h"

/* Each frame keeps a page of its own alive, so the guard page comes soon.
 * The depth check never stops it (no stack is that deep); it keeps the
 * compiler from calling the recursion infinite. */
static int __attribute__((noinline)) overflow(volatile char *previous, unsigned long depth)
{
	volatile char page[4096];
	page[0] = previous ? previous[0] : 1;
	if (depth > (1ul << 40))
		return 0;
	return overflow(page, depth + 1) + page[4095];
}

static es_result crash_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_state *st = state;
	const char *name = st->host->event_name(event);
	if (strcmp(name, "crash.overflow") == 0)
		overflow(NULL, 0);
	if (strncmp(name, "crash.", 6) == 0) {
		volatile uintptr_t nowhere = 16; /* the first page is never mapped */
		*(volatile int *)nowhere = 1;
	}
	tp_record(st, event, "ok");
	return ES_OK;
}
static const char *const subs[] = {"**", NULL};
ES_PLUGIN_DEFINE(.name = "crash", .version = "0.1.0", .default_subscriptions = subs, .init = tp_init,
                 .handle = crash_handle, .shutdown = tp_shutdown);
