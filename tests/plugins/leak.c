/* Test plugin: leaks `leak_mb` MiB (default 16), touched, on every event
 * named leak.*, and never checks malloc's answer (as a careless plugin
 * would): under a memory limit it dies, by the limit's kill or by writing
 * through the NULL malloc gave it.  Other events are recorded. */
#include "test_plugin.h"

static es_result leak_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_state *st = state;
	if (strncmp(st->host->event_name(event), "leak.", 5) == 0) {
		int64_t mb = 16;
		st->host->config_int(st->ctx, "leak_mb", &mb);
		size_t size = (size_t)mb << 20;
		volatile char *p = malloc(size);
		for (size_t i = 0; i < size; i += 4096)
			p[i] = 1; /* resident, not just reserved */
	}
	tp_record(st, event, "ok");
	return ES_OK;
}

static const char *const subs[] = {"**", NULL};
ES_PLUGIN_DEFINE(.name = "leak", .version = "0.1.0", .default_subscriptions = subs, .init = tp_init,
                 .handle = leak_handle, .shutdown = tp_shutdown);
