/* Test plugin: a handler that hangs far past its deadline (config.delay_ms,
 * default 5000), then returns.  Records when it starts and when it returns. */
#include "test_plugin.h"

static es_result hang_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_state *st = state;
	tp_record(st, event, "entered");
	tp_sleep_ms(st->delay_ms ? st->delay_ms : 5000);
	tp_record(st, event, "returned");
	return ES_OK;
}

static const char *const subs[] = {"**", NULL};
ES_PLUGIN_DEFINE(.name = "hang", .version = "0.1.0", .default_subscriptions = subs, .init = tp_init,
                 .handle = hang_handle, .shutdown = tp_shutdown);
