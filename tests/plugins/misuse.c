/*
 * Test plugin: misuses the host API the way a careless plugin does, one
 * misuse per event name (the last segment), and records the statuses it got
 * to `config.record` as "<event name> <what> <status>" lines:
 *
 *   misuse.null_metric     a counter, then counter_add/gauge_set with a NULL name
 *   misuse.unterminated    fills err[err_size] without a NUL (strncpy's way), fails
 *   misuse.bad_utf8        fails with a reason that is not UTF-8
 *   misuse.empty_attrs     emit_event() with an empty subject, dataschema,
 *                          datacontenttype (one each)
 *   misuse.gauge           sets gauge "big" to 2^53 + 1 and "low" to INT64_MIN
 *
 * With `config.init_emit: NAME` it emits NAME from init() and records the
 * status ("init emit <status>").
 */
#include <event-system/plugin.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const es_host_api *host;
static es_plugin_ctx *plugin_ctx;
static int record_fd = -1;

static void record(const char *event, const char *what, int status)
{
	char line[256];
	int n = snprintf(line, sizeof line, "%s %s %d\n", event, what, status);
	if (record_fd >= 0 && n > 0 && write(record_fd, line, (size_t)n) < 0)
		host->log(plugin_ctx, ES_LOG_ERROR, "cannot record");
}

static es_status misuse_init(es_plugin_ctx *ctx, const es_host_api *h, void **state)
{
	host = h;
	plugin_ctx = ctx;
	const char *path = NULL;
	if (h->config_string(ctx, "record", &path) == ES_STATUS_OK)
		record_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	const char *name = NULL;
	if (h->config_string(ctx, "init_emit", &name) == ES_STATUS_OK)
		record("init", "emit", h->emit(ctx, name, "{\"from\":\"init\"}", 15));
	*state = NULL;
	return ES_STATUS_OK;
}

static es_status emit_with(const char *key, const char *value)
{
	es_attribute attr = {.key = key, .value = value};
	es_emit e = ES_EMIT_INIT;
	e.name = "misuse.emitted";
	e.attributes = &attr;
	e.attribute_count = 1;
	return host->emit_event(plugin_ctx, &e);
}

static es_result misuse_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	(void)state;
	const char *name = host->event_name(event);
	const char *what = strrchr(name, '.') ? strrchr(name, '.') + 1 : name;
	if (strcmp(what, "null_metric") == 0) {
		host->counter_add(plugin_ctx, "handled", 1);
		host->counter_add(plugin_ctx, NULL, 1);
		host->gauge_set(plugin_ctx, NULL, 1);
		record(name, "done", 0);
		return ES_OK;
	}
	if (strcmp(what, "unterminated") == 0) {
		memset(err, 'x', err_size); /* no NUL anywhere */
		return ES_FAIL;
	}
	if (strcmp(what, "bad_utf8") == 0) {
		snprintf(err, err_size, "bad \xff byte and a cut \xc3");
		return ES_FAIL;
	}
	if (strcmp(what, "empty_attrs") == 0) {
		record(name, "subject", emit_with("subject", ""));
		record(name, "dataschema", emit_with("dataschema", ""));
		record(name, "datacontenttype", emit_with("datacontenttype", ""));
		return ES_OK;
	}
	if (strcmp(what, "gauge") == 0) {
		host->gauge_set(plugin_ctx, "big", 9007199254740993LL);
		host->gauge_set(plugin_ctx, "low", INT64_MIN);
		record(name, "done", 0);
		return ES_OK;
	}
	return ES_OK;
}

static void misuse_shutdown(void *state)
{
	(void)state;
	if (record_fd >= 0)
		close(record_fd);
}

static const char *const subs[] = {"misuse.**", NULL};
ES_PLUGIN_DEFINE(.name = "misuse", .version = "1.0", .default_subscriptions = subs, .init = misuse_init,
                 .handle = misuse_handle, .shutdown = misuse_shutdown);
