/* Test plugin: writes through an invalid pointer (a real SIGSEGV, not one a
 * sanitizer's null check stops first) when it handles an event named
 * crash.*; other events are handled normally. */
#include "test_plugin.h"

static es_result crash_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_state *st = state;
	if (strncmp(st->host->event_name(event), "crash.", 6) == 0) {
		volatile uintptr_t nowhere = 16; /* the first page is never mapped */
		*(volatile int *)nowhere = 1;
	}
	tp_record(st, event, "ok");
	return ES_OK;
}

static const char *const subs[] = {"**", NULL};
ES_PLUGIN_DEFINE(.name = "crash", .version = "0.1.0", .default_subscriptions = subs, .init = tp_init,
                 .handle = crash_handle, .shutdown = tp_shutdown);
