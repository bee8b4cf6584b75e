/* batch_sink: appends events to a file, many per write() and fdatasync().
 * The handle() calls running at the same time on the plugin's workers join
 * one batch: the first waits up to linger_ms for others (at most
 * batch_max, never more than `workers`), writes them all, and every call
 * returns the outcome of that write.  The host still retries and
 * dead-letters each event on its own. */
#define _POSIX_C_SOURCE 200809L
#include <event-system/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct batch {
	char *lines;          /* the members' lines, one after the other */
	size_t len, count, members_left;
	bool sealed, done;    /* sealed: no one joins; done: result is set */
	es_result result;
};

struct sink {
	const es_host_api *host;
	es_plugin_ctx *ctx;
	int fd;
	int64_t batch_max, linger_ms;
	pthread_mutex_t lock; /* guards forming and every batch */
	pthread_cond_t changed;
	struct batch *forming; /* the batch new events join, or NULL */
};

static es_status sink_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	if (!ES_HOST_HAS(host, event_data_bytes))
		return ES_STATUS_ERROR; /* uses nothing newer, but says so */
	const char *path;
	struct sink *s = calloc(1, sizeof *s);
	if (!s)
		return ES_STATUS_ERROR;
	s->host = host;
	s->ctx = ctx;
	s->batch_max = 64;
	s->linger_ms = 5;
	host->config_int(ctx, "batch_max", &s->batch_max);
	host->config_int(ctx, "linger_ms", &s->linger_ms);
	if (host->config_string(ctx, "path", &path) != ES_STATUS_OK || s->batch_max < 1 || s->linger_ms < 0) {
		host->log(ctx, ES_LOG_ERROR, "config: path is required; batch_max >= 1, linger_ms >= 0");
		free(s);
		return ES_STATUS_INVALID;
	}
	s->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (s->fd < 0) {
		host->log(ctx, ES_LOG_ERROR, "cannot open %s: %s", path, strerror(errno));
		free(s);
		return ES_STATUS_ERROR;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t attr; /* waits on the monotonic clock: immune to clock steps */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&s->changed, &attr);
	pthread_condattr_destroy(&attr);
	*state = s;
	return ES_STATUS_OK;
}

/* The leader writes the sealed batch, without the lock. */
static es_result write_batch(struct sink *s, struct batch *b)
{
	size_t done = 0;
	while (done < b->len) {
		ssize_t n = write(s->fd, b->lines + done, b->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ES_RETRY;
		done += (size_t)n;
	}
	if (fdatasync(s->fd) != 0)
		return ES_RETRY;
	s->host->counter_add(s->ctx, "batches", 1);
	s->host->gauge_set(s->ctx, "last_batch_size", (int64_t)b->count);
	return ES_OK;
}

static es_result sink_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	struct sink *s = state;
	size_t len;
	const char *json = s->host->event_json(event, &len); /* one line */
	pthread_mutex_lock(&s->lock);
	struct batch *b = s->forming;
	bool leader = !b;
	if (leader) {
		b = s->forming = calloc(1, sizeof *b);
		if (!b) {
			pthread_mutex_unlock(&s->lock);
			snprintf(err, err_size, "out of memory");
			return ES_RETRY;
		}
	}
	char *grown = realloc(b->lines, b->len + len + 1);
	if (grown) {
		memcpy(grown + b->len, json, len);
		grown[b->len + len] = '\n';
		b->lines = grown;
		b->len += len + 1;
		b->count++;
	}
	b->members_left++;
	if ((int64_t)b->count >= s->batch_max && !b->sealed) {
		b->sealed = true;
		s->forming = NULL;
		pthread_cond_broadcast(&s->changed);
	}
	if (leader) {
		/* wait for others to join, up to linger_ms (or the deadline) */
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)(s->linger_ms % 1000) * 1000000L;
		until.tv_sec += s->linger_ms / 1000 + until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (!b->sealed && pthread_cond_timedwait(&s->changed, &s->lock, &until) != ETIMEDOUT)
			;
		if (!b->sealed) {
			b->sealed = true;
			s->forming = NULL;
		}
		pthread_mutex_unlock(&s->lock);
		es_result r = write_batch(s, b);
		pthread_mutex_lock(&s->lock);
		b->result = r;
		b->done = true;
		pthread_cond_broadcast(&s->changed);
	} else {
		/* the leader's write is bounded by the disk; the host's deadline
		 * covers this call too */
		while (!b->done)
			pthread_cond_wait(&s->changed, &s->lock);
	}
	es_result r = grown ? b->result : ES_RETRY;
	bool last = --b->members_left == 0;
	pthread_mutex_unlock(&s->lock);
	if (last) {
		free(b->lines);
		free(b);
	}
	if (r != ES_OK)
		snprintf(err, err_size, grown ? "write or fdatasync failed" : "out of memory");
	return r;
}

static void sink_shutdown(void *state)
{
	struct sink *s = state;
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->changed);
	free(s);
}

ES_PLUGIN_DEFINE(.name = "batch_sink", .version = "1.0.0", .description = "appends events to a file in batches",
                 .init = sink_init, .handle = sink_handle, .shutdown = sink_shutdown);
