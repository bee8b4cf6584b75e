/*
 * Implementation of the host function table.  Every function here may be
 * called from any plugin thread, concurrently.
 */
#include "config.h"

#include "core/host_api.h"

#include "core/pipeline.h"
#include "core/held_emits.h"
#include "db/database.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/es_event.h"
#include "util/file_trust.h"
#include "util/json_strict.h"
#include "util/log.h"

/* The event a worker thread is handling, so emit() can bound the depth of
 * event chains (a plugin emitting events that route back to itself). */
#define EMIT_MAX_DEPTH 8

static void api_log(es_plugin_ctx *ctx, es_log_level level, const char *fmt, ...)
{
	log_level l = level <= ES_LOG_DEBUG ? (log_level)level : LOG_LEVEL_DEBUG;
	if (!log_enabled(l))
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(l, plugin_instance_name(ctx->instance), fmt, ap);
	va_end(ap);
}

static const char *api_event_id(const es_event *e)
{
	return e->id;
}

static const char *api_event_name(const es_event *e)
{
	return e->name;
}

static const char *api_event_source(const es_event *e)
{
	return e->source;
}

static int64_t api_event_time_us(const es_event *e)
{
	return e->time_us;
}

static const char *api_event_data(const es_event *e, size_t *len)
{
	if (len)
		*len = e->data_len;
	return e->data;
}

static const char *api_event_attribute(const es_event *e, const char *key)
{
	for (size_t i = 0; i < e->attribute_count; i++)
		if (strcmp(e->attributes[i].key, key) == 0)
			return e->attributes[i].value;
	return NULL;
}

static const char *api_event_json(const es_event *e, size_t *len)
{
	/* Building the cached JSON does not change what the event says. */
	return es_event_json((es_event *)e, len);
}

static uint32_t api_delivery_attempt(const es_event *e)
{
	return worker_pool_attempt_of(e); /* per event inside a batch call */
}

/* The node at a dotted path of map keys and list indexes ("targets.0.url");
 * NULL when a step is missing or the value is null (absent). */
static const ynode *config_at(es_plugin_ctx *ctx, const char *path)
{
	const ynode *n = plugin_instance_config(ctx->instance);
	if (!n || !path)
		return NULL;
	char step[256];
	while (n && *path) {
		size_t len = strcspn(path, ".");
		if (len == 0 || len >= sizeof step)
			return NULL;
		memcpy(step, path, len);
		step[len] = '\0';
		path += len + (path[len] == '.');
		if (n->kind == YNODE_MAP) {
			n = ynode_get(n, step);
		} else if (n->kind == YNODE_LIST) {
			char *end;
			errno = 0;
			unsigned long long i = strtoull(step, &end, 10);
			n = step[0] >= '0' && step[0] <= '9' && !*end && !errno && i < n->count ? n->items[i] : NULL;
		} else {
			return NULL;
		}
	}
	return n && !ynode_is_null(n) ? n : NULL;
}

/* The scalar at `path`: NOT_FOUND when absent (or null), WRONG_TYPE when
 * a list or map, or when `plain` and the scalar was quoted or is empty (a
 * number or a boolean is never written in quotes). */
static es_status scalar_at(es_plugin_ctx *ctx, const char *path, bool plain, const ynode **out)
{
	const ynode *n = config_at(ctx, path);
	if (!n)
		return ES_STATUS_NOT_FOUND;
	if (n->kind != YNODE_SCALAR || (plain && (n->quoted || !n->scalar[0])))
		return ES_STATUS_WRONG_TYPE;
	*out = n;
	return ES_STATUS_OK;
}

static es_status api_config_string(es_plugin_ctx *ctx, const char *path, const char **out)
{
	const ynode *n;
	es_status status = scalar_at(ctx, path, false, &n);
	if (status == ES_STATUS_OK)
		*out = n->scalar;
	return status;
}

