/* Test plugin: an asynchronous sink (SDK 1.1 handle_async).  handle_async()
 * only queues the delivery; the plugin's own thread completes it later and
 * appends "async <name> <id> <attempt> <result> <status>" to config.record,
 * where <status> is what delivery_complete() answered (0 ok, 1 not found:
 * late).  The line is written from the event's accessors at completion
 * time, after the deadline too: the host keeps the event until then.
 *   ok.*          ES_OK after config delay_ms (default 0)
 *   retry.once.*  ES_RETRY "try again" on attempt 1, then ok
 *   late.once.*   attempt 1 completed after config late_ms (past the
 *                 deadline: a timeout), then ok in time
 *   never.*       never completed; shutdown() completes them (late)
 *   block.once.*  on attempt 1 the call itself takes config block_ms
 *                 (default 1000) and then completes ES_OK from inside the
 *                 call (past the deadline: late), then ok in time
 * Counters: completed, late (delivery_complete said ES_STATUS_NOT_FOUND). */
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

#define PENDING_MAX 4096

typedef struct pending {
	es_delivery *delivery;
	const es_event *event; /* the host's: valid until completed */
	uint32_t attempt;
	int64_t due_ms;
	es_result result;
	const char *reason;
	bool never;
} pending;

typedef struct async_state {
	const es_host_api *host;
	es_plugin_ctx *ctx;
	int record_fd;
	int64_t delay_ms, late_ms, block_ms;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	pending items[PENDING_MAX];
	size_t count;
	bool stopping;
	pthread_t thread;
} async_state;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void complete(async_state *st, const pending *p)
{
	/* read the event now, before completing: it may go once completed */
	char line[512];
	int n = snprintf(line, sizeof line, "async %s %s %u %s ", st->host->event_name(p->event),
	                 st->host->event_id(p->event), p->attempt,
	                 p->result == ES_OK ? "ok" : p->result == ES_RETRY ? "retry" : "fail");
	es_status status = st->host->delivery_complete(p->delivery, p->result, p->reason);
	st->host->counter_add(st->ctx, status == ES_STATUS_OK ? "completed" : "late", 1);
	if (st->record_fd >= 0 && n > 0) {
		int m = snprintf(line + n, sizeof line - (size_t)n, "%d\n", (int)status);
		if (m > 0 && write(st->record_fd, line, (size_t)(n + m)) < 0)
			st->host->log(st->ctx, ES_LOG_ERROR, "cannot record");
	}
}

static void *completer_main(void *arg)
{
	async_state *st = arg;
	pthread_mutex_lock(&st->lock);
	while (!st->stopping) {
		int64_t now = now_ms(), next = now + 1000;
		for (size_t i = 0; i < st->count;) {
			if (st->items[i].never || st->items[i].due_ms > now) {
				if (!st->items[i].never && st->items[i].due_ms < next)
					next = st->items[i].due_ms;
				i++;
				continue;
			}
			pending p = st->items[i];
			st->items[i] = st->items[--st->count];
			pthread_mutex_unlock(&st->lock);
			complete(st, &p);
			pthread_mutex_lock(&st->lock);
			now = now_ms();
		}
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		int64_t wait = next - now_ms();
		if (wait < 1)
			continue;
		until.tv_sec += wait / 1000;
		until.tv_nsec += (wait % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&st->changed, &st->lock, &until);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

static es_status async_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	if (!ES_HOST_HAS(host, delivery_complete)) {
		host->log(ctx, ES_LOG_ERROR, "this host has no delivery_complete()");
		return ES_STATUS_ERROR;
	}
	async_state *st = calloc(1, sizeof *st);
	if (!st)
		return ES_STATUS_ERROR;
	st->host = host;
	st->ctx = ctx;
	st->record_fd = -1;
	const char *record = NULL;
	if (host->config_string(ctx, "record", &record) == ES_STATUS_OK)
		st->record_fd = open(record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	host->config_int(ctx, "delay_ms", &st->delay_ms);
	st->late_ms = 1000;
	host->config_int(ctx, "late_ms", &st->late_ms);
	st->block_ms = 1000;
	host->config_int(ctx, "block_ms", &st->block_ms);
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->changed, NULL);
	int rc = pthread_create(&st->thread, NULL, completer_main, st);
	if (rc != 0) {
		host->log(ctx, ES_LOG_ERROR, "cannot start its thread: %s", strerror(rc));
		free(st);
		return ES_STATUS_ERROR;
	}
	*state = st;
	return ES_STATUS_OK;
}

static void async_handle_async(void *state, const es_event *event, es_delivery *delivery)
{
	async_state *st = state;
	const char *name = st->host->event_name(event);
	/* per-call accessors answer inside the call only: read them now */
	pending p = {.delivery = delivery, .event = event, .attempt = st->host->delivery_attempt(event),
	             .due_ms = now_ms() + st->delay_ms, .result = ES_OK};
	if (strncmp(name, "retry.once.", 11) == 0 && p.attempt == 1) {
		p.result = ES_RETRY;
		p.reason = "try again";
	} else if (strncmp(name, "late.once.", 10) == 0 && p.attempt == 1) {
		p.due_ms = now_ms() + st->late_ms;
	} else if (strncmp(name, "never.", 6) == 0) {
		p.never = true;
	} else if (strncmp(name, "block.once.", 11) == 0 && p.attempt == 1) {
		/* a slow start (a DNS lookup, a full socket) inside the call */
		struct timespec t = {(time_t)(st->block_ms / 1000), (long)(st->block_ms % 1000) * 1000000L};
		nanosleep(&t, NULL);
		complete(st, &p);
		return;
	}
	pthread_mutex_lock(&st->lock);
	if (st->count == PENDING_MAX) {
		pthread_mutex_unlock(&st->lock);
		st->host->delivery_complete(delivery, ES_RETRY, "plugin queue full");
		return;
	}
	st->items[st->count++] = p;
	pthread_cond_signal(&st->changed);
	pthread_mutex_unlock(&st->lock);
}

/* A 1.0 host calls this one. */
static es_result async_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	(void)state;
	(void)event;
	(void)err;
	(void)err_size;
	return ES_OK;
}

/* Stop and join the thread, then complete what is left: the host counted
 * those as timeouts already, so each completion is a late one. */
static void async_shutdown(void *state)
{
	async_state *st = state;
	pthread_mutex_lock(&st->lock);
	st->stopping = true;
	pthread_cond_signal(&st->changed);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->thread, NULL);
	size_t left = st->count, late = 0;
	for (size_t i = 0; i < st->count; i++) {
		st->items[i].result = ES_RETRY;
		st->items[i].reason = "plugin stopping";
		if (st->host->delivery_complete(st->items[i].delivery, ES_RETRY, "plugin stopping") ==
		    ES_STATUS_NOT_FOUND)
			late++;
	}
	st->host->log(st->ctx, ES_LOG_INFO, "shutdown: %zu deliveries were outstanding, %zu completions were late",
	              left, late);
	if (st->record_fd >= 0)
		close(st->record_fd);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->changed);
	free(st);
}

static const char *const subs[] = {"**", NULL};
ES_PLUGIN_DEFINE(.name = "async", .version = "0.1.0", .default_subscriptions = subs, .init = async_init,
                 .handle = async_handle, .handle_async = async_handle_async, .shutdown = async_shutdown);
