/* Test plugin: records every event and succeeds. */
#include "test_plugin.h"

static es_result rec_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_record(state, event, "ok");
	return ES_OK;
}

static const char *const subs[] = {"**", NULL};
ES_PLUGIN_DEFINE(.name = "recorder", .version = "0.1.0", .default_subscriptions = subs, .init = tp_init,
                 .handle = rec_handle, .shutdown = tp_shutdown);
