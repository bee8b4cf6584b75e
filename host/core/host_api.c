/*
 * Implementation of the host function table.  Every function here may be
 * called from any plugin thread, concurrently.
 */
#include "config.h"

#include "core/host_api.h"

#include "core/pipeline.h"
#include "db/database.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/es_event.h"
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
	(void)e;
	return worker_pool_current_attempt();
}

static const ynode *config_at(es_plugin_ctx *ctx, const char *path)
{
	const ynode *root = plugin_instance_config(ctx->instance);
	return root && path ? ynode_path(root, path) : NULL;
}

static es_status api_config_string(es_plugin_ctx *ctx, const char *path, const char **out)
{
	const ynode *n = config_at(ctx, path);
	if (!n)
		return ES_STATUS_NOT_FOUND;
	if (n->kind != YNODE_SCALAR)
		return ES_STATUS_WRONG_TYPE;
	*out = n->scalar;
	return ES_STATUS_OK;
}

static es_status api_config_int(es_plugin_ctx *ctx, const char *path, int64_t *out)
{
	const ynode *n = config_at(ctx, path);
	if (!n)
		return ES_STATUS_NOT_FOUND;
	if (n->kind != YNODE_SCALAR || n->quoted || !n->scalar[0])
		return ES_STATUS_WRONG_TYPE;
	char *end;
	errno = 0;
	long long v = strtoll(n->scalar, &end, 10);
	if (*end || errno)
		return ES_STATUS_WRONG_TYPE;
	*out = v;
	return ES_STATUS_OK;
}

static es_status api_config_bool(es_plugin_ctx *ctx, const char *path, int *out)
{
	const ynode *n = config_at(ctx, path);
	if (!n)
		return ES_STATUS_NOT_FOUND;
	if (n->kind != YNODE_SCALAR || n->quoted)
		return ES_STATUS_WRONG_TYPE;
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

es_status host_emit_event(router *rt, database *db, const char *source, uint32_t depth, const char *name, const char *data_json,
                          size_t len, size_t max_size, char *err, size_t err_size)
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
	                  .depth = depth};
	es_event *event = pipeline_event_create(db, &f);
	if (!event) {
		snprintf(err, err_size, "out of memory");
		return ES_STATUS_ERROR;
	}
	/* Emitted events are recorded without waiting: a handler never blocks
	 * on the database. */
	pipeline_record(db, event);
	routing_table *table = router_acquire(rt);
	admission a = {0};
	admit_status st = pipeline_admit(db, table, event, &a);
	if (st == ADMIT_BUSY)
		snprintf(err, err_size, "queue of plugin '%s' is full", plugin_instance_name(a.result.busy));
	routing_table_unref(table);
	es_event_unref(event);
	return st == ADMIT_QUEUED ? ES_STATUS_OK : ES_STATUS_BUSY;
}

static es_status api_emit(es_plugin_ctx *ctx, const char *name, const char *data_json, size_t len)
{
	const host_services *s = plugin_instance_services(ctx->instance);
	char source[96], err[256];
	snprintf(source, sizeof source, "plugin:%s", plugin_instance_name(ctx->instance));
	const es_event *handling = plugin_instance_handling();
	uint32_t depth = handling ? handling->depth + 1 : 0;
	es_status st = host_emit_event(s->router, s->db, source, depth, name, data_json, len, s->max_event_size, err, sizeof err);
	if (st != ES_STATUS_OK)
		LOG_WARN(plugin_instance_name(ctx->instance), "emit of '%s' refused: %s", name ? name : "(null)", err);
	return st;
}

static void api_counter_add(es_plugin_ctx *ctx, const char *name, uint64_t delta)
{
	if (name && *name)
		plugin_instance_counter_add(ctx->instance, name, delta);
}

static const char *api_plugin_name(es_plugin_ctx *ctx)
{
	return plugin_instance_name(ctx->instance);
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
};

const es_host_api *host_api_table(void)
{
	return &table;
}