static es_status api_config_int(es_plugin_ctx *ctx, const char *path, int64_t *out)
{
	const ynode *n;
	es_status status = scalar_at(ctx, path, true, &n);
	if (status != ES_STATUS_OK)
		return status;
	char *end;
	errno = 0;
	long long v = strtoll(n->scalar, &end, 10);
	if (*end || errno)
		return ES_STATUS_WRONG_TYPE;
	*out = v;
	return ES_STATUS_OK;
}

static es_status api_config_double(es_plugin_ctx *ctx, const char *path, double *out)
{
	const ynode *n;
	es_status status = scalar_at(ctx, path, true, &n);
	if (status != ES_STATUS_OK)
		return status;
	char *end;
	errno = 0;
	double v = strtod(n->scalar, &end);
	/* finite decimal numbers only: no "inf", "nan" or hex floats */
	if (*end || errno || !isfinite(v) || strpbrk(n->scalar, "xXiInN"))
		return ES_STATUS_WRONG_TYPE;
	*out = v;
	return ES_STATUS_OK;
}

static es_status api_config_bool(es_plugin_ctx *ctx, const char *path, int *out)
{
	const ynode *n;
	es_status status = scalar_at(ctx, path, true, &n);
	if (status != ES_STATUS_OK)
		return status;
	if (strcmp(n->scalar, "true") == 0 || strcmp(n->scalar, "yes") == 0 || strcmp(n->scalar, "on") == 0)
		*out = 1;
	else if (strcmp(n->scalar, "false") == 0 || strcmp(n->scalar, "no") == 0 || strcmp(n->scalar, "off") == 0)
		*out = 0;
	else
		return ES_STATUS_WRONG_TYPE;
	return ES_STATUS_OK;
}

static es_status api_config_list_size(es_plugin_ctx *ctx, const char *path, size_t *out)
{
	const ynode *n = config_at(ctx, path);
	if (!n)
		return ES_STATUS_NOT_FOUND;
	if (n->kind != YNODE_LIST)
		return ES_STATUS_WRONG_TYPE;
	*out = n->count;
	return ES_STATUS_OK;
}

static es_status api_config_list_string(es_plugin_ctx *ctx, const char *path, size_t index, const char **out)
{
	const ynode *n = config_at(ctx, path);
	if (!n || n->kind != YNODE_LIST || index >= n->count)
		return n ? ES_STATUS_WRONG_TYPE : ES_STATUS_NOT_FOUND;
	if (n->items[index]->kind != YNODE_SCALAR)
		return ES_STATUS_WRONG_TYPE;
	*out = n->items[index]->scalar;
	return ES_STATUS_OK;
}

static es_status api_config_map_size(es_plugin_ctx *ctx, const char *path, size_t *out)
{
	const ynode *n = path && !*path ? plugin_instance_config(ctx->instance) : config_at(ctx, path);
	if (!n)
		return ES_STATUS_NOT_FOUND;
	if (n->kind != YNODE_MAP)
		return ES_STATUS_WRONG_TYPE;
	*out = n->count;
	return ES_STATUS_OK;
}

static es_status api_config_map_key(es_plugin_ctx *ctx, const char *path, size_t index, const char **out)
{
	const ynode *n = path && !*path ? plugin_instance_config(ctx->instance) : config_at(ctx, path);
	if (!n)
		return ES_STATUS_NOT_FOUND;
	if (n->kind != YNODE_MAP)
		return ES_STATUS_WRONG_TYPE;
	if (index >= n->count)
		return ES_STATUS_NOT_FOUND;
	*out = n->keys[index];
	return ES_STATUS_OK;
}

/* Reads a secret from `env: NAME` or `file: PATH`; the value itself is
 * never logged, only where it was looked for. */
