/*
 * Reloading config and plugins while running (SIGHUP, POST /api/admin/reload).
 *
 * A reload validates everything first — the config file and environment,
 * then every new or changed plugin file, loaded and initialised — and only
 * then switches: the new routing table (with the new config) is installed
 * in one step, and plugin instances that left it drain their queues and are
 * stopped and unloaded.  Any error leaves the old config, plugins and routes
 * exactly as they were.  Unchanged plugins keep running untouched.
 * Requests made while a reload runs are coalesced into one more reload.
 *
 * Threads: reload_request() and reload_report_get() from any thread; the
 * reload itself runs on the main thread's event loop.
 */
#ifndef ES_RELOAD_H
#define ES_RELOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "control/daemon.h"

struct event_base;

typedef struct reload_report {
	uint64_t generation;   /* config generation in force (1 at start) */
	uint64_t requests;     /* reload requests received */
	uint64_t served;       /* requests up to this number have had their reload */
	uint64_t completed;    /* reloads finished (either way) */
	uint64_t failures;
	int64_t last_time_us;  /* realtime when the last reload finished; 0: none yet */
	bool last_ok;
	double last_duration_ms;
	char last_by[160];     /* "signal", "api:ops", ... */
	char last_error[1024]; /* why the last one failed */
	char last_changes[1024];
	/* Deliveries retired instances could neither deliver nor hand to a
	 * new instance of their plugin (removed plugin, full queue): a count
	 * that outlives the instances (also logged). */
	uint64_t undelivered;
	uint64_t handed_over;  /* deliveries handed to a new instance */
} reload_report;

/* Set up on the main thread's base; -1 when out of memory. */
int reload_init(es_daemon *daemon, struct event_base *main_base);
void reload_free(es_daemon *daemon);
/* Ask for a reload; `who` is recorded in the audit line.  Returns the
 * request's number: its reload has finished once report.served >= it. */
uint64_t reload_request(es_daemon *daemon, const char *who);
void reload_report_get(es_daemon *daemon, reload_report *out);
/* Whether the config file as it is now would pass a reload's first step
 * (read and checked, nothing applied): 0, or -1 with its errors as
 * `file:line:column: message` in `error`.  Any thread: it reads only the
 * file (for a release, which must not be taken when its reload cannot
 * succeed). */
int reload_check_config_file(es_daemon *daemon, char *error, size_t error_size);

#endif
