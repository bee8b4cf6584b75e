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

#include "es_config.h"
#include "plugin_registry.h"
#include "router.h"

typedef struct es_daemon {
	es_config *config;         /* owned by the main thread; read-only for others */
	router *router;            /* shared; swapped atomically */
	plugin_registry registry;  /* main thread only */
	host_services services;
	int64_t started_us;        /* realtime */
	atomic_bool ready;         /* listeners bound and plugins loaded */
	atomic_bool stopping;      /* shutting down: refuse new events */
	uint64_t generation;       /* config generation (reloads) */
} es_daemon;

#endif
