/*
 * Shared helpers for the test-only plugins: each appends one line per
 * delivery to the file named by its `config.record`, so runtime tests can
 * check exactly what a plugin received:  "<plugin> <event name> <event id> <attempt>";
 * and, with `config.record_json`, one JSON line per delivery:
 * {"attempt": N, "redelivered": 0/1 (-1 from a 1.0 host), "event": event_json}.
 */
#ifndef TEST_PLUGIN_H
#define TEST_PLUGIN_H

#include <event-system/plugin.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

typedef struct tp_state {
	const es_host_api *host;
	es_plugin_ctx *ctx;
	int record_fd; /* -1: not recording */
	int json_fd;   /* -1: not recording event_json */
	int64_t delay_ms;
	int64_t succeed_on_attempt;
} tp_state;

static inline es_status tp_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	tp_state *st = calloc(1, sizeof *st);
	if (!st)
		return ES_STATUS_ERROR;
	st->host = host;
	st->ctx = ctx;
	st->record_fd = -1;
	st->json_fd = -1;
	const char *record = NULL;
	if (host->config_string(ctx, "record", &record) == ES_STATUS_OK)
		st->record_fd = open(record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (host->config_string(ctx, "record_json", &record) == ES_STATUS_OK)
		st->json_fd = open(record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	host->config_int(ctx, "delay_ms", &st->delay_ms);
	st->succeed_on_attempt = 3;
	host->config_int(ctx, "succeed_on_attempt", &st->succeed_on_attempt);
	*state = st;
	return ES_STATUS_OK;
}

static inline void tp_record(tp_state *st, const es_event *event, const char *what)
{
	if (st->record_fd < 0)
		return;
	char line[512];
	int n = snprintf(line, sizeof line, "%s %s %s %u %s\n", st->host->plugin_name(st->ctx),
	                 st->host->event_name(event), st->host->event_id(event), st->host->delivery_attempt(event), what);
	if (n > 0 && write(st->record_fd, line, (size_t)n) < 0)
		st->host->log(st->ctx, ES_LOG_ERROR, "cannot record");
}

/* The delivery and the event's JSON as one line to config.record_json. */
static inline void tp_record_json(tp_state *st, const es_event *event)
{
	size_t len = 0;
	const char *json = st->json_fd < 0 ? NULL : st->host->event_json(event, &len);
	char head[96];
	int redelivered = ES_HOST_HAS(st->host, delivery_redelivered) ? st->host->delivery_redelivered(event) : -1;
	int head_len = snprintf(head, sizeof head, "{\"attempt\":%u,\"redelivered\":%d,\"event\":",
	                        st->host->delivery_attempt(event), redelivered);
	struct iovec line[3] = {{.iov_base = head, .iov_len = (size_t)head_len},
	                        {.iov_base = (void *)json, .iov_len = len},
	                        {.iov_base = "}\n", .iov_len = 2}};
	if (json && writev(st->json_fd, line, 3) < 0) /* one write: lines of concurrent workers stay whole */
		st->host->log(st->ctx, ES_LOG_ERROR, "cannot record");
}

static inline void tp_sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Append "LINE\n" to the file at `path` (a plugin's shutdown() says it
 * ran, for a test to count). */
static inline void tp_append_line(const char *path, const char *line)
{
	FILE *f = fopen(path, "a");
	if (f) {
		fprintf(f, "%s\n", line);
		fclose(f);
	}
}

static inline void tp_shutdown(void *state)
{
	tp_state *st = state;
	if (st->record_fd >= 0)
		close(st->record_fd);
	if (st->json_fd >= 0)
		close(st->json_fd);
	free(st);
}

#endif
