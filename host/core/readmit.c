/*
 * Stored events queued again: see readmit.h.  Each admission goes through
 * the pipeline with the table in force at that moment; the event's row
 * exists already, so a refusal leaves it as it was.
 */
#include "config.h"

#include "core/readmit.h"

#include <string.h>

#include "core/pipeline.h"
#include "core/plugin_instance.h"

static bool is_plugin(plugin_instance *inst, const es_event *e, void *name)
{
	return strcmp(plugin_instance_name(inst), name) == 0;
}

static int replay(void *ctx, database *db, es_event *event, const char *plugin)
{
	routing_table *table = router_acquire(ctx);
	admission a = {.select = is_plugin, .select_arg = (void *)plugin, .stored_row = true, .need_target = true};
	admit_status st = pipeline_admit(db, table, event, &a);
	routing_table_release(table);
	/* unmatched: no instance of that name is loaded */
	return st == ADMIT_QUEUED ? 1 : st == ADMIT_UNMATCHED ? 0 : -1;
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

static int redeliver(void *ctx, database *db, es_event *event, const char *const *finished, size_t finished_count)
{
	finished_names done = {.names = finished, .count = finished_count};
	routing_table *table = router_acquire(ctx);
	/* quiet: a full queue is retried later, not a refusal */
	admission a = {.select = unfinished_match, .select_arg = &done, .stored_row = true, .quiet = true};
	admit_status st = pipeline_admit(db, table, event, &a);
	routing_table_release(table);
	return st == ADMIT_QUEUED ? 0 : -1;
}

database_readmit readmit_ops(router *routes)
{
	return (database_readmit){.replay = replay, .redeliver = redeliver, .ctx = routes};
}
