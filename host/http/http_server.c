/*
 * HTTP listener threads on libevent.  See http_server.h.
 */
#include "config.h"

#include "http/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/delivery_watch.h"
#include "http/connection_guard.h"
#include "http/http_api.h"
#include "http/http_gate.h"
#include "http/http_loop.h"
#include "util/log.h"

typedef struct http_thread {
	http_loop loop; /* its base, evhttp and thread */
	int64_t flush_until_us; /* stopping: the loop ends by then */
	struct event *stop; /* activated by http_server_stop() */
	connection_guard *guard; /* connection limit and request deadlines */
	http_api_thread api; /* per-thread API state (buffers) */
} http_thread;

struct http_server {
	http_thread *threads;
	uint32_t count;
};

/* How long a stopping thread keeps its loop running at most for answers
 * to be written, and how often it looks whether they are. */
#define STOP_FLUSH_MS 200
#define STOP_FLUSH_LOOK_MS 5

/* Stopping: leave the loop once every answer is written to its socket,
 * or at flush_until_us; look again every STOP_FLUSH_LOOK_MS. */
static void end_when_written(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	http_thread *t = arg;
	if (!t->guard || connection_guard_unwritten(t->guard) == 0 || clock_monotonic_us() >= t->flush_until_us) {
		event_base_loopexit(t->loop.base, NULL);
		return;
	}
	struct timeval look = {.tv_sec = 0, .tv_usec = (suseconds_t)STOP_FLUSH_LOOK_MS * 1000};
	if (event_base_once(t->loop.base, -1, EV_TIMEOUT, end_when_written, t, &look) != 0)
		event_base_loopexit(t->loop.base, NULL);
}

/* On the thread, when the server stops: accept no more connections,
 * answer every request still waiting for outcomes (?wait=true) with what
 * is known so far, and leave the loop once the answers are written (at
 * most STOP_FLUSH_MS).  Answers given just before (an outcome that came
 * in the same moment as the stop) and the 503s of requests still arriving
 * on open connections are in their connections' buffers too: without the
 * wait evhttp_free() would close those connections unwritten.  The
 * waiters must not outlive the loop: their events belong to its base,
 * which is freed after. */
static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	http_thread *t = arg;
	if (t->guard)
		connection_guard_stop_accepting(t->guard);
	size_t answered = delivery_watch_expire_all(t->loop.base) + api_admin_answer_waits(&t->api);
	if (answered)
		LOG_INFO("http", "stopping: answered %zu request%s still waiting for outcomes", answered,
		         answered == 1 ? "" : "s");
	if (!t->guard && answered) { /* nothing to look at: the whole moment */
		struct timeval flush = {.tv_sec = 0, .tv_usec = (suseconds_t)STOP_FLUSH_MS * 1000};
		event_base_loopexit(t->loop.base, &flush);
		return;
	}
	t->flush_until_us = clock_monotonic_us() + (int64_t)STOP_FLUSH_MS * 1000;
	end_when_written(-1, 0, t);
}

/* Passes of the loop after it left, for answers given in its last pass. */
#define AFTER_LOOP_PASSES 20

/* On the thread, after its loop left: a waiter that arrived while the
 * answers were being flushed is answered too, and what can be written
 * without waiting is written: the loop's last pass ran the callbacks
 * already active, and a request read there was answered after
 * end_when_written() looked (the client got an empty reply). */
static void after_loop(http_loop *loop)
{
	http_thread *t = (http_thread *)((char *)loop - offsetof(http_thread, loop));
	bool pending = delivery_watch_expire_all(loop->base) > 0;
	for (int pass = 0; pass < AFTER_LOOP_PASSES; pass++) {
		pending |= t->guard && connection_guard_unwritten(t->guard) > 0;
		if (!pending)
			return;
		event_base_loop(loop->base, EVLOOP_NONBLOCK);
		pending = false;
	}
}

/* What a thread made on its base, freed after its evhttp and before it. */
static void free_on_base(void *arg)
{
	http_thread *t = arg;
	connection_guard_free(t->guard);
	http_api_thread_free(&t->api); /* its timer belongs to the base */
	if (t->stop)
		event_free(t->stop);
}

/* Resolve host:port to one address. */
static int resolve(const char *host, uint16_t port, struct sockaddr_storage *addr, socklen_t *len, char *err,
                   size_t err_size)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char service[8];
	snprintf(service, sizeof service, "%u", port);
	int rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, err_size, "cannot resolve listen address '%s': %s", host, gai_strerror(rc));
		return -1;
	}
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* SO_REUSEPORT would let us share the port with another process of the same
 * user; probe with a plain socket first so "port in use" is reported. */
