/* Test plugin: a batch sink (SDK 1.1 handle_batch).  Each call appends a
 * line "call <size>" and then, per event, the usual record line
 * "batch <name> <id> <attempt> <outcome>".  Events named fail.once.* are
 * refused (ES_RETRY, "try again") on their first attempt; fail.always.*
 * always (ES_FAIL, "rejected"); crash.* fault inside the call.  With config
 * delay_ms each call takes that long (a sink's round trip). */
#include "test_plugin.h"

static es_result one(tp_state *st, const es_event *event, char *err, size_t err_size)
{
	const char *name = st->host->event_name(event);
	if (strncmp(name, "crash.", 6) == 0) {
		volatile uintptr_t nowhere = 16; /* the first page is never mapped */
		*(volatile int *)nowhere = 1;
	}
	if (strncmp(name, "fail.once.", 10) == 0 && st->host->delivery_attempt(event) == 1) {
		snprintf(err, err_size, "try again");
		tp_record(st, event, "retry");
		return ES_RETRY;
	}
	if (strncmp(name, "fail.always.", 12) == 0) {
		snprintf(err, err_size, "rejected");
		tp_record(st, event, "fail");
		return ES_FAIL;
	}
	tp_record(st, event, "ok");
	return ES_OK;
}

static void batch_handle_batch(void *state, const es_event *const *events, size_t count, es_result *results,
                               char *const *errs, size_t err_size)
{
	tp_state *st = state;
	if (st->record_fd >= 0) {
		char line[64];
		int n = snprintf(line, sizeof line, "call %zu\n", count);
		if (n > 0 && write(st->record_fd, line, (size_t)n) < 0)
			st->host->log(st->ctx, ES_LOG_ERROR, "cannot record");
	}
	if (st->delay_ms)
		tp_sleep_ms(st->delay_ms);
	for (size_t i = 0; i < count; i++)
		results[i] = one(st, events[i], errs[i], err_size);
}

/* A 1.0 host calls this one. */
static es_result batch_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	return one(state, event, err, err_size);
}

static const char *const subs[] = {"**", NULL};
ES_PLUGIN_DEFINE(.name = "batch", .version = "0.1.0", .default_subscriptions = subs, .init = tp_init,
                 .handle = batch_handle, .handle_batch = batch_handle_batch, .shutdown = tp_shutdown);
