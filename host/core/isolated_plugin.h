/*
 * The daemon side of an isolated plugin (`isolation: process`): the child
 * processes that run the plugin's unchanged .so, one per worker, and their
 * supervision.
 *
 * A worker thread borrows an idle child for a batch of deliveries (the
 * pool's batch handler call), sends them in one message over the channel
 * (isolation_channel.h), serves the child's calls to the host on the way
 * (log, counters, emit through the admission pipeline) and reads one result
 * per delivery as the child finishes each.  A batch carries as many
 * deliveries as the measured time per delivery lets finish within a
 * quarter of the deadline (at least one; the rest go back to the queue), so
 * a slow plugin gets batches of one.  When the child dies meanwhile, or
 * overruns the deadline and is killed, the delivery in its hands (the first
 * one not answered) ends as a failed attempt (ES_RETRY: the pool's retry
 * policy applies; a crash counts for the poison rules), the ones answered
 * keep their results, the ones after it never reached the plugin and go
 * back to the queue untouched; the slot is restarted by the supervisor
 * thread with a bounded back-off; the other children, and every other
 * plugin, do not notice.
 *
 * Ownership: the plugin instance owns its isolated_plugin (create at
 * instance creation, stop and free with it).  The isolated_plugin owns its
 * children: it alone waits for them (a slot's borrower, or stop()), its
 * supervisor thread (joined by stop()) and the daemon's ends of the
 * channels.  A child's pid is only signalled under `lock` while the slot
 * still holds it: it is reaped under the same lock, so the pid cannot have
 * been reused.
 *
 * Threads: deliver() from the pool's workers (concurrently, one slot each);
 * create/start/reopen/stop/free from the thread that manages the instance;
 * status() from any thread.
 */
#ifndef ES_ISOLATED_PLUGIN_H
#define ES_ISOLATED_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event-system/plugin.h>

#include "core/crash_ledger.h"
#include "core/worker_pool.h"
#include "model/es_config.h"
#include "model/es_event.h"

typedef struct isolated_plugin isolated_plugin;

/* How the children's calls reach the host: through the same function table
 * and plugin context an in-process plugin gets (the instance's), so a
 * forwarded log line, counter or emit is served exactly as a direct call.
 * emit() is served on the worker thread of the delivery that asked, which
 * is what gives the table the chain depth. */
typedef struct isolated_host {
	const es_host_api *api; /* static */
	es_plugin_ctx *ctx;     /* the instance's; outlives the isolated_plugin */
	uid_t service_uid;      /* plugin files are checked against it */
	size_t max_event_size;  /* bounds what the children may send */
	/* The crash rules (crash_ledger.h): a child that dies unasked during
	 * handle() is recorded as a crash of that event; NULL: none.  The
	 * strings and the pattern array are the instance's, outliving this. */
	crash_ledger *crashes;
	const char *file_id;
	crash_rules rules;
	const char *const *patterns;
	size_t pattern_count;
	/* Told on the delivering worker thread which event the child is
	 * handling now (NULL when the batch ends), so that the child's emit()
	 * is served for it; NULL: not told. */
	void (*handling)(const es_event *event);
	/* The plugin has handle_batch(): a child hands it a message's events in
	 * one call, so a death during it cannot name one event (see
	 * isolated_plugin_deliver_batch()). */
	bool batch_handler;
} isolated_host;

/* Start policy->workers children of the plugin file `path` and wait until
 * each has run init(); `config` (NULL: none) is copied to them and must
 * outlive the isolated_plugin (restarts send it again).  NULL on failure
 * with the reason in err (the children started are stopped).
 * `expect_name`/`expect_version` are the descriptor the daemon loaded: a
 * child that loaded something else is refused. */
isolated_plugin *isolated_plugin_create(const isolated_host *host, const char *path, const char *expect_name,
                                        const char *expect_version, const ynode *config,
                                        const plugin_policy *policy, char *err, size_t err_size);
/* Start the supervisor thread (restarts, memory limits).  0 or -1. */
int isolated_plugin_start(isolated_plugin *ip);

/* Deliver a batch through a child (pool_handler.handle_batch); see the
 * header comment.  Called on a pool worker thread. */
void isolated_plugin_deliver_batch(isolated_plugin *ip, pool_batch_item *items, size_t n);

/* Ask every idle child to reopen(); the pool is paused by the caller. */
void isolated_plugin_reopen(isolated_plugin *ip, int64_t deadline_us);

/* Stop the supervisor, ask each child to call shutdown() and exit, wait
 * until `deadline_us` (monotonic; at least 1 s from now), kill what is left
 * and reap every child.  Returns the children still held by a worker that
 * did not give them back (they were killed; that worker reaps them). */
uint32_t isolated_plugin_stop(isolated_plugin *ip, int64_t deadline_us);
void isolated_plugin_free(isolated_plugin *ip);

#define ISOLATED_STATUS_MAX_PIDS 32
typedef struct isolated_status {
	uint32_t children;  /* running now */
	uint32_t slots;     /* children it should have (its workers) */
	bool quarantined;   /* the crash rules stopped its restarts: none runs until a reload after a release */
	pid_t pids[ISOLATED_STATUS_MAX_PIDS];
	uint64_t restarts;  /* children started again after one ended */
	uint64_t deaths;    /* children that ended unasked (crash, kill, deadline, memory) */
	uint64_t memory_kills;
	uint64_t deadline_kills;
} isolated_status;

void isolated_plugin_status(isolated_plugin *ip, isolated_status *out);

#endif
