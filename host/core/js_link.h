/*
 * The NATS JetStream link (queue.backend: jetstream): the daemon's one
 * connection to the NATS cluster, the streams the deliveries and dead
 * letters live in, and publishing with JetStream's acknowledgement.
 *
 * Routing (docs/operations.md, "Scale-out"): nats-server 2.9 gives a
 * consumer one filter subject, so the node that accepts an event routes it
 * with its own routing table and publishes one message per matched plugin
 * to `<prefix>.deliver.<plugin>`; every plugin name is one durable consumer
 * filtering its own subject (js_consumers.h).  Message id: `<event
 * id>.<plugin>`, so a client's retry inside the duplicate window is not
 * stored twice.  Dead letters go to `<prefix>.dead.<plugin>` in the stream
 * `<stream>_DEAD`.
 *
 * The link connects in the background and reconnects for ever: while NATS
 * is unreachable triggers are refused (503), one line is logged when the
 * connection goes and one when it is back.  The streams are created (or
 * updated to the config) whenever the connection comes up.
 *
 * Ownership: js_link_start() makes it (main.c), js_link_stop() frees it
 * after the consumers and the HTTP threads have stopped.  Its thread
 * (`es-nats`: the streams, the statistics) is joined in js_link_stop().
 * Threads: everything else from any thread.
 */
#ifndef ES_JS_LINK_H
#define ES_JS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/es_config.h"
#include "model/es_event.h"

struct event_base;
struct evbuffer;

typedef struct js_link js_link;

/* NULL with the reason in err (a config NATS cannot use; out of memory).
 * An unreachable server is not an error: the link keeps trying. */
js_link *js_link_start(const es_config *config, char *err, size_t err_size);
/* Fail the publishes still waiting for JetStream (their callbacks run on
 * their HTTP threads) once `deadline_us` (monotonic) passed: before the
 * HTTP threads stop. */
void js_link_quiesce(js_link *link, int64_t deadline_us);
void js_link_stop(js_link *link);

/* Connected and the streams are ready; otherwise false and why.  Every
 * `why` of this file reads "summary (details)": the details (server
 * addresses, stream names, the server's or the client's error text) are for
 * the log and admin tokens only (security.md). */
bool js_link_ready(js_link *link, char *why, size_t why_size);

/* How a publish ended: 0 stored (every message acknowledged), else a 503
 * with `why`: JS_PUBLISH_UNAVAILABLE (NATS unreachable, no answer in
 * queue.jetstream.publish_timeout_ms) or JS_PUBLISH_FULL (a stream limit). */
enum { JS_PUBLISH_STORED = 0, JS_PUBLISH_UNAVAILABLE = 1, JS_PUBLISH_FULL = 2 };
typedef void (*js_publish_done)(int status, const char *why, void *arg);

/* Publish `event` once per plugin in `plugins` (count >= 1) to its
 * subject; `done` runs on `base`'s thread once every message was
 * acknowledged or one failed.  0: under way; otherwise the status now (done
 * will not run) with why.  The event is only read during the call. */
int js_link_publish(js_link *link, es_event *event, const char *const *plugins, size_t count,
                    struct event_base *base, js_publish_done done, void *arg, char *why, size_t why_size);
/* The same, waiting (a worker thread: a plugin's emit()).  0, or the status
 * with why. */
int js_link_publish_wait(js_link *link, es_event *event, const char *const *plugins, size_t count, char *why,
                         size_t why_size);

/* /metrics: the connection, publishes and the stream's state. */
void js_link_metrics_render(js_link *link, struct evbuffer *out);

#ifdef HAVE_NATS
#include <nats/nats.h>

/* For the consume side (js_consumers.c), with the NATS client only. */

/* The JetStream context while the link is up and the streams are ready,
 * else NULL.  Valid until js_link_stop(). */
jsCtx *js_link_context(js_link *link);
const char *js_link_stream(const js_link *link);
/* `<stream>_DEAD`. */
const char *js_link_dead_stream(const js_link *link);
/* `<prefix>.deliver.<plugin>` into out. */
void js_link_subject(const js_link *link, const char *plugin, char *out, size_t out_size);
/* Keep a copy of `msg` (its body and headers) in the dead-letter stream
 * with the plugin, the attempts and the error.  0, or -1 (the caller then
 * gives the delivery back instead of terminating it). */
int js_link_dead_letter(js_link *link, natsMsg *msg, const char *plugin, uint32_t attempts, const char *error);
#endif

#endif
