/*
 * Test plugin built by the runtime tests themselves, once per name: accepts
 * every event and does nothing.  `cc -DNAMED_PLUGIN='"some-name"'` gives a
 * plugin of that name, so a test can load many plugins with long names
 * (see tests/runtime/lib.sh build_named_plugins).
 */
#include <event-system/plugin.h>

#ifndef NAMED_PLUGIN
#error "build with -DNAMED_PLUGIN='\"name\"'"
#endif

static es_status named_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	*state = NULL;
	return ES_STATUS_OK;
}

static es_result named_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	return ES_OK;
}

static const char *const subs[] = {"**", NULL};
ES_PLUGIN_DEFINE(.name = NAMED_PLUGIN, .version = "0.1.0", .default_subscriptions = subs, .init = named_init,
                 .handle = named_handle);