static es_status api_config_secret(es_plugin_ctx *ctx, const char *path, char *out, size_t out_size)
{
	const char *plugin = plugin_instance_name(ctx->instance);
	const ynode *n = config_at(ctx, path);
	if (!n)
		return ES_STATUS_NOT_FOUND;
	const ynode *env = n->kind == YNODE_MAP ? ynode_get(n, "env") : NULL;
	const ynode *file = n->kind == YNODE_MAP ? ynode_get(n, "file") : NULL;
	if (n->kind != YNODE_MAP || n->count != 1 || (!env && !file) || (env ? env : file)->kind != YNODE_SCALAR)
		return ES_STATUS_WRONG_TYPE;
	if (!out || out_size == 0)
		return ES_STATUS_INVALID;
	if (env) {
		const char *v = getenv(env->scalar);
		if (!v || !*v) {
			LOG_ERROR(plugin, "config.%s: environment variable %s is not set or empty", path, env->scalar);
			return ES_STATUS_INVALID;
		}
		size_t len = strlen(v);
		if (len >= out_size) {
			LOG_ERROR(plugin, "config.%s: the secret in %s is longer than the %zu bytes the plugin takes", path,
			          env->scalar, out_size - 1);
			return ES_STATUS_INVALID;
		}
		memcpy(out, v, len + 1);
		return ES_STATUS_OK;
	}
	/* Only a regular file: opening a FIFO (or a device) with no writer
	 * would block the plugin's init() -- the start or a reload -- forever. */
	char why[512];
	struct stat st;
	int fd = file_open_regular(file->scalar, "secret file", &st, why, sizeof why);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
	if (!f) {
		if (fd >= 0) {
			snprintf(why, sizeof why, "cannot read %s: %s", file->scalar, strerror(errno));
			close(fd);
		}
		LOG_ERROR(plugin, "config.%s: %s", path, why);
		return ES_STATUS_INVALID;
	}
	size_t len = fread(out, 1, out_size, f);
	bool failed = ferror(f) != 0;
	fclose(f);
	if (len > 0 && out[len - 1] == '\n')
		len--;
	if (failed || len >= out_size || len == 0 || memchr(out, '\0', len)) {
		memset(out, 0, out_size);
		LOG_ERROR(plugin, "config.%s: %s is %s", path, file->scalar,
		          failed ? "unreadable" : len == 0 ? "empty" : len >= out_size ? "longer than the plugin takes"
		                                                                     : "not text (has a NUL byte)");
		return ES_STATUS_INVALID;
	}
	out[len] = '\0';
	return ES_STATUS_OK;
}

/* Route a created event (the caller keeps its reference). */
static es_status emit_route(database *db, js_link *jetstream, routing_table *table, es_event *event, char *err,
                            size_t err_size)
{
	if (jetstream) {
		/* the handler waits for JetStream (publish_timeout_ms at most) */
		dispatch_result result;
		publish_start ps = pipeline_publish_wait(jetstream, table, event, &result, err, err_size);
		if (ps != PUBLISH_REFUSED)
			pipeline_record_published(db, event, ps == PUBLISH_PENDING); /* its history row */
		return ps == PUBLISH_REFUSED ? ES_STATUS_BUSY : ES_STATUS_OK;
	}
	/* Emitted events are recorded without waiting: a handler never blocks
	 * on the database. */
	pipeline_record(db, event);
	admission a = {0};
	admit_status st = pipeline_admit(db, table, event, &a);
	if (st == ADMIT_BUSY)
		snprintf(err, err_size, "queue of plugin '%s' is full", plugin_instance_name(a.result.busy));
	return st == ADMIT_QUEUED ? ES_STATUS_OK : ES_STATUS_BUSY;
}

es_status host_emit_event(router *rt, database *db, js_link *jetstream, const char *source, uint32_t depth, const char *name, const char *data_json,
                          size_t len, size_t max_size, char *err, size_t err_size)
{
	return host_emit_event_with(rt, db, jetstream, source, depth, name, data_json, len, NULL, 0, max_size, err,
	                            err_size);
}