static int probe_port(const struct sockaddr_storage *addr, socklen_t len, const char *host, uint16_t port, char *err,
                      size_t err_size)
{
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, err_size, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	int rc = bind(fd, (const struct sockaddr *)addr, len);
	int saved = errno;
	close(fd);
	if (rc == 0)
		return 0;
	if (saved == EADDRINUSE)
		snprintf(err, err_size, "cannot listen on %s:%u: address already in use (another process holds the port; "
		                        "`ss -ltnp 'sport = :%u'` shows which)", host, port, port);
	else if (saved == EACCES)
		snprintf(err, err_size, "cannot listen on %s:%u: permission denied (ports below 1024 need privileges)", host,
		         port);
	else
		snprintf(err, err_size, "cannot listen on %s:%u: %s", host, port, strerror(saved));
	return -1;
}

/* evhttp's callback: the request is read whole. */
static void handle_request(struct evhttp_request *req, void *arg)
{
	http_thread *t = arg;
	connection_guard_request_read(t->guard, req);
	http_api_handle(req, &t->api);
}

http_server *http_server_start(es_daemon *daemon, char *err, size_t err_size)
{
	const es_config *c = daemon->config;
	const char *host = c->server_host;
	uint16_t port = c->server_port;
	uint32_t threads = c->server_threads;
	size_t max_body = c->max_event_size;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	if (resolve(host, port, &addr, &addr_len, err, err_size) != 0 ||
	    probe_port(&addr, addr_len, host, port, err, err_size) != 0)
		return NULL;

	http_server *s = calloc(1, sizeof *s);
	if (!s || !(s->threads = calloc(threads, sizeof *s->threads))) {
		free(s);
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	s->count = threads;
	uint32_t max_connections = c->max_connections ? c->max_connections : connection_guard_default_limit();
	connection_guard_configure(max_connections, c->request_timeout_ms);
	LOG_INFO("http", "at most %u connections (server.max_connections%s), %u ms for each whole request "
	         "(server.request_timeout_ms)", max_connections, c->max_connections ? "" : ", from the open-file limit",
	         c->request_timeout_ms);
	for (uint32_t i = 0; i < threads; i++) {
		http_thread *t = &s->threads[i];
		/* Bodies up to twice the event limit are read so the API can answer
		 * 413 in JSON; beyond that libevent refuses them from the
		 * Content-Length, before reading anything.  A client that stops
		 * reading or sending is cut off after the request timeout; the
		 * guard's deadline covers a whole request sent slowly.  Every
		 * method libevent can parse reaches the router, which answers 405
		 * in JSON (libevent's own 501 page is HTML). */
		http_loop_limits limits = {
			.max_headers_size = HTTP_MAX_HEAD_SIZE,
			.max_body_size = max_body * 2 + 65536,
			.timeout_ms = c->request_timeout_ms,
			.methods = EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
			           EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT,
		};
		t->loop.after_loop = after_loop;
		int made = http_loop_init(&t->loop, &limits);
		t->stop = made == 0 ? event_new(t->loop.base, -1, 0, on_stop, t) : NULL;
		if (!t->stop) {
			snprintf(err, err_size, "cannot create the HTTP server");
			goto out_fail;
		}
		struct evconnlistener *listener = evconnlistener_new_bind(
		        t->loop.base, NULL, NULL,
		        LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 1024,
		        (struct sockaddr *)&addr, (int)addr_len);
		if (!listener || !evhttp_bind_listener(t->loop.http, listener)) {
			snprintf(err, err_size, "cannot listen on %s:%u: %s", host, port, strerror(errno));
			if (listener)
				evconnlistener_free(listener);
			goto out_fail;
		}
		if (http_api_thread_init(&t->api, daemon, t->loop.base, limits.max_body_size) != 0 ||
		    !(t->guard = connection_guard_new(t->loop.base, t->loop.http, listener, i, t->api.gate,
		                                      limits.max_body_size + HTTP_MAX_HEAD_SIZE))) {
			snprintf(err, err_size, "out of memory");
			goto out_fail;
		}
		t->api.connections = t->guard;
		/* The guard makes each connection's bufferevent and hands it to
		 * the gate, which reads request heads before evhttp reads bodies. */
		evhttp_set_gencb(t->loop.http, handle_request, t);
	}
	for (uint32_t i = 0; i < threads; i++) {
		int rc = http_loop_start(&s->threads[i].loop, "es-http");
		if (rc != 0) {
			snprintf(err, err_size, "cannot start an HTTP thread: %s", strerror(rc));
			goto out_fail;
		}
	}
	return s;

out_fail:
	http_server_stop(s);
	return NULL;
}

void http_server_stop(http_server *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->count; i++)
		if (s->threads[i].loop.running)
			event_active(s->threads[i].stop, EV_READ, 0); /* thread-safe; kept if the loop has not started yet */
	for (uint32_t i = 0; i < s->count; i++) {
		http_thread *t = &s->threads[i];
		http_loop_join(&t->loop);
		http_loop_free(&t->loop, free_on_base, t);
	}
	free(s->threads);
	free(s);
}
