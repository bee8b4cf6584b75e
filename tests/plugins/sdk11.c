/*
 * Test plugin: calls every function ABI 1.1 added and writes what it got as
 * one JSON line per call to `config.record`, so tests/runtime/sdk11.sh can
 * check each.  At init: the config readers (double, map keys, a list of
 * maps, secrets, null), the metric names (valid, invalid, past the limit)
 * and log_enabled().  Per event: attributes and their types, content type, data bytes, time
 * text, deadline, redelivered, event_json, and for "sdk.emit" an
 * emit_event() with source and attributes.
 */
#include <event-system/plugin.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct state {
	const es_host_api *host;
	es_plugin_ctx *ctx;
	int fd;
};

struct line {
	char buf[16384];
	size_t len;
};

static void put(struct line *l, const char *s)
{
	size_t n = strlen(s);
	if (l->len + n < sizeof l->buf) {
		memcpy(l->buf + l->len, s, n);
		l->len += n;
	}
}

static void put_string(struct line *l, const char *s)
{
	if (!s) {
		put(l, "null");
		return;
	}
	put(l, "\"");
	for (; *s; s++) {
		char c[8] = {*s, 0};
		if (*s == '"' || *s == '\\')
			snprintf(c, sizeof c, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			snprintf(c, sizeof c, "\\u%04x", (unsigned char)*s);
		put(l, c);
	}
	put(l, "\"");
}

static void put_key(struct line *l, const char *key)
{
	put(l, l->len > 1 ? "," : "");
	put_string(l, key);
	put(l, ":");
}

static void put_int(struct line *l, const char *key, long long v)
{
	char num[32];
	snprintf(num, sizeof num, "%lld", v);
	put_key(l, key);
	put(l, num);
}

static void put_hex(struct line *l, const char *key, const unsigned char *b, size_t n)
{
	put_key(l, key);
	if (!b) {
		put(l, "null");
		return;
	}
	put(l, "\"");
	for (size_t i = 0; i < n; i++) {
		char h[3];
		snprintf(h, sizeof h, "%02x", b[i]);
		put(l, h);
	}
	put(l, "\"");
}

static void emit_line(struct state *st, struct line *l)
{
	put(l, "}\n");
	if (write(st->fd, l->buf, l->len) < 0)
		st->host->log(st->ctx, ES_LOG_ERROR, "cannot record");
}

static void init_line(es_plugin_ctx *ctx, const es_host_api *h, struct state *st)
{
	struct line l = {.len = 0};
	put(&l, "{");
	put_int(&l, "abi_minor", h->abi_minor);
	put_int(&l, "has_1_1", ES_HOST_HAS(h, log_enabled));
	double d = 0;
	put_int(&l, "ratio_status", h->config_double(ctx, "ratio", &d));
	put_int(&l, "ratio_x1000", (long long)(d * 1000));
	put_int(&l, "int_as_double_status", h->config_double(ctx, "count", &d));
	put_int(&l, "int_as_double", (long long)d);
	put_int(&l, "word_as_double_status", h->config_double(ctx, "word", &d));
	size_t n = 0;
	put_int(&l, "headers_status", h->config_map_size(ctx, "headers", &n));
	put_key(&l, "header_keys");
	put(&l, "[");
	for (size_t i = 0; i < n; i++) {
		const char *k = NULL;
		h->config_map_key(ctx, "headers", i, &k);
		if (i)
			put(&l, ",");
		put_string(&l, k);
	}
	put(&l, "]");
	const char *k = NULL;
	put_int(&l, "key_past_end_status", h->config_map_key(ctx, "headers", n, &k));
	const char *url = NULL;
	put_int(&l, "target1_status", h->config_string(ctx, "targets.1.url", &url));
	put_key(&l, "target1_url");
	put_string(&l, url);
	int64_t weight = 0;
	h->config_int(ctx, "targets.1.weight", &weight);
	put_int(&l, "target1_weight", weight);
	put_int(&l, "target9_status", h->config_string(ctx, "targets.9.url", &url));
	const char *nothing = "untouched";
	put_int(&l, "null_status", h->config_string(ctx, "nothing", &nothing));
	put_key(&l, "null_value");
	put_string(&l, nothing);
	put_int(&l, "tilde_status", h->config_string(ctx, "tilde", &nothing));
	put_int(&l, "quoted_null_status", h->config_string(ctx, "quoted_null", &nothing));
	put_key(&l, "quoted_null");
	put_string(&l, nothing);
	char secret[64];
	put_int(&l, "secret_env_status", h->config_secret(ctx, "from_env", secret, sizeof secret));
	/* the test checks the secret's length, never writes it anywhere */
	put_int(&l, "secret_env_len", (long long)strlen(secret));
	memset(secret, 0, sizeof secret);
	put_int(&l, "secret_file_status", h->config_secret(ctx, "from_file", secret, sizeof secret));
	put_int(&l, "secret_file_len", (long long)strlen(secret));
	put_int(&l, "secret_unset_status", h->config_secret(ctx, "from_unset", secret, sizeof secret));
	put_int(&l, "secret_small_status", h->config_secret(ctx, "from_env", secret, 4));
	put_int(&l, "secret_absent_status", h->config_secret(ctx, "no_such_secret", secret, sizeof secret));
	put_int(&l, "secret_shape_status", h->config_secret(ctx, "count", secret, sizeof secret));
	memset(secret, 0, sizeof secret);
	put_int(&l, "log_debug", h->log_enabled(ctx, ES_LOG_DEBUG));
	put_int(&l, "log_error", h->log_enabled(ctx, ES_LOG_ERROR));
	emit_line(st, &l);

	/* metrics: two good names, two bad ones (logged once), then past the limit */
	h->counter_add(ctx, "handled", 0);
	h->gauge_set(ctx, "last_size", -5);
	h->counter_add(ctx, "Bad-Name", 1);
	h->gauge_set(ctx, "bad name", 1);
	for (int i = 0; i < ES_PLUGIN_MAX_METRICS + 4; i++) {
		char name[16];
		snprintf(name, sizeof name, "c%02d", i);
		h->counter_add(ctx, name, 1);
	}
	h->log(ctx, ES_LOG_INFO, "a line with\na newline and \033[31mescape\033[0m");
}

static es_status s_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	struct state *st = calloc(1, sizeof *st);
	const char *record = NULL;
	if (!st || host->config_string(ctx, "record", &record) != ES_STATUS_OK) {
		free(st);
		return ES_STATUS_INVALID;
	}
	st->host = host;
	st->ctx = ctx;
	st->fd = open(record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (st->fd < 0) {
		free(st);
		return ES_STATUS_ERROR;
	}
	init_line(ctx, host, st);
	*state = st;
	return ES_STATUS_OK;
}

static es_result s_handle(void *state, const es_event *e, char *err, size_t err_size)
{
	struct state *st = state;
	const es_host_api *h = st->host;
	struct line l = {.len = 0};
	put(&l, "{");
	put_key(&l, "id");
	put_string(&l, h->event_id(e));
	put_key(&l, "source");
	put_string(&l, h->event_source(e));
	put_key(&l, "attributes");
	put(&l, "[");
	size_t n = h->event_attribute_count(e);
	for (size_t i = 0; i < n; i++) {
		const char *k, *v;
		h->event_attribute_at(e, i, &k, &v);
		put(&l, i ? ",[" : "[");
		put_string(&l, k);
		put(&l, ",");
		put_string(&l, v);
		put(&l, "]");
	}
	put(&l, "]");
	const char *k = NULL, *v = NULL;
	put_int(&l, "attribute_past_end", h->event_attribute_at(e, n, &k, &v));
	if (ES_HOST_HAS(h, event_attribute_type_at)) {
		put_key(&l, "attribute_types");
		put(&l, "[");
		for (size_t i = 0; i < n; i++) {
			es_attribute_type type = (es_attribute_type)99;
			es_status status = h->event_attribute_type_at(e, i, &type);
			char item[32];
			snprintf(item, sizeof item, "%s%d", i ? "," : "", status == ES_STATUS_OK ? (int)type : -1);
			put(&l, item);
		}
		put(&l, "]");
		es_attribute_type untouched = (es_attribute_type)99;
		put_int(&l, "attribute_type_past_end", h->event_attribute_type_at(e, n, &untouched));
		put_int(&l, "attribute_type_past_end_value", (int)untouched);
	}
	put_key(&l, "content_type");
	put_string(&l, h->event_content_type(e));
	put_int(&l, "has_data", h->event_has_data(e));
	size_t len = 99;
	const void *bytes = h->event_data_bytes(e, &len);
	put_hex(&l, "bytes_hex", bytes, len);
	put_int(&l, "bytes_len", (long long)len);
	put_key(&l, "time_text");
	put_string(&l, h->event_time_text(e));
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t left_us = h->delivery_deadline_us(e) - ((int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000);
	put_int(&l, "deadline_left_ms", left_us / 1000);
	put_int(&l, "redelivered", h->delivery_redelivered(e));
	put_int(&l, "attempt", h->delivery_attempt(e));
	put_key(&l, "event_json");
	put_string(&l, h->event_json(e, NULL));
	if (strcmp(h->event_name(e), "sdk.emit") == 0) {
		es_attribute attrs[] = {{"tenant", "acme"}, {"trace", "t-1"}};
		es_emit em = ES_EMIT_INIT;
		em.name = "sdk.child";
		em.data_json = "{\"from\":\"parent\"}";
		em.data_len = strlen(em.data_json);
		em.source = "custom/source";
		em.attributes = attrs;
		em.attribute_count = 2;
		put_int(&l, "emit_status", h->emit_event(st->ctx, &em));
		es_attribute forged[] = {{ES_PARENT_ID_ATTRIBUTE, "forged"}};
		em.attributes = forged;
		em.attribute_count = 1;
		put_int(&l, "emit_forged_parent_status", h->emit_event(st->ctx, &em));
		es_attribute bad[] = {{"Bad", "x"}};
		em.attributes = bad;
		put_int(&l, "emit_bad_name_status", h->emit_event(st->ctx, &em));
		em.attributes = attrs;
		em.source = "custom/\nforged: line";
		put_int(&l, "emit_control_source_status", h->emit_event(st->ctx, &em));
		es_attribute escaped[] = {{"tenant", "acme\x1b[2J"}};
		em.source = "custom/source";
		em.attributes = escaped;
		put_int(&l, "emit_control_attribute_status", h->emit_event(st->ctx, &em));
		es_emit old = {.struct_size = 8, .name = "sdk.child"};
		put_int(&l, "emit_small_struct_status", h->emit_event(st->ctx, &old));
	}
	h->counter_add(st->ctx, "handled", 1);
	h->gauge_set(st->ctx, "last_size", (int64_t)n);
	emit_line(st, &l);
	(void)err;
	(void)err_size;
	return ES_OK;
}

static void s_shutdown(void *state)
{
	struct state *st = state;
	close(st->fd);
	free(st);
}

static const char *const subs[] = {"sdk.**", NULL};
ES_PLUGIN_DEFINE(.name = "sdk11", .version = "0.1.0", .default_subscriptions = subs, .init = s_init,
                 .handle = s_handle, .shutdown = s_shutdown);
