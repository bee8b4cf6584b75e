/* Broken test plugin: init() refuses to start. */
#include <event-system/plugin.h>

static es_status bad_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	host->log(ctx, ES_LOG_ERROR, "cannot connect to the downstream service (test)");
	return ES_STATUS_ERROR;
}

static es_result bad_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	return ES_OK;
}

ES_PLUGIN_DEFINE(.name = "init_fail", .version = "0.1.0", .init = bad_init, .handle = bad_handle);
