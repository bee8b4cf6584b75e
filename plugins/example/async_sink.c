/* async_sink: appends events to a file from a thread of its own.
 * handle_async() only queues the event with its delivery handle and
 * returns; the writer thread takes everything queued, writes it with one
 * write() and one fdatasync(), and completes each delivery with that
 * outcome through delivery_complete().  The host keeps each event valid
 * until its delivery is completed, so the writer reads it there.  A
 * delivery completed after its deadline (timeout_ms) already counted as a
 * timeout: delivery_complete() then says ES_STATUS_NOT_FOUND and nothing
 * else happens.  handle() writes one event at once (a 1.0 host calls only
 * that). */
#define _POSIX_C_SOURCE 200809L
#include <event-system/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QUEUE_MAX 1024 /* the host bounds deliveries by queue_size too */

typedef struct queued {
	const es_event *event; /* the host's, valid until completed */
	es_delivery *delivery;
} queued;

typedef struct sink {
	const es_host_api *host;
	es_plugin_ctx *ctx;
	int fd;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	queued queue[QUEUE_MAX]; /* under lock */
	size_t count;            /* under lock */
	bool stopping;           /* under lock */
	pthread_t writer;
} sink;

/* Append each event's JSON and a newline with one write(), then
 * fdatasync(): 0, or an errno. */
static int write_events(sink *s, const queued *items, size_t n)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		s->host->event_json(items[i].event, &len);
		total += len + 1;
	}
	char *buf = malloc(total ? total : 1);
	if (!buf)
		return ENOMEM;
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *json = s->host->event_json(items[i].event, &len);
		memcpy(buf + at, json, len);
		at += len;
		buf[at++] = '\n';
	}
	int err = 0;
	for (size_t done = 0; done < total && !err;) {
		ssize_t w = write(s->fd, buf + done, total - done);
		if (w < 0 && errno != EINTR)
			err = errno;
		else if (w > 0)
			done += (size_t)w;
	}
	free(buf);
	if (!err && fdatasync(s->fd) != 0)
		err = errno;
	return err;
}

static void complete_all(sink *s, const queued *items, size_t n, es_result result, const char *reason)
{
	size_t late = 0;
	for (size_t i = 0; i < n; i++)
		if (s->host->delivery_complete(items[i].delivery, result, reason) == ES_STATUS_NOT_FOUND)
			late++;
	if (late)
		s->host->counter_add(s->ctx, "late", late);
}

static void *writer_main(void *arg)
{
	sink *s = arg;
	queued items[QUEUE_MAX];
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->count && !s->stopping)
			pthread_cond_wait(&s->wake, &s->lock);
		if (s->stopping)
			break; /* shutdown() completes what is left */
		size_t n = s->count;
		memcpy(items, s->queue, n * sizeof *items);
		s->count = 0;
		pthread_mutex_unlock(&s->lock);
		int err = write_events(s, items, n);
		if (err) {
			char reason[128];
			snprintf(reason, sizeof reason, "cannot write: %s", strerror(err));
			complete_all(s, items, n, ES_RETRY, reason);
		} else {
			complete_all(s, items, n, ES_OK, NULL);
			s->host->counter_add(s->ctx, "writes", 1);
		}
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static es_status sink_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	if (!ES_HOST_HAS(host, delivery_complete)) {
		host->log(ctx, ES_LOG_ERROR, "needs an event-system host with plugin ABI 1.1");
		return ES_STATUS_ERROR;
	}
	const char *path;
	if (host->config_string(ctx, "path", &path) != ES_STATUS_OK) {
		host->log(ctx, ES_LOG_ERROR, "config.path is required");
		return ES_STATUS_INVALID;
	}
	sink *s = calloc(1, sizeof *s);
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
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	int rc = pthread_create(&s->writer, NULL, writer_main, s);
	if (rc != 0) {
		host->log(ctx, ES_LOG_ERROR, "cannot start the writer thread: %s", strerror(rc));
		close(s->fd);
		free(s);
		return ES_STATUS_ERROR;
	}
	*state = s;
	return ES_STATUS_OK;
}

static void sink_handle_async(void *state, const es_event *event, es_delivery *delivery)
{
	sink *s = state;
	pthread_mutex_lock(&s->lock);
	if (s->count == QUEUE_MAX) {
		pthread_mutex_unlock(&s->lock);
		s->host->delivery_complete(delivery, ES_RETRY, "writer queue full");
		return;
	}
	s->queue[s->count++] = (queued){.event = event, .delivery = delivery};
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

static es_result sink_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	int e = write_events(state, &(queued){.event = event}, 1);
	if (e) {
		snprintf(err, err_size, "cannot write: %s", strerror(e));
		return ES_RETRY;
	}
	return ES_OK;
}

/* The host calls this once no delivery is outstanding on its side (each
 * was completed or timed out).  Join the writer, then complete what it
 * left: those completions are late and ignored, and after this returns the
 * plugin must not call the host again. */
static void sink_shutdown(void *state)
{
	sink *s = state;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->writer, NULL);
	complete_all(s, s->queue, s->count, ES_RETRY, "plugin stopping");
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
	free(s);
}

ES_PLUGIN_DEFINE(.name = "async_sink", .version = "1.1.0", .description = "appends events to a file from its own thread",
                 .init = sink_init, .handle = sink_handle, .handle_async = sink_handle_async,
                 .shutdown = sink_shutdown);
