/*
 * The admission pipeline: see pipeline.h.
 */
#include "config.h"

#include "core/pipeline.h"

#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "core/crash_ledger.h"
#include "core/plugin_instance.h"

es_event *pipeline_event_create(database *db, es_event_fields *fields)
{
	fields->seq = database_next_seq(db);
	return es_event_create(fields);
}

void pipeline_record(database *db, es_event *event)
{
	database_record(db, event);
}

void pipeline_record_published(database *db, es_event *event, bool published)
{
	database_record(db, event);
	if (!published)
		database_settle(db, event); /* nothing to deliver: the row is done */
}

int pipeline_store(database *db, es_event *const *events, size_t count, db_ticket *ticket, char *why, size_t why_size)
{
	return database_store(db, events, count, ticket, why, why_size);
}

/* Queued nowhere: a new event's row says so; a stored row stays as it was. */
static void refused(database *db, const admission *a, es_event *event)
{
	if (!a->stored_row)
		database_refused(db, event);
}

void admission_clear(admission *a)
{
	memset(a, 0, offsetof(admission, result));
	a->result.matched = 0;
	a->result.elsewhere = 0;
	a->result.busy = NULL;
}

admit_status pipeline_admit(database *db, routing_table *table, es_event *event, admission *a)
{
	/* The waiter is sized by the table that dispatches, which in durable
	 * mode is the one in force when the row committed (a reload may have
	 * added plugins since the request arrived). */
	if (a->watch && !delivery_watch_bind(a->watch, routing_table_size(table))) {
		refused(db, a, event);
		return ADMIT_NO_MEMORY;
	}
	dispatch_status st = router_reserve(table, event, a->select, a->select_arg, a->quiet, &a->result);
	if (st != DISPATCH_OK) {
		refused(db, a, event);
		return ADMIT_BUSY;
	}
	if (a->need_target && a->result.matched == 0)
		return ADMIT_UNMATCHED;
	/* A new event a quarantined plugin would have had: counted and logged
	 * for it (crash_ledger.h); the other plugins get it as usual. */
	if (!a->stored_row)
		crash_ledger_note_event(routing_table_crash_ledger(table), event->id, event->name);
	/* A recorded event is settled once each of these deliveries is final
	 * (see database_settle()); count them before any can finish. */
	if (event->seq)
		atomic_fetch_add_explicit(&event->unsettled, (uint32_t)a->result.matched, memory_order_relaxed);
	/* Pushed later (a batch): the settle below cannot complete the event
	 * meanwhile, since `unsettled` already counts these deliveries. */
	if (a->later)
		push_later_add(a->later, &a->result, event);
	else
		router_push(&a->result, event);
	database_settle(db, event); /* the admission's own hold */
	if (a->watch) {
		const char *names[ROUTER_MAX_TARGETS];
		for (size_t i = 0; i < a->result.matched; i++)
			names[i] = plugin_instance_name(a->result.targets[i]);
		delivery_watch_arm(a->watch, names, a->result.matched);
	}
	return ADMIT_QUEUED;
}

/* The plugins' names of result->targets, then those run elsewhere. */
static size_t target_names(const dispatch_result *result, const char **names)
{
	size_t n = 0;
	for (size_t i = 0; i < result->matched; i++)
		names[n++] = plugin_instance_name(result->targets[i]);
	for (size_t i = 0; i < result->elsewhere && n < ROUTER_MAX_TARGETS; i++)
		names[n++] = result->elsewhere_names[i];
	return n;
}

publish_start pipeline_publish(js_link *link, routing_table *table, es_event *event, dispatch_result *result,
                               struct event_base *base, js_publish_done done, void *arg, char *why,
                               size_t why_size)
{
	router_match(table, event, result);
	if (result->matched + result->elsewhere == 0)
		return PUBLISH_UNMATCHED;
	const char *names[ROUTER_MAX_TARGETS];
	size_t n = target_names(result, names);
	if (js_link_publish(link, event, names, n, base, done, arg, why, why_size) != JS_PUBLISH_STORED)
		return PUBLISH_REFUSED;
	return PUBLISH_PENDING;
}

publish_start pipeline_publish_wait(js_link *link, routing_table *table, es_event *event, dispatch_result *result,
                                    char *why, size_t why_size)
{
	router_match(table, event, result);
	if (result->matched + result->elsewhere == 0)
		return PUBLISH_UNMATCHED;
	const char *names[ROUTER_MAX_TARGETS];
	size_t n = target_names(result, names);
	if (js_link_publish_wait(link, event, names, n, why, why_size) != JS_PUBLISH_STORED)
		return PUBLISH_REFUSED;
	return PUBLISH_PENDING;
}
