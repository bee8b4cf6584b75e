/* Test plugin: a handler that hangs far past its deadline (config.delay_ms,
 * default 5000), then returns.  Records when it starts and when it returns.
 * With config.hang_first N, only the first N deliveries hang; later ones
 * return at once (a plugin that recovers).  With config.shutdown_record,
 * shutdown() appends "shutdown" to that file. */
#include "test_plugin.h"

#include <stdatomic.h>

static int64_t hang_first; /* 0: every delivery hangs */
static atomic_llong entered;
static const char *shutdown_record; /* the config outlives the plugin */

static es_status hang_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	host->config_int(ctx, "hang_first", &hang_first);
	shutdown_record = NULL;
	host->config_string(ctx, "shutdown_record", &shutdown_record);
	return tp_init(ctx, host, state);
}

static es_result hang_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_state *st = state;
	tp_record(st, event, "entered");
	if (hang_first == 0 || atomic_fetch_add(&entered, 1) < hang_first)
		tp_sleep_ms(st->delay_ms ? st->delay_ms : 5000);
	tp_record(st, event, "returned");
	return ES_OK;
}

static void hang_shutdown(void *state)
{
	if (shutdown_record)
		tp_append_line(shutdown_record, "shutdown");
	tp_shutdown(state);
}

static const char *const subs[] = {"**", NULL};
ES_PLUGIN_DEFINE(.name = "hang", .version = "0.1.0", .default_subscriptions = subs, .init = hang_init,
                 .handle = hang_handle, .shutdown = hang_shutdown);
