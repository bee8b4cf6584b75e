/* batch_sink: appends events to a file, many per write() and fdatasync().
 * The host hands handle_batch() up to the plugin's batch_max events at a
 * time (waiting up to batch_linger_ms for them to gather): one write and
 * one fdatasync() cover them all, and each event gets that outcome.  The
 * host still retries and dead-letters each event on its own.  handle()
 * writes a batch of one (a 1.0 host calls only that). */
#define _POSIX_C_SOURCE 200809L
#include <event-system/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sink {
	const es_host_api *host;
	es_plugin_ctx *ctx;
	int fd;
};

static es_status sink_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	if (!ES_HOST_HAS(host, gauge_set))
		return ES_STATUS_ERROR; /* a 1.1 host: handle_batch() and gauges */
	const char *path;
	if (host->config_string(ctx, "path", &path) != ES_STATUS_OK) {
		host->log(ctx, ES_LOG_ERROR, "config: path is required");
		return ES_STATUS_INVALID;
	}
	struct sink *s = calloc(1, sizeof *s);
	if (!s)
		return ES_STATUS_ERROR;
	s->host = host;
	s->ctx = ctx;
	s->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (s->fd < 0) {
		host->log(ctx, ES_LOG_ERROR, "cannot open %s: %s", path, strerror(errno));
		free(s);
		return ES_STATUS_ERROR;
	}
	*state = s;
	return ES_STATUS_OK;
}

static bool write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* One line of JSON per event, written and synced at once.  Each event
 * gets the outcome of that write. */
static void sink_handle_batch(void *state, const es_event *const *events, size_t count, es_result *results,
                              char *const *errs, size_t err_size)
{
	struct sink *s = state;
	size_t total = 0;
	for (size_t i = 0; i < count; i++) {
		size_t len;
		s->host->event_json(events[i], &len);
		total += len + 1;
	}
	char *lines = malloc(total ? total : 1);
	size_t at = 0;
	for (size_t i = 0; lines && i < count; i++) {
		size_t len;
		const char *json = s->host->event_json(events[i], &len); /* one line */
		memcpy(lines + at, json, len);
		lines[at + len] = '\n';
		at += len + 1;
	}
	es_result r = ES_RETRY;
	const char *why = "out of memory";
	if (lines) {
		why = "write or fdatasync failed";
		if (write_all(s->fd, lines, at) && fdatasync(s->fd) == 0) {
			r = ES_OK;
			s->host->counter_add(s->ctx, "batches", 1);
			s->host->gauge_set(s->ctx, "last_batch_size", (int64_t)count);
		}
	}
	free(lines);
	for (size_t i = 0; i < count; i++) {
		results[i] = r;
		if (r != ES_OK)
			snprintf(errs[i], err_size, "%s", why);
	}
}

static es_result sink_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	es_result r;
	sink_handle_batch(state, &event, 1, &r, &err, err_size);
	return r;
}

static void sink_shutdown(void *state)
{
	struct sink *s = state;
	close(s->fd);
	free(s);
}

ES_PLUGIN_DEFINE(.name = "batch_sink", .version = "1.1.0", .description = "appends events to a file in batches",
                 .init = sink_init, .handle = sink_handle, .handle_batch = sink_handle_batch,
                 .shutdown = sink_shutdown);
