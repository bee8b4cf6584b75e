/* Test plugin: sleeps config.delay_ms (default 200) per event, then records it.
 *   config.init_delay_ms     init() takes this long, after writing the
 *                            process id to config.init_marker (when set)
 *   config.shutdown_record   shutdown() appends "shutdown" to this file */
#include "test_plugin.h"

static const char *shutdown_record; /* the config outlives the plugin */

static es_status slow_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	es_status rc = tp_init(ctx, host, state);
	if (rc != ES_STATUS_OK)
		return rc;
	shutdown_record = NULL;
	host->config_string(ctx, "shutdown_record", &shutdown_record);
	const char *marker = NULL;
	if (host->config_string(ctx, "init_marker", &marker) == ES_STATUS_OK) {
		FILE *f = fopen(marker, "w");
		if (f) {
			fprintf(f, "%ld\n", (long)getpid());
			fclose(f);
		}
	}
	int64_t init_delay_ms = 0;
	host->config_int(ctx, "init_delay_ms", &init_delay_ms);
	if (init_delay_ms > 0)
		tp_sleep_ms(init_delay_ms);
	return ES_STATUS_OK;
}

static es_result slow_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_state *st = state;
	tp_sleep_ms(st->delay_ms ? st->delay_ms : 200);
	tp_record(st, event, "ok");
	return ES_OK;
}

static void slow_shutdown(void *state)
{
	if (shutdown_record)
		tp_append_line(shutdown_record, "shutdown");
	tp_shutdown(state);
}

static const char *const subs[] = {"slow.**", NULL};
ES_PLUGIN_DEFINE(.name = "slow", .version = "0.1.0", .default_subscriptions = subs, .init = slow_init,
                 .handle = slow_handle, .shutdown = slow_shutdown);
