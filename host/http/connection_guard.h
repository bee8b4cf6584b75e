/*
 * What one HTTP client may hold: a connection slot (server.max_connections,
 * shared by all HTTP threads) and time (server.request_timeout_ms, a
 * deadline for each whole request, headers and body, counted from the
 * accept or from the previous answer -- not an idle timer a client resets
 * by sending a byte now and then).
 *
 * When the connection limit is reached, or accept() fails (EMFILE, ENFILE:
 * out of file descriptors), a thread stops accepting: its listener is
 * disabled and retried every ACCEPT_RETRY_MS, so clients wait in the
 * kernel's accept queue instead of the loop spinning on a failing accept.
 * One line is logged when accepting pauses and one when it resumes for
 * good, with the counts of the episode.
 *
 * libevent 2.1 has no "new connection" or "connection closed" hook on the
 * server side: the guard makes each connection's bufferevent itself
 * (evhttp_set_bevcb), finds the evhttp_connection right after libevent
 * made it (the bufferevent's callback argument) and owns its close
 * callback.  Others that want to hear of a close (a request answered after
 * its handler returned) ask the guard: connection_guard_watch().
 *
 * Threads: one guard per HTTP thread, used only on that thread; the limit
 * and the counters are process-wide atomics.  Ownership: the guard owns a
 * record per open connection, freed when libevent closes it; free the
 * guard after evhttp_free() (which closes them all).
 */
#ifndef ES_CONNECTION_GUARD_H
#define ES_CONNECTION_GUARD_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct evconnlistener;
struct evhttp;
struct evhttp_connection;
struct evhttp_request;
struct http_gate;

typedef struct connection_guard connection_guard;

/* The limit when server.max_connections is 0 (the default): the open-file
 * limit less a reserve for the daemon's own files, plugins and database. */
uint32_t connection_guard_default_limit(void);

/* Set once before the HTTP threads start: the connection limit and the
 * per-request deadline. */
void connection_guard_configure(uint32_t max_connections, uint32_t request_timeout_ms);

/* The metrics endpoint's guard: its connections are neither counted nor
 * capped (scrapes keep working at the limit); it backs off a failing
 * accept() and cuts slow requests like the others. */
#define CONNECTION_GUARD_METRICS 64

/* A guard for one HTTP thread's `http` and `listener` on `base`; NULL when
 * out of memory.  `thread_index` (below 64, or CONNECTION_GUARD_METRICS)
 * names it in log lines.  Each new connection is handed to `gate` (the
 * thread's request-head gate, http_gate.h; NULL: none) before evhttp
 * reads from it, and taken back when it closes.  `read_ahead` bounds the
 * bytes read from a connection that evhttp has not consumed yet (a client
 * that sends without reading its answers stops being read): it must hold
 * the largest head plus the largest body evhttp accepts, because evhttp
 * waits for a whole Content-Length body (or chunk) in the input. */
connection_guard *connection_guard_new(struct event_base *base, struct evhttp *http, struct evconnlistener *listener,
                                       unsigned thread_index, struct http_gate *gate, size_t read_ahead);
/* After evhttp_free() (the connections are gone then). */
void connection_guard_free(connection_guard *g);

/* The server stops: accept no more connections (the listener stays closed
 * to clients, who wait in the kernel's queue until it is gone).  A
 * connection closed from then on with answers unwritten is the stop's
 * doing, not its client's: not counted as answers_unread. */
void connection_guard_stop_accepting(connection_guard *g);
/* Connections with bytes of an answer not yet written to the socket: a
 * stopping thread keeps its loop running for them a moment. */
size_t connection_guard_unwritten(const connection_guard *g);

/* The handler got `req`: its request is read, the deadline stops until
 * the answer is sent.  Call first thing in the evhttp callback. */
void connection_guard_request_read(connection_guard *g, struct evhttp_request *req);

/* Call `on_close(conn, arg)` when `conn` closes (NULL: no longer).  One
 * watcher per connection, as with evhttp_connection_set_closecb, which the
 * guard owns. */
void connection_guard_watch(connection_guard *g, struct evhttp_connection *conn,
                            void (*on_close)(struct evhttp_connection *, void *), void *arg);

/* eventsys_http_connections* metrics, Prometheus text. */
void connection_guard_metrics_render(struct evbuffer *out);

#endif