es_status host_emit_event_with(router *rt, database *db, js_link *jetstream, const char *source, uint32_t depth, const char *name,
                               const char *data_json, size_t len, const es_event_attribute *attributes,
                               size_t attribute_count, size_t max_size, char *err, size_t err_size)
{
	if (!name || !es_event_name_valid(name, strlen(name), err, err_size))
		return ES_STATUS_INVALID;
	if (depth > EMIT_MAX_DEPTH) {
		snprintf(err, err_size, "event chain deeper than %d (a plugin emitting events that route back to it?)",
		         EMIT_MAX_DEPTH);
		return ES_STATUS_INVALID;
	}
	if (data_json && len > max_size) {
		snprintf(err, err_size, "data is %zu bytes, more than the %zu allowed", len, max_size);
		return ES_STATUS_INVALID;
	}
	json_strict_error why;
	if (data_json && !json_strict_valid(data_json, len, JSON_STRICT_NO_NUL, &why)) {
		snprintf(err, err_size, "data is not valid JSON at byte %zu: %s", why.offset, why.reason);
		return ES_STATUS_INVALID;
	}
	es_event_fields f = {.name = name,
	                  .source = source,
	                  .data = data_json,
	                  .data_len = len,
	                  .attributes = attributes,
	                  .attribute_count = attribute_count,
	                  .depth = depth};
	es_event *event = pipeline_event_create(db, &f);
	if (!event) {
		snprintf(err, err_size, "out of memory");
		return ES_STATUS_ERROR;
	}
	routing_table *table = router_acquire(rt);
	if (routing_table_generation(table) == 0) {
		/* The daemon is starting (an init() emits): no plugin is routed
		 * yet, so the event waits for the first table. */
		held_status held = held_emits_put(event);
		if (held == HELD_OK) {
			routing_table_unref(table);
			return ES_STATUS_OK;
		}
		if (held == HELD_FULL) {
			routing_table_unref(table);
			es_event_unref(event);
			snprintf(err, err_size, "more than %d events emitted before the daemon is ready", HELD_EMITS_MAX);
			return ES_STATUS_BUSY;
		}
		routing_table_unref(table); /* published meanwhile: route by it */
		table = router_acquire(rt);
	}
	es_status st = emit_route(db, jetstream, table, event, err, err_size);
	routing_table_unref(table);
	es_event_unref(event);
	return st;
}

void host_emit_release_held(router *rt, database *db, js_link *jetstream)
{
	es_event **events;
	size_t count;
	held_emits_take(&events, &count);
	if (!count)
		return;
	routing_table *table = router_acquire(rt);
	size_t refused = 0;
	for (size_t i = 0; i < count; i++) {
		char err[256];
		if (emit_route(db, jetstream, table, events[i], err, sizeof err) != ES_STATUS_OK) {
			refused++;
			LOG_WARN("main", "event %s (%s) emitted by %s from init() refused at start: %s", events[i]->id,
			         events[i]->name, events[i]->source, err);
		}
		es_event_unref(events[i]);
	}
	routing_table_unref(table);
	free(events);
	LOG_INFO("main", "%zu event%s emitted from init() routed now that the plugins run (%zu refused)", count,
	         count == 1 ? "" : "s", refused);
}

static es_status api_emit(es_plugin_ctx *ctx, const char *name, const char *data_json, size_t len)
{
	const host_services *s = plugin_instance_services(ctx->instance);
	char source[96], err[256];
	snprintf(source, sizeof source, "plugin:%s", plugin_instance_name(ctx->instance));
	const es_event *handling = plugin_instance_handling();
	uint32_t depth = handling ? handling->depth + 1 : 0;
	es_status st = host_emit_event(s->router, s->db, s->jetstream, source, depth, name, data_json, len, s->max_event_size, err, sizeof err);
	if (st != ES_STATUS_OK)
		plugin_instance_note_emit_refused(ctx->instance, name ? name : "(null)", err);
	return st;
}

/* The most attributes an emitted event takes from the plugin (one more,
 * the parent's id, is the host's). */
#define EMIT_MAX_ATTRIBUTES 32

/* Whether attribute `i` of an emit is refused (the reason in err): a NULL
 * key or value, a name that is not a CloudEvents name or is reserved, a
 * value that is not UTF-8, or a name given before. */
