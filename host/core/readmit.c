/*
 * Stored events queued again: see readmit.h.  Each call routes through the
 * table in force at that moment.
 */
#include "config.h"

#include "core/readmit.h"

#include <string.h>

#include "core/plugin_instance.h"

static bool is_plugin(plugin_instance *inst, const es_event *e, void *name)
{
	return strcmp(plugin_instance_name(inst), name) == 0;
}

static int replay(void *ctx, es_event *event, const char *plugin)
{
	routing_table *table = router_acquire(ctx);
	dispatch_result result;
	dispatch_status st = router_dispatch_select(table, event, is_plugin, (void *)plugin, false, &result);
	routing_table_release(table);
	if (st != DISPATCH_OK)
		return -1;
	return result.matched ? 1 : 0; /* matched nothing: no instance of that name is loaded */
}

typedef struct finished_names {
	const char *const *names;
	size_t count;
} finished_names;

static bool unfinished_match(plugin_instance *inst, const es_event *e, void *arg)
{
	const finished_names *done = arg;
	if (!plugin_instance_matches(inst, e->name))
		return false;
	for (size_t i = 0; i < done->count; i++)
		if (strcmp(done->names[i], plugin_instance_name(inst)) == 0)
			return false;
	return true;
}

static int redeliver(void *ctx, es_event *event, const char *const *finished, size_t finished_count)
{
	finished_names done = {.names = finished, .count = finished_count};
	routing_table *table = router_acquire(ctx);
	dispatch_result result;
	/* quiet: a full queue is retried later, not a refusal */
	dispatch_status st = router_dispatch_select(table, event, unfinished_match, &done, true, &result);
	routing_table_release(table);
	return st == DISPATCH_OK ? 0 : -1;
}

database_readmit readmit_ops(router *routes)
{
	return (database_readmit){.replay = replay, .redeliver = redeliver, .ctx = routes};
}
