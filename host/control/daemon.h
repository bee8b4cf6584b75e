/*
 * The daemon's shared state: what the HTTP threads read and the main thread
 * owns.  The main thread creates it, starts the HTTP threads, and destroys
 * it only after joining them.
 */
#ifndef ES_DAEMON_H
#define ES_DAEMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/es_config.h"
#include "core/js_consumers.h"
#include "core/js_dead_letters.h"
#include "core/js_link.h"
#include "core/plugin_registry.h"
#include "core/router.h"
#include "db/database.h"

struct reload_state;

typedef struct es_daemon {
	/* The config in force: main thread only.  Other threads read the config
	 * of the routing table they acquired (routing_table_config()). */
	es_config *config;
	const char *config_path;   /* where reloads read it from */
	const char *plugin_dir_override; /* -P, or NULL */
	char served_host[256];     /* server.host the listener is bound to (a reload cannot move it) */
	router *router;            /* shared; swapped atomically */
	database *db;              /* the event history, or NULL (database.enabled off): made by
	                            * database_start() before the plugins, freed after everything
	                            * that uses it has stopped */
	js_link *jetstream;        /* queue.backend jetstream: the NATS link, else NULL (made
	                            * before the plugins, stopped after the HTTP threads) */
	js_consumers *consumers;   /* its pullers, following every routing table (main thread) */
	js_dead_letters *dead_letters; /* the dead-letter API's requests (made after the link,
	                            * stopped before the HTTP threads) */
	plugin_registry *registry; /* the plugins in force; main thread only */
	struct crash_ledger *crashes; /* crash rules and quarantines (core/crash_ledger.h); made before
	                            * the plugins, freed after everything that reaches it */
	host_services services;
	int64_t started_us;        /* realtime */
	atomic_bool ready;         /* listeners bound and plugins loaded */
	atomic_bool stopping;      /* shutting down: refuse new events */
	uint64_t generation;       /* config generation: 1 at start, +1 per successful reload */
	struct reload_state *reload; /* see reload.c */
	_Atomic uint64_t plugins_refused; /* refused files in the directory (metrics) */
	atomic_bool metrics_up;    /* the metrics endpoint listens */
} es_daemon;

#endif
