/* Test plugin: records each event, then emits `chain.next`, which it is
 * subscribed to itself: a chain the host must cut (emit()'s depth bound).
 * The record line ends with what emit() returned. */
#include "test_plugin.h"

static es_result emitter_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_state *st = state;
	es_status emitted = st->host->emit(st->ctx, "chain.next", "{}", 2);
	char what[32];
	snprintf(what, sizeof what, "emit=%d", (int)emitted);
	tp_record(st, event, what);
	return ES_OK;
}

static const char *const subs[] = {"chain.*", NULL};
ES_PLUGIN_DEFINE(.name = "emitter", .version = "0.1.0", .default_subscriptions = subs, .init = tp_init,
                 .handle = emitter_handle, .shutdown = tp_shutdown);
