/* Test plugin: sleeps config.delay_ms (default 200) per event, then records it. */
#include "test_plugin.h"

static es_result slow_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_state *st = state;
	tp_sleep_ms(st->delay_ms ? st->delay_ms : 200);
	tp_record(st, event, "ok");
	return ES_OK;
}

static const char *const subs[] = {"slow.**", NULL};
ES_PLUGIN_DEFINE(.name = "slow", .version = "0.1.0", .default_subscriptions = subs, .init = tp_init,
                 .handle = slow_handle, .shutdown = tp_shutdown);
