/*
 * One libevent loop with an evhttp on a thread of its own: the bootstrap
 * the API's threads (http_server.c) and the metrics endpoint
 * (metrics/metrics.c) share -- the base and its evhttp with their limits,
 * the named thread that runs the loop, and the order things are freed in.
 *
 * Ownership: the caller embeds an http_loop and owns it.  It calls
 * http_loop_init(), binds a listener to loop->http and sets its request
 * callback, then http_loop_start().  To stop, it makes the loop leave (its
 * own way: an event it activates, event_base_loopexit()), then calls
 * http_loop_join() and http_loop_free().  Free order: the evhttp first (it
 * closes the connections), then what the caller made on the base (guards,
 * timers, events: the `free_on_base` callback), then the base.
 * Threads: init, start, join and free on the owner's thread.
 */
#ifndef ES_HTTP_LOOP_H
#define ES_HTTP_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp;

typedef struct http_loop_limits {
	size_t max_headers_size;
	size_t max_body_size;
	uint32_t timeout_ms; /* a client that stops reading or sending is cut off after this */
	int methods;         /* EVHTTP_REQ_* the evhttp passes to the callback */
} http_loop_limits;

typedef struct http_loop {
	struct event_base *base;
	struct evhttp *http;
	pthread_t thread;
	bool running; /* started and not yet joined */
	/* Run on the loop's thread once the loop has left (NULL: nothing). */
	void (*after_loop)(struct http_loop *loop);
} http_loop;

/* A base and its evhttp with `limits`.  0, or -1 (out of memory; what was
 * made is freed by http_loop_free()). */
int http_loop_init(http_loop *loop, const http_loop_limits *limits);
/* Run the loop on a new thread named `thread_name` (at most 15 bytes).
 * 0, or pthread_create()'s error number. */
int http_loop_start(http_loop *loop, const char *thread_name);
/* Wait for the thread, once the caller made its loop leave. */
void http_loop_join(http_loop *loop);
/* Free the evhttp, then call free_on_base(arg) (may be NULL), then free the
 * base.  After http_loop_join(); a loop never started may be freed at once. */
void http_loop_free(http_loop *loop, void (*free_on_base)(void *arg), void *arg);

#endif
