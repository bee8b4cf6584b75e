/*
 * The HTTP API: request routing and handlers.  Runs on the HTTP loop
 * threads; handlers never block (no plugin code, no database: durable
 * triggers and history requests are answered when the database threads
 * wake the loop).
 *
 *   POST /api/events/trigger   one event (JSON or CloudEvents) → 202
 *                              {"id","name","matched":[...]}; ?wait=true → 200
 *                              with each plugin's outcome
 *   POST /api/events/batch     an array of events → an answer per event
 *   POST /api/events/test      a system.test event through the whole pipeline
 *   GET  /health               {"status","timestamp","components":{...}}
 *   GET  /ready                200 once listeners are bound and plugins loaded
 *   GET  /api/plugins          each plugin's state and counters (admin)
 *   POST /api/admin/reload     reload config and plugins, answer with the result (admin)
 *   GET  /api/admin/reload     the last reload's report (admin)
 *   GET  /api/events/{id}, GET /api/events, GET /api/dead-letters,
 *   POST /api/dead-letters/{id}/replay
 *                              event history (database.enabled; admin):
 *                              http_history.c, answered by the database reader
 */
#ifndef ES_HTTP_API_H
#define ES_HTTP_API_H

#include <stdint.h>

#include "control/daemon.h"

struct evhttp_request;

struct event_base;
struct evbuffer;
struct event;
struct admin_wait;
struct connection_guard;

/* Per HTTP thread state; owned by that thread. */
typedef struct http_api_thread {
	es_daemon *daemon;
	struct evbuffer *access_log; /* lines waiting to be written */
	struct event *flush_timer;   /* writes them every ACCESS_LOG_FLUSH_MS */
	struct admin_wait *admin_waits; /* POST /api/admin/reload requests waiting */
	struct http_gate *gate;      /* refuses unauthenticated bodies before they are read (http_gate.c) */
	struct connection_guard *connections; /* the thread's; tells of closed connections */
} http_api_thread;

/* `max_body_size` is the thread's evhttp body limit (for its gate).  0, or
 * -1 when out of memory. */
int http_api_thread_init(http_api_thread *api, es_daemon *daemon, struct event_base *base, size_t max_body_size);
/* Writes what is left of the access log; call after the loop stopped. */
void http_api_thread_free(http_api_thread *api);
/* On the thread, when the server stops: answer every POST /api/admin/reload
 * still waiting (its report when its reload finished, else 503); returns
 * how many answers were sent. */
size_t api_admin_answer_waits(http_api_thread *api);
/* evhttp generic callback; `arg` is the thread's http_api_thread. */
void http_api_handle(struct evhttp_request *req, void *arg);

/* API counters, for status output and metrics. */
typedef struct http_api_counters {
	uint64_t accepted;
	uint64_t rejected_bad_request;
	uint64_t rejected_too_large;
	uint64_t rejected_media_type;
	uint64_t rejected_busy;
	uint64_t rejected_unavailable;
	uint64_t rejected_unauthorized;
} http_api_counters;

void http_api_counters_read(http_api_counters *out);

/* Append the HTTP request metrics (by route and status class, latency
 * histograms) in Prometheus text format. */
struct evbuffer;
void http_api_metrics_render(struct evbuffer *out);

#endif
