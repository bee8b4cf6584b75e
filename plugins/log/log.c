/*
 * log: appends every event it receives to a file as one JSON line
 * ({"id","name","source","time","data","attributes"}: each attribute with
 * its JSON type, a string, an integer or a boolean), and reopens the file
 * on SIGHUP so logrotate can move it away (see configs/logrotate).
 *
 * config:
 *   path: events.log   # relative paths resolve against $LOGS_DIRECTORY
 *                      # (systemd's LogsDirectory=), else the working directory
 *   fsync: false       # fsync after each line (durable, slow)
 */
#include <event-system/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

struct log_state {
	const es_host_api *host;
	es_plugin_ctx *ctx;
	char path[4096];
	int fsync_each;
	pthread_mutex_t lock; /* guards fd against reopen() */
	int fd;
};

static int lg_open(struct log_state *st)
{
	int fd = open(st->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0) {
		st->host->log(st->ctx, ES_LOG_ERROR, "cannot open %s: %s", st->path, strerror(errno));
		return -1;
	}
	return fd;
}

static es_status lg_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	struct log_state *st = calloc(1, sizeof *st);
	if (!st)
		return ES_STATUS_ERROR;
	st->host = host;
	st->ctx = ctx;
	const char *path = "events.log";
	if (host->config_string(ctx, "path", &path) == ES_STATUS_WRONG_TYPE || !path[0]) {
		host->log(ctx, ES_LOG_ERROR, "config.path must be a file name");
		free(st);
		return ES_STATUS_INVALID;
	}
	const char *logs_dir = getenv("LOGS_DIRECTORY"); /* set by systemd's LogsDirectory= */
	if (path[0] != '/' && logs_dir && logs_dir[0])
		snprintf(st->path, sizeof st->path, "%s/%s", logs_dir, path);
	else
		snprintf(st->path, sizeof st->path, "%s", path);
	if (host->config_bool(ctx, "fsync", &st->fsync_each) == ES_STATUS_WRONG_TYPE) {
		host->log(ctx, ES_LOG_ERROR, "config.fsync must be true or false");
		free(st);
		return ES_STATUS_INVALID;
	}
	st->fd = lg_open(st);
	if (st->fd < 0) {
		free(st);
		return ES_STATUS_ERROR;
	}
	pthread_mutex_init(&st->lock, NULL);
	host->log(ctx, ES_LOG_INFO, "writing events to %s", st->path);
	*state = st;
	return ES_STATUS_OK;
}

static es_result lg_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	struct log_state *st = state;
	size_t len = 0;
	const char *json = st->host->event_json(event, &len);
	if (!json) {
		snprintf(err, err_size, "out of memory");
		return ES_RETRY;
	}
	struct iovec iov[2] = {{.iov_base = (void *)json, .iov_len = len}, {.iov_base = "\n", .iov_len = 1}};
	pthread_mutex_lock(&st->lock);
	ssize_t n = writev(st->fd, iov, 2);
	int saved = errno;
	if (n == (ssize_t)(len + 1) && st->fsync_each)
		fsync(st->fd);
	pthread_mutex_unlock(&st->lock);
	if (n != (ssize_t)(len + 1)) {
		snprintf(err, err_size, "write to %s failed: %s", st->path, n < 0 ? strerror(saved) : "short write");
		return ES_RETRY;
	}
	return ES_OK;
}

static void lg_reopen(void *state)
{
	struct log_state *st = state;
	int fd = lg_open(st);
	if (fd < 0)
		return; /* keep writing to the old file rather than lose events */
	pthread_mutex_lock(&st->lock);
	int old = st->fd;
	st->fd = fd;
	pthread_mutex_unlock(&st->lock);
	close(old);
	st->host->log(st->ctx, ES_LOG_INFO, "reopened %s", st->path);
}

static void lg_shutdown(void *state)
{
	struct log_state *st = state;
	close(st->fd);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static const char *const lg_subscriptions[] = {"**", NULL};

ES_PLUGIN_DEFINE(
	.name = "log",
	.version = "1.0.0",
	.description = "Appends each event as one JSON line to a file",
	.default_subscriptions = lg_subscriptions,
	.init = lg_init,
	.handle = lg_handle,
	.shutdown = lg_shutdown,
	.reopen = lg_reopen,
);