static bool emit_attribute_refused(const es_attribute *attrs, size_t i, char *err, size_t err_size)
{
	const char *k = attrs[i].key, *v = attrs[i].value;
	char why[96];
	const char *reserved;
	if (!k || !v) {
		snprintf(err, err_size, "attribute %zu has a NULL key or value", i);
		return true;
	}
	if (!es_event_attribute_name_valid(k, why, sizeof why)) {
		snprintf(err, err_size, "attribute name '%.64s' %s", k, why);
		return true;
	}
	if ((reserved = es_event_attribute_reserved(k)) || strcmp(k, ES_PARENT_ID_ATTRIBUTE) == 0) {
		snprintf(err, err_size, "attribute '%s' %s", k, reserved ? reserved : "is set by the host");
		return true;
	}
	if (!utf8_valid(v, strlen(v))) {
		snprintf(err, err_size, "attribute '%s' is not valid UTF-8", k);
		return true;
	}
	if ((reserved = es_event_attribute_value_refused(k, v, why, sizeof why))) {
		snprintf(err, err_size, "attribute '%s' %s", k, reserved);
		return true;
	}
	for (size_t j = 0; j < i; j++) /* checked before: not NULL */
		if (strcmp(attrs[j].key, k) == 0) {
			snprintf(err, err_size, "attribute '%s' is given more than once", k);
			return true;
		}
	return false;
}

static es_status api_emit_event(es_plugin_ctx *ctx, const es_emit *em)
{
	const char *plugin = plugin_instance_name(ctx->instance);
	/* es_emit grows like the other structs: read only what the plugin's
	 * struct_size covers */
	if (!em || em->struct_size < offsetof(es_emit, attribute_count) + sizeof em->attribute_count) {
		LOG_WARN(plugin, "emit_event refused: es_emit missing or its struct_size too small (use ES_EMIT_INIT)");
		return ES_STATUS_INVALID;
	}
	const char *name = em->name ? em->name : "(null)";
	char err[256] = "";
	es_event_attribute attrs[EMIT_MAX_ATTRIBUTES + 1];
	size_t n = 0;
	if (em->attribute_count > EMIT_MAX_ATTRIBUTES || (em->attribute_count && !em->attributes)) {
		snprintf(err, sizeof err, "more than %d attributes", EMIT_MAX_ATTRIBUTES);
	} else {
		for (size_t i = 0; i < em->attribute_count && !err[0]; i++) {
			if (emit_attribute_refused(em->attributes, i, err, sizeof err))
				break;
			attrs[n++] = (es_event_attribute){.key = em->attributes[i].key, .value = em->attributes[i].value};
		}
	}
	if (!err[0] && em->source) {
		size_t source_len = strlen(em->source);
		char why[96];
		const char *refused = NULL;
		if (!source_len || source_len > EVENT_SOURCE_MAX || !utf8_valid(em->source, source_len))
			snprintf(err, sizeof err, "source must be 1 to 1024 bytes of UTF-8");
		else if ((refused = es_event_text_refused(em->source, source_len, why, sizeof why)))
			snprintf(err, sizeof err, "source %s", refused);
	}
	if (err[0]) {
		plugin_instance_note_emit_refused(ctx->instance, name, err);
		return ES_STATUS_INVALID;
	}
	const es_event *handling = plugin_instance_handling();
	if (handling)
		attrs[n++] = (es_event_attribute){.key = ES_PARENT_ID_ATTRIBUTE, .value = handling->id};
	const host_services *s = plugin_instance_services(ctx->instance);
	char source[96];
	snprintf(source, sizeof source, "plugin:%s", plugin);
	uint32_t depth = handling ? handling->depth + 1 : 0;
	es_status st = host_emit_event_with(s->router, s->db, s->jetstream, em->source ? em->source : source, depth, em->name,
	                                    em->data_json, em->data_len, attrs, n, s->max_event_size, err, sizeof err);
	if (st != ES_STATUS_OK)
		plugin_instance_note_emit_refused(ctx->instance, name, err);
	return st;
}

static void api_counter_add(es_plugin_ctx *ctx, const char *name, uint64_t delta)
{
	plugin_metrics_counter_add(plugin_instance_metrics(ctx->instance), plugin_instance_name(ctx->instance), name,
	                           delta);
}

static void api_gauge_set(es_plugin_ctx *ctx, const char *name, int64_t value)
{
	plugin_metrics_gauge_set(plugin_instance_metrics(ctx->instance), plugin_instance_name(ctx->instance), name,
	                         value);
}

