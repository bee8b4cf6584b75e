/* Test plugin: fails every event permanently. */
#include "test_plugin.h"

static es_result fail_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_record(state, event, "fail");
	tp_record_json(state, event);
	snprintf(err, err_size, "downstream rejected the event (test)");
	return ES_FAIL;
}

static const char *const subs[] = {"fail.**", NULL};
ES_PLUGIN_DEFINE(.name = "failing", .version = "0.1.0", .default_subscriptions = subs, .init = tp_init,
                 .handle = fail_handle, .shutdown = tp_shutdown);
