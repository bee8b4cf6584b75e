/*
 * The consume side of the JetStream backend: one shared durable pull
 * consumer per plugin name (`<prefix>.deliver.<plugin>`), pulled by every
 * node that runs the plugin.  A node pulls only what its pool has room for
 * (queue_size deliveries in flight at most), hands each message to the
 * plugin's worker pool as an event whose origin (es_event_origin) is the
 * message, and acknowledges it after the handler's final outcome for this
 * delivery: ack when it succeeded, NAK with the back-off delay when it will
 * be retried (by whichever node pulls it next), dead letter and TERM when it
 * failed for good.  Long handlers are kept alive with in-progress.
 *
 * The consumer's settings: ack wait twice the plugin's timeout_ms (at least
 * 2 s), max deliver max_attempts + 1 (the extra delivery dead-letters an
 * event whose handlers kept dying with their node), max ack pending
 * unlimited (each node bounds its own share).
 *
 * Ownership: main.c makes the set and stops it before the plugins; after
 * every routing-table swap, js_consumers_follow() makes the pullers match
 * the table (a node without plugin X does not pull X).  Each puller is a
 * thread (`es-js-<plugin>`) the set joins; each holds a reference to its
 * plugin instance.  Threads: follow/stop on the main thread.
 */
#ifndef ES_JS_CONSUMERS_H
#define ES_JS_CONSUMERS_H

#include "core/js_link.h"
#include "core/plugin_instance.h"
#include "core/router.h"

struct evbuffer;

typedef struct js_consumers js_consumers;

js_consumers *js_consumers_create(js_link *link);
/* Before a reload's switch (all or nothing): the durable consumer of every
 * instance in `instances` whose consumer this node does not have with the
 * instance's settings (a plugin added, or its timeout_ms or max_attempts
 * changed) is created or brought to the instance's policy now, so that the
 * events the new routing table sends have their consumer the moment it is
 * in force.  0; or -1 with why (NATS unreachable, JetStream refusing): the
 * consumers this call created are deleted again, those it changed are given
 * their previous settings back, and the reload fails.  Main thread; waits
 * on JetStream (a few seconds at most per consumer). */
int js_consumers_prepare(js_consumers *set, plugin_instance *const *instances, size_t count, char *why,
                         size_t why_size);
/* One puller per instance of `table` (held by the caller); pullers of
 * instances no longer in it stop. */
void js_consumers_follow(js_consumers *set, const routing_table *table);
/* Stop and join every puller (their deliveries already in a pool are
 * settled by the pool or given back when it stops), then free the set. */
void js_consumers_stop(js_consumers *set);
/* /metrics: per plugin, the consumer's pending, ack pending and redelivered. */
void js_consumers_metrics_render(js_consumers *set, struct evbuffer *out);

#endif