static int api_log_enabled(es_plugin_ctx *ctx, es_log_level level)
{
	(void)ctx;
	return log_enabled(level <= ES_LOG_DEBUG ? (log_level)level : LOG_LEVEL_DEBUG);
}

static size_t api_event_attribute_count(const es_event *e)
{
	return e->attribute_count;
}

static es_status api_event_attribute_at(const es_event *e, size_t index, const char **key, const char **value)
{
	if (index >= e->attribute_count)
		return ES_STATUS_NOT_FOUND;
	if (key)
		*key = e->attributes[index].key;
	if (value)
		*value = e->attributes[index].value;
	return ES_STATUS_OK;
}

static es_status api_event_attribute_type_at(const es_event *e, size_t index, es_attribute_type *type)
{
	if (index >= e->attribute_count)
		return ES_STATUS_NOT_FOUND;
	if (type)
		*type = e->attributes[index].type;
	return ES_STATUS_OK;
}

static const char *api_event_content_type(const es_event *e)
{
	return es_event_content_type(e);
}

static int api_event_has_data(const es_event *e)
{
	return e->has_data;
}

static const void *api_event_data_bytes(const es_event *e, size_t *len)
{
	/* Decoding on first use caches the bytes; the event says the same. */
	const char *b = es_event_data_bytes((es_event *)e, len);
	if (!b && len)
		*len = 0;
	return b;
}

static const char *api_event_time_text(const es_event *e)
{
	return e->time_text;
}

static int64_t api_delivery_deadline_us(const es_event *e)
{
	(void)e;
	return worker_pool_current_deadline_us();
}

static int api_delivery_redelivered(const es_event *e)
{
	return e->redelivered;
}

static const char *api_plugin_name(es_plugin_ctx *ctx)
{
	return plugin_instance_name(ctx->instance);
}

/* The reason is the plugin's text: cut and made valid UTF-8 like
 * handle()'s (plugin_instance.c) before the pool copies it. */
static es_status api_delivery_complete(es_delivery *delivery, es_result result, const char *reason)
{
	char text[POOL_ERROR_SIZE];
	if (reason) {
		size_t n = strnlen(reason, sizeof text - 1);
		memcpy(text, reason, n);
		text[n] = '\0';
		utf8_repair(text);
	}
	return worker_pool_complete(delivery, result, reason ? text : NULL);
}

static const es_host_api table = {
	.struct_size = sizeof(es_host_api),
	.abi_major = ES_ABI_MAJOR,
	.abi_minor = ES_ABI_MINOR,
	.log = api_log,
	.event_id = api_event_id,
	.event_name = api_event_name,
	.event_source = api_event_source,
	.event_time_us = api_event_time_us,
	.event_data = api_event_data,
	.event_attribute = api_event_attribute,
	.event_json = api_event_json,
	.delivery_attempt = api_delivery_attempt,
	.config_string = api_config_string,
	.config_int = api_config_int,
	.config_bool = api_config_bool,
	.config_list_size = api_config_list_size,
	.config_list_string = api_config_list_string,
	.emit = api_emit,
	.counter_add = api_counter_add,
	.plugin_name = api_plugin_name,
	.event_attribute_count = api_event_attribute_count,
	.event_attribute_at = api_event_attribute_at,
	.event_content_type = api_event_content_type,
	.event_has_data = api_event_has_data,
	.event_data_bytes = api_event_data_bytes,
	.event_time_text = api_event_time_text,
	.delivery_deadline_us = api_delivery_deadline_us,
	.delivery_redelivered = api_delivery_redelivered,
	.emit_event = api_emit_event,
	.config_double = api_config_double,
	.config_map_size = api_config_map_size,
	.config_map_key = api_config_map_key,
	.config_secret = api_config_secret,
	.gauge_set = api_gauge_set,
	.log_enabled = api_log_enabled,
	.event_attribute_type_at = api_event_attribute_type_at,
	.delivery_complete = api_delivery_complete,
};

const es_host_api *host_api_table(void)
{
	return &table;
}
