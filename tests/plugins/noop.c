/* Test and benchmark plugin: accepts every event and does nothing. */
#include <event-system/plugin.h>

static es_status noop_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	*state = NULL;
	return ES_STATUS_OK;
}

static es_result noop_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	return ES_OK;
}

static const char *const subs[] = {"**", NULL};
ES_PLUGIN_DEFINE(.name = "noop", .version = "0.1.0", .default_subscriptions = subs, .init = noop_init,
                 .handle = noop_handle);
