/*
 * Test plugin built against the 1.0 SDK header kept in tests/sdk-1.0 (the
 * header of the first release, unchanged): a plugin compiled then must load
 * in every later 1.x host and work unchanged.  It uses every 1.0 function
 * and writes one line per event to `config.record`:
 *   <struct_size ok> <name> <id> <source> <time_us> <attempt> <data> <attr tenant> <list> <bool> <int>
 * and emits "abi10.child" for "abi10.parent".
 */
#include <event-system/plugin.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if ES_ABI_MINOR != 0
#error "built against the 1.0 header on purpose: put tests/sdk-1.0 first on the include path"
#endif

struct state {
	const es_host_api *host;
	es_plugin_ctx *ctx;
	int fd;
	int flag;
	int64_t number;
	const char *first;
};

static es_status a_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	struct state *st = calloc(1, sizeof *st);
	const char *record = NULL;
	if (!st || host->config_string(ctx, "record", &record) != ES_STATUS_OK) {
		free(st);
		return ES_STATUS_INVALID;
	}
	st->host = host;
	st->ctx = ctx;
	host->config_bool(ctx, "flag", &st->flag);
	host->config_int(ctx, "number", &st->number);
	size_t n = 0;
	if (host->config_list_size(ctx, "items", &n) == ES_STATUS_OK && n > 0)
		host->config_list_string(ctx, "items", 0, &st->first);
	st->fd = open(record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	host->log(ctx, ES_LOG_INFO, "abi10 plugin built against ABI %d.%d, host serves %u.%u, table of %u bytes",
	          ES_ABI_MAJOR, ES_ABI_MINOR, host->abi_major, host->abi_minor, host->struct_size);
	*state = st;
	return ES_STATUS_OK;
}

static es_result a_handle(void *state, const es_event *e, char *err, size_t err_size)
{
	struct state *st = state;
	const es_host_api *h = st->host;
	size_t len = 0, json_len = 0;
	const char *data = h->event_data(e, &len);
	const char *tenant = h->event_attribute(e, "tenant");
	h->event_json(e, &json_len);
	char line[1024];
	int n = snprintf(line, sizeof line, "%s %s %s %s %" PRId64 " %u %.*s %s %s %d %" PRId64 " %s\n",
	                 ES_HOST_HAS(h, plugin_name) ? "table-ok" : "table-short", h->event_name(e), h->event_id(e),
	                 h->event_source(e)[0] ? h->event_source(e) : "-", h->event_time_us(e), h->delivery_attempt(e),
	                 (int)len, data, tenant ? tenant : "-", st->first ? st->first : "-", st->flag, st->number,
	                 h->plugin_name(st->ctx));
	if (n > 0 && write(st->fd, line, (size_t)n) < 0)
		return ES_RETRY;
	h->counter_add(st->ctx, "seen", 1);
	if (strcmp(h->event_name(e), "abi10.parent") == 0 &&
	    h->emit(st->ctx, "abi10.child", "{\"n\":1}", 7) != ES_STATUS_OK) {
		snprintf(err, err_size, "emit failed");
		return ES_FAIL;
	}
	return ES_OK;
}

static void a_shutdown(void *state)
{
	struct state *st = state;
	close(st->fd);
	free(st);
}

static const char *const subs[] = {"abi10.**", NULL};
ES_PLUGIN_DEFINE(.name = "abi10", .version = "1.0.0", .default_subscriptions = subs, .init = a_init,
                 .handle = a_handle, .shutdown = a_shutdown);
