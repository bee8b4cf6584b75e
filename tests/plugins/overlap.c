/* Test plugin: detects reopen() or shutdown() running while handle() runs.
 * handle() sleeps config.delay_ms (default 100) inside an "in handle"
 * count; reopen() and shutdown() record "reopen alone" / "reopen overlapped
 * N handlers" (and the same for shutdown) in the record file.
 * config.shutdown_ms makes shutdown() take that long (a slow shutdown),
 * config.reopen_ms the same for reopen() (a reopen that hangs). */
#include "test_plugin.h"

#include <stdatomic.h>

static atomic_int in_handle;
static int64_t shutdown_ms;
static int64_t reopen_ms;

static es_status overlap_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	host->config_int(ctx, "shutdown_ms", &shutdown_ms);
	host->config_int(ctx, "reopen_ms", &reopen_ms);
	return tp_init(ctx, host, state);
}

static es_result overlap_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_state *st = state;
	atomic_fetch_add(&in_handle, 1);
	tp_record(st, event, "entered");
	tp_sleep_ms(st->delay_ms ? st->delay_ms : 100);
	tp_record(st, event, "returned");
	atomic_fetch_sub(&in_handle, 1);
	return ES_OK;
}

static void note(tp_state *st, const char *what)
{
	char line[128];
	int inside = atomic_load(&in_handle);
	int n = inside ? snprintf(line, sizeof line, "%s overlapped %d handlers\n", what, inside)
	               : snprintf(line, sizeof line, "%s alone\n", what);
	if (st->record_fd >= 0 && n > 0 && write(st->record_fd, line, (size_t)n) < 0)
		st->host->log(st->ctx, ES_LOG_ERROR, "cannot record");
}

static void overlap_reopen(void *state)
{
	note(state, "reopen");
	if (reopen_ms)
		tp_sleep_ms(reopen_ms);
}

static void overlap_shutdown(void *state)
{
	note(state, "shutdown");
	if (shutdown_ms)
		tp_sleep_ms(shutdown_ms);
	tp_shutdown(state);
}

static const char *const subs[] = {"**", NULL};
ES_PLUGIN_DEFINE(.name = "overlap", .version = "0.1.0", .default_subscriptions = subs, .init = overlap_init,
                 .handle = overlap_handle, .shutdown = overlap_shutdown, .reopen = overlap_reopen);
