/* Test plugin: uses the whole host API from wherever it runs.  init() logs
 * its `tag` (config) and process id; each relay.in.* event is logged,
 * counted ("relayed") and re-emitted as relay.out with {"from": <id>}; the
 * record line carries the emit status and the process id.  shutdown() logs
 * how many it relayed (a per-process global when isolated). */
#include "test_plugin.h"

static unsigned long relayed; /* per process: each isolated child has its own */

static es_status relay_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	es_status st = tp_init(ctx, host, state);
	if (st != ES_STATUS_OK)
		return st;
	const char *tag = "none";
	host->config_string(ctx, "tag", &tag);
	host->log(ctx, ES_LOG_INFO, "relay ready: tag %s, pid %d", tag, (int)getpid());
	return ES_STATUS_OK;
}

static es_result relay_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_state *st = state;
	const es_host_api *h = st->host;
	char what[96];
	if (strncmp(h->event_name(event), "relay.in.", 9) == 0) {
		char data[200];
		int n = snprintf(data, sizeof data, "{\"from\":\"%s\"}", h->event_id(event));
		es_status emitted = h->emit(st->ctx, "relay.out", data, (size_t)n);
		h->counter_add(st->ctx, "relayed", 1);
		relayed++;
		h->log(st->ctx, ES_LOG_INFO, "relayed %s in pid %d (emit status %d)", h->event_id(event), (int)getpid(),
		       (int)emitted);
		snprintf(what, sizeof what, "emit=%d pid=%d", (int)emitted, (int)getpid());
	} else {
		snprintf(what, sizeof what, "ok pid=%d", (int)getpid());
	}
	tp_record(st, event, what);
	return ES_OK;
}

static void relay_shutdown(void *state)
{
	tp_state *st = state;
	st->host->log(st->ctx, ES_LOG_INFO, "relay stopping in pid %d after %lu relayed", (int)getpid(), relayed);
	tp_shutdown(state);
}

static const char *const subs[] = {"relay.in.**", NULL};
ES_PLUGIN_DEFINE(.name = "relay", .version = "0.1.0", .default_subscriptions = subs, .init = relay_init,
                 .handle = relay_handle, .shutdown = relay_shutdown);
