/*
 * Prometheus metrics: GET /metrics on metrics.host:metrics.port (its own
 * listener thread), text format 0.0.4.  Every number is read from counters
 * the hot paths already keep (atomics, per-pool stats): scraping takes no
 * lock that event processing waits on for longer than a stats snapshot.
 * See docs/operations.md for the list.
 *
 * Ownership: metrics_server_start() returns a server owned by the main
 * thread, stopped (thread joined) by metrics_server_stop().
 */
#ifndef ES_METRICS_H
#define ES_METRICS_H

#include <stddef.h>

#include "control/daemon.h"
#include "util/histogram.h"

struct evbuffer;

typedef struct metrics_server metrics_server;

/* NULL on failure with the reason in err (port in use...). */
metrics_server *metrics_server_start(es_daemon *daemon, char *err, size_t err_size);
void metrics_server_stop(metrics_server *server);

/* The whole exposition for `daemon` (used by the endpoint and tests). */
void metrics_render(es_daemon *daemon, struct evbuffer *out);

#endif
