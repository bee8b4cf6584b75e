/*
 * Stored events queued again: see readmit.h.  Each admission goes through
 * the pipeline with the table in force at that moment; the event's row
 * exists already, so a refusal leaves it as it was.
 */
#include "config.h"

#include "core/readmit.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
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
	routing_table_unref(table);
	/* unmatched: no instance of that name is loaded */
	return st == ADMIT_QUEUED ? 1 : st == ADMIT_UNMATCHED ? 0 : -1;
}

typedef struct finished_names {
	const char *const *names;
	size_t count;
	/* plugins the event crashed max_crashes times, or that have no attempt
	 * left under max_attempts: dead-lettered, not delivered */
	plugin_instance *poisoned[ROUTER_MAX_TARGETS];
	uint32_t poisoned_crashes[ROUTER_MAX_TARGETS];  /* 0: exhausted, not poisoned */
	uint32_t poisoned_attempts[ROUTER_MAX_TARGETS];
	size_t poisoned_count;
} finished_names;

static bool unfinished_match(plugin_instance *inst, const es_event *e, void *arg)
{
	const finished_names *done = arg;
	if (!plugin_instance_matches(inst, e->name))
		return false;
	for (size_t i = 0; i < done->count; i++)
		if (strcmp(done->names[i], plugin_instance_name(inst)) == 0)
			return false;
	for (size_t i = 0; i < done->poisoned_count; i++)
		if (done->poisoned[i] == inst)
			return false;
	return true;
}

/* The plugins of `table` that `event` crashed max_crashes times or more,
 * or that made max_attempts attempts of it already. */
static void find_poisoned(routing_table *table, const es_event *event, const database_crash_count *crashes,
                          size_t crash_count, finished_names *done)
{
	for (size_t i = 0; i < routing_table_size(table); i++) {
		plugin_instance *inst = routing_table_instance(table, i);
		if (!unfinished_match(inst, event, done))
			continue;
		const plugin_policy *policy = plugin_instance_policy(inst);
		for (size_t j = 0; j < crash_count; j++) {
			if (strcmp(crashes[j].plugin, plugin_instance_name(inst)) != 0 ||
			    done->poisoned_count == ROUTER_MAX_TARGETS)
				continue;
			bool poisoned = policy->max_crashes && crashes[j].crashes >= policy->max_crashes;
			bool exhausted = crashes[j].attempts >= policy->max_attempts;
			if (poisoned || exhausted) {
				done->poisoned_crashes[done->poisoned_count] = poisoned ? crashes[j].crashes : 0;
				done->poisoned_attempts[done->poisoned_count] = crashes[j].attempts;
				done->poisoned[done->poisoned_count++] = inst;
			}
		}
	}
}

/* What earlier runs made of the event, per plugin: where each delivery's
 * attempts continue (es_event_first_attempt()).  The event is the reader's
 * own until it is admitted. */
static int note_prior_attempts(es_event *event, const database_crash_count *crashes, size_t crash_count)
{
	if (!crash_count)
		return 0;
	es_event_prior *prior = calloc(crash_count, sizeof *prior);
	if (!prior)
		return -1;
	for (size_t i = 0; i < crash_count; i++) {
		snprintf(prior[i].plugin, sizeof prior[i].plugin, "%s", crashes[i].plugin);
		prior[i].attempts = crashes[i].attempts;
	}
	free(event->prior);
	event->prior = prior;
	event->prior_count = crash_count;
	return 0;
}

static int redeliver(void *ctx, database *db, es_event *event, const char *const *finished, size_t finished_count,
                     const database_crash_count *crashes, size_t crash_count)
{
	if (note_prior_attempts(event, crashes, crash_count) != 0)
		return -1; /* out of memory: tried again later */
	finished_names done = {.names = finished, .count = finished_count};
	routing_table *table = router_acquire(ctx);
	find_poisoned(table, event, crashes, crash_count, &done);
	/* The dead letters below settle one delivery each: hold them before the
	 * admission can settle the event. */
	if (done.poisoned_count)
		atomic_fetch_add_explicit(&event->unsettled, (uint32_t)done.poisoned_count, memory_order_relaxed);
	/* quiet: a full queue is retried later, not a refusal */
	admission a = {.select = unfinished_match, .select_arg = &done, .stored_row = true, .quiet = true};
	admit_status st = pipeline_admit(db, table, event, &a);
	if (st != ADMIT_QUEUED) {
		if (done.poisoned_count)
			atomic_fetch_sub_explicit(&event->unsettled, (uint32_t)done.poisoned_count, memory_order_relaxed);
		routing_table_unref(table);
		return -1;
	}
	for (size_t i = 0; i < done.poisoned_count; i++) {
		if (done.poisoned_crashes[i])
			plugin_instance_poisoned(done.poisoned[i], event, done.poisoned_crashes[i]);
		else
			plugin_instance_exhausted(done.poisoned[i], event, done.poisoned_attempts[i]);
	}
	routing_table_unref(table);
	return 0;
}

database_readmit readmit_ops(router *routes)
{
	return (database_readmit){.replay = replay, .redeliver = redeliver, .ctx = routes};
}
