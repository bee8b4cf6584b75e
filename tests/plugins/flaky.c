/* Test plugin: asks for a retry until attempt config.succeed_on_attempt
 * (default 3), then succeeds. */
#include "test_plugin.h"

static es_result flaky_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_state *st = state;
	if ((int64_t)st->host->delivery_attempt(event) < st->succeed_on_attempt) {
		tp_record(st, event, "retry");
		snprintf(err, err_size, "temporarily unavailable (test)");
		return ES_RETRY;
	}
	tp_record(st, event, "ok");
	return ES_OK;
}

static const char *const subs[] = {"flaky.**", NULL};
ES_PLUGIN_DEFINE(.name = "flaky", .version = "0.1.0", .default_subscriptions = subs, .init = tp_init,
                 .handle = flaky_handle, .shutdown = tp_shutdown);
