/*
 * example: the smallest useful event-system plugin, written as a tutorial.
 * Read it top to bottom; docs/plugin-guide.md walks through the same steps.
 *
 * What it does: for each event it receives, it logs one line with the
 * event's name and id, prefixed with a configurable greeting, and counts
 * the events it has seen (visible in GET /api/plugins).
 *
 * Build it out of tree with nothing but the installed SDK:
 *   cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags event-system-sdk) \
 *      -o example.so example.c
 */

/* 1. The SDK is one header.  It needs no library: the host hands us every
 *    function we may call. */
#include <event-system/plugin.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2. Our private state.  The host keeps the pointer init() gives it and
 *    passes it back to handle() and shutdown().  handle() may run on several
 *    worker threads at once, so anything it changes must be thread-safe: here
 *    an atomic counter, and strings we never change after init(). */
struct example_state {
	const es_host_api *host; /* valid until shutdown() returns */
	es_plugin_ctx *ctx;      /* our handle for host calls */
	char greeting[64];
	atomic_ulong seen;
};

/* 3. init(): read the `config:` subtree of plugins.settings.example, e.g.
 *      plugins:
 *        settings:
 *          example:
 *            config:
 *              greeting: "hello"
 *    Return ES_STATUS_OK to start; anything else refuses the plugin (say why
 *    in the log first). */
static es_status ex_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	struct example_state *st = calloc(1, sizeof *st);
	if (!st)
		return ES_STATUS_ERROR;
	st->host = host;
	st->ctx = ctx;

	const char *greeting = "received";
	es_status rc = host->config_string(ctx, "greeting", &greeting);
	if (rc == ES_STATUS_WRONG_TYPE) {
		host->log(ctx, ES_LOG_ERROR, "config.greeting must be a string");
		free(st);
		return ES_STATUS_INVALID;
	}
	/* Strings from the host are only valid until shutdown(): this one we
	 * copy anyway, to show the habit. */
	snprintf(st->greeting, sizeof st->greeting, "%s", greeting);

	host->log(ctx, ES_LOG_INFO, "example plugin ready (greeting \"%s\")", st->greeting);
	*state = st;
	return ES_STATUS_OK;
}

/* 4. handle(): called on a worker thread for every event that matches our
 *    subscriptions.  The event and every string read from it belong to the
 *    host and are valid only until we return.  Return ES_OK when done,
 *    ES_RETRY for a transient failure (the host retries with backoff), or
 *    ES_FAIL for a permanent one (the event is dead-lettered); on failure,
 *    write the reason into err. */
static es_result ex_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	struct example_state *st = state;
	const es_host_api *h = st->host;

	size_t data_len = 0;
	const char *data = h->event_data(event, &data_len);
	h->log(st->ctx, ES_LOG_INFO, "%s %s (id %s, %zu bytes of data: %.*s)", st->greeting, h->event_name(event),
	       h->event_id(event), data_len, (int)(data_len > 200 ? 200 : data_len), data);

	atomic_fetch_add(&st->seen, 1);
	h->counter_add(st->ctx, "seen", 1);
	(void)err;
	(void)err_size;
	return ES_OK;
}

/* 5. shutdown(): called once, after the last handle() returned.  Free
 *    everything init() allocated. */
static void ex_shutdown(void *state)
{
	struct example_state *st = state;
	st->host->log(st->ctx, ES_LOG_INFO, "example plugin stopping after %lu events", atomic_load(&st->seen));
	free(st);
}

/* 6. Subscriptions used when the config names none.  Patterns are dotted;
 *    `*` matches within one segment, `**` any number of segments. */
static const char *const ex_subscriptions[] = {"example.**", "system.test", NULL};

/* 7. The one exported symbol.  ES_PLUGIN_DEFINE fills in the struct size and
 *    the ABI version this file was compiled against; the host checks both
 *    before it calls any function above. */
ES_PLUGIN_DEFINE(
	.name = "example",
	.version = "1.0.0",
	.description = "Logs each event it receives; a tutorial for plugin authors",
	.default_subscriptions = ex_subscriptions,
	.init = ex_init,
	.handle = ex_handle,
	.shutdown = ex_shutdown,
);
