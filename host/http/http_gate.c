/*
 * The request-head gate: see http_gate.h.
 *
 * libevent 2.1 calls nothing between an incoming request's headers and its
 * body (evhttp_request_set_header_cb works for outgoing requests only), so
 * the gate reads the request heads from the connection's input buffer
 * before evhttp does: the HTTP thread makes each connection's bufferevent
 * (evhttp_set_bevcb) and the gate watches its input with an evbuffer
 * callback, which runs as bytes arrive, before evhttp's read callback.
 *
 * The gate reads heads only until the connection shows a valid token (or
 * when no tokens are configured): then it steps aside for good.  On a
 * connection that has not shown one, every earlier request had no valid
 * token, so it was answered at once (401, /health, /ready, 404, 405):
 * nothing is outstanding when the gate answers.  A refused head that
 * follows an earlier request in the same buffer is answered when evhttp
 * starts reading it, i.e. once the earlier answer is written.
 *
 * Ownership: a gate_conn belongs to its connection: made by
 * http_gate_track(), freed by http_gate_untrack() when the connection
 * closes -- by the gate's own close callback when the gate owns the
 * connections (http_gate_new_connection; others then register through
 * http_gate_watch_close()), or by whoever owns them otherwise.
 */
#include "config.h"

#include "http/http_gate.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "http/http_api_internal.h"
#include "util/log.h"
#include "core/router.h"

/* The longest header line the gate reads: evhttp refuses larger heads
 * itself (MAX_HEADERS_SIZE in http_server.c). */
#define GATE_MAX_LINE 16384
#define GATE_BUCKETS 256

typedef enum gate_phase {
	GATE_HEAD_START, /* the next line starts a request */
	GATE_HEADERS,    /* inside a head, after its request line */
	GATE_PENDING,    /* a refused head waits for the requests before it */
	GATE_OPEN,       /* stepped aside: a valid token was shown, or no tokens are configured */
	GATE_REFUSED,    /* answered 401; whatever else arrives is dropped */
} gate_phase;

typedef struct gate_conn {
	http_gate *gate;
	struct bufferevent *bev;
	struct evhttp_connection *conn; /* known once attached */
	gate_phase phase;
	size_t examined;     /* bytes at the front of the input the gate has read */
	size_t head_start;   /* where the current head starts in the input */
	bool token_seen;     /* the head had an Authorization header (the first counts, as for evhttp) */
	bool token_valid;
	bool declares_body;
	void (*on_close)(struct evhttp_connection *, void *); /* a watcher, or NULL */
	void *on_close_arg;
	struct gate_conn *next_pending; /* made, not yet attached */
	struct gate_conn *next;         /* in its by_conn bucket */
} gate_conn;

struct http_gate {
	es_daemon *daemon;
	struct event *attach; /* attaches new connections once evhttp made them */
	gate_conn *pending;
	gate_conn *by_conn[GATE_BUCKETS];
	char line[GATE_MAX_LINE + 1];
};

static size_t bucket_of(const struct evhttp_connection *conn)
{
	return ((uintptr_t)conn >> 4) % GATE_BUCKETS;
}

static gate_conn *find(http_gate *g, const struct evhttp_connection *conn)
{
	for (gate_conn *gc = g->by_conn[bucket_of(conn)]; gc; gc = gc->next)
		if (gc->conn == conn)
			return gc;
	return NULL;
}

static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);

/* The tokens in force, through the routing table a request would use. */
static bool tokens_configured(http_gate *g)
{
	routing_table *t = router_acquire(g->daemon->router);
	bool any = routing_table_config(t)->token_count > 0;
	routing_table_release(t);
	return any;
}

static bool token_valid(http_gate *g, const char *value)
{
	if (strncasecmp(value, "Bearer ", 7) != 0)
		return false;
	const char *given = value + 7;
	size_t given_len = strlen(given);
	routing_table *t = router_acquire(g->daemon->router);
	const es_config *c = routing_table_config(t);
	bool valid = false;
	for (size_t i = 0; i < c->token_count; i++)
		valid |= api_secret_equal(given, given_len, c->tokens[i].secret);
	routing_table_release(t);
	return valid;
}

static void step_aside(gate_conn *gc)
{
	gc->phase = GATE_OPEN;
	/* Safe inside the callback itself: libevent has read the next entry. */
	evbuffer_remove_cb(bufferevent_get_input(gc->bev), on_input, gc);
}

/* Answer 401 and close, without reading the body.  The answer is written
 * straight to the socket: evhttp is between requests (nothing of ours is in
 * the output buffer) and never sees this one. */
static void refuse(gate_conn *gc, struct evbuffer *input)
{
	/* the same answers as the handlers give (http_api.c, authorize()) */
	const char *body = gc->token_seen
	                           ? "{\"error\":\"unauthorized\",\"message\":\"the bearer token is not valid\"}"
	                           : "{\"error\":\"unauthorized\",\"message\":\"this endpoint needs "
	                             "'Authorization: Bearer <token>'\"}";
	char reply[512];
	int len = snprintf(reply, sizeof reply,
	                   "HTTP/1.1 401 Unauthorized\r\n"
	                   "Content-Type: application/json; charset=utf-8\r\n"
	                   "WWW-Authenticate: Bearer realm=\"event-system\"%s\r\n"
	                   "Content-Length: %zu\r\n"
	                   "Connection: close\r\n\r\n%s",
	                   gc->token_seen ? ", error=\"invalid_token\"" : "", strlen(body), body);
	gc->phase = GATE_REFUSED;
	evutil_socket_t fd = bufferevent_getfd(gc->bev);
	if (fd >= 0) {
		/* A fresh socket buffer takes this whole; if not, the client gets
		 * a cut answer and the close. */
		if (send(fd, reply, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			LOG_DEBUG("auth", "could not send the 401 before closing");
		/* evhttp reads end-of-file next and frees the connection. */
		shutdown(fd, SHUT_RDWR);
	}
	atomic_fetch_add_explicit(&api_unauthorized, 1, memory_order_relaxed);
	char client[INET6_ADDRSTRLEN + 8] = "?";
	struct sockaddr_storage peer;
	socklen_t peer_len = sizeof peer;
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0) {
		char host[INET6_ADDRSTRLEN] = "?";
		unsigned port = 0;
		if (peer.ss_family == AF_INET) {
			const struct sockaddr_in *in = (const struct sockaddr_in *)&peer;
			inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
			port = ntohs(in->sin_port);
		} else if (peer.ss_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&peer;
			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
			port = ntohs(in6->sin6_port);
		}
		snprintf(client, sizeof client, "%s:%u", host, port);
	}
	LOG_WARN("auth", "request with a body and %s bearer token refused after its headers, before its body (client=%s)",
	         gc->token_seen ? "an unknown" : "no", client);
	evbuffer_drain(input, evbuffer_get_length(input));
}

static void end_of_head(gate_conn *gc, struct evbuffer *input)
{
	if ((gc->token_seen && gc->token_valid) || !tokens_configured(gc->gate)) {
		step_aside(gc);
		return;
	}
	if (!gc->declares_body) {
		gc->phase = GATE_HEAD_START; /* evhttp answers it at once (401, /health, ...) */
		return;
	}
	if (gc->head_start == 0 && evbuffer_get_length(bufferevent_get_output(gc->bev)) == 0)
		refuse(gc, input);
	else
		gc->phase = GATE_PENDING; /* see on_input */
}

/* One header line (without its line end), as evhttp will read it. */
static void on_line(gate_conn *gc, struct evbuffer *input, char *line, size_t len)
{
	if (gc->phase == GATE_HEAD_START) {
		if (len == 0)
			return; /* a stray line end between requests */
		gc->phase = GATE_HEADERS;
		gc->token_seen = gc->token_valid = gc->declares_body = false;
		return;
	}
	if (len == 0) {
		end_of_head(gc, input);
		return;
	}
	if (line[0] == ' ' || line[0] == '\t')
		return; /* continues the previous header */
	char *colon = memchr(line, ':', len);
	if (!colon)
		return; /* evhttp refuses the head */
	size_t name_len = (size_t)(colon - line);
	/* the value as evhttp keeps it: leading spaces and trailing blanks cut */
	char *value = colon + 1 + strspn(colon + 1, " ");
	char *end = line + len;
	while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (name_len == 13 && strncasecmp(line, "Authorization", 13) == 0) {
		if (!gc->token_seen)
			gc->token_valid = token_valid(gc->gate, value);
		gc->token_seen = true;
	} else if (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
		if (strcmp(value, "0") != 0)
			gc->declares_body = true;
	} else if (name_len == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
		gc->declares_body = true;
	}
}

/* Read the complete lines that arrived since the last call. */
static void read_lines(gate_conn *gc, struct evbuffer *input)
{
	char *line = gc->gate->line;
	while (gc->phase == GATE_HEAD_START || gc->phase == GATE_HEADERS) {
		size_t have = evbuffer_get_length(input);
		if (gc->examined >= have)
			return;
		struct evbuffer_ptr from;
		if (evbuffer_ptr_set(input, &from, gc->examined, EVBUFFER_PTR_SET) != 0)
			return;
		struct evbuffer_ptr eol = evbuffer_search(input, "\n", 1, &from);
		size_t len = eol.pos < 0 ? have - gc->examined : (size_t)eol.pos - gc->examined;
		if (len > GATE_MAX_LINE) {
			step_aside(gc); /* evhttp refuses a head this large itself */
			return;
		}
		if (eol.pos < 0)
			return; /* the rest of the line is still on its way */
		evbuffer_copyout_from(input, &from, line, len);
		line[len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (gc->phase == GATE_HEAD_START)
			gc->head_start = gc->examined;
		gc->examined = (size_t)eol.pos + 1;
		on_line(gc, input, line, len);
	}
}

/* Runs on every change of the connection's input buffer: bytes read from
 * the socket (before evhttp sees them) and bytes evhttp consumed. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	gate_conn *gc = arg;
	if (gc->phase == GATE_REFUSED) {
		if (evbuffer_get_length(buf) > 0)
			evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	if (info->n_deleted > 0) {
		/* evhttp consumed bytes at the front */
		bool into_refused_head = gc->phase == GATE_PENDING && info->n_deleted > gc->head_start;
		gc->examined = gc->examined > info->n_deleted ? gc->examined - info->n_deleted : 0;
		gc->head_start = gc->head_start > info->n_deleted ? gc->head_start - info->n_deleted : 0;
		if (into_refused_head) {
			/* evhttp starts on the refused head: every earlier answer is
			 * written (evhttp reads a request only after answering the one
			 * before). */
			refuse(gc, buf);
			return;
		}
	}
	if (info->n_added > 0)
		read_lines(gc, buf);
}

gate_conn *http_gate_track(http_gate *gate, struct bufferevent *bev)
{
	if (!tokens_configured(gate))
		return NULL; /* nothing to check */
	gate_conn *gc = calloc(1, sizeof *gc);
	if (!gc || !evbuffer_add_cb(bufferevent_get_input(bev), on_input, gc)) {
		free(gc);
		return NULL;
	}
	gc->gate = gate;
	gc->bev = bev;
	gc->phase = GATE_HEAD_START;
	return gc;
}

void http_gate_untrack(gate_conn *gc)
{
	if (!gc)
		return;
	if (gc->phase != GATE_OPEN)
		evbuffer_remove_cb(bufferevent_get_input(gc->bev), on_input, gc);
	free(gc);
}

/* ---- the gate as owner of the connections (http_gate_new_connection) ---- */

static void on_closed(struct evhttp_connection *conn, void *arg)
{
	gate_conn *gc = arg;
	if (gc->on_close)
		gc->on_close(conn, gc->on_close_arg);
	evhttp_connection_set_closecb(conn, NULL, NULL);
	for (gate_conn **p = &gc->gate->by_conn[bucket_of(conn)]; *p; p = &(*p)->next)
		if (*p == gc) {
			*p = gc->next;
			break;
		}
	http_gate_untrack(gc);
}

/* Right after http_gate_new_connection(): evhttp has made the connection
 * (the bufferevent's callback argument) and nothing of it ran yet. */
static void on_attach(evutil_socket_t fd, short what, void *arg)
{
	http_gate *g = arg;
	gate_conn *gc;
	while ((gc = g->pending) != NULL) {
		g->pending = gc->next_pending;
		void *conn = NULL;
		bufferevent_getcb(gc->bev, NULL, NULL, NULL, &conn);
		gc->conn = conn;
		size_t b = bucket_of(gc->conn);
		gc->next = g->by_conn[b];
		g->by_conn[b] = gc;
		evhttp_connection_set_closecb(gc->conn, on_closed, gc);
	}
}

struct bufferevent *http_gate_new_connection(struct event_base *base, void *arg)
{
	http_gate *g = arg;
	if (!tokens_configured(g))
		return NULL; /* nothing to check: evhttp makes its own */
	struct bufferevent *bev = bufferevent_socket_new(base, -1, 0); /* as evhttp makes it */
	gate_conn *gc = bev ? http_gate_track(g, bev) : NULL;
	if (!gc) {
		if (bev)
			bufferevent_free(bev);
		return NULL;
	}
	/* evhttp makes the connection when this returns; the attach event runs
	 * before the loop polls again, so before anything can close it. */
	gc->next_pending = g->pending;
	g->pending = gc;
	event_active(g->attach, EV_TIMEOUT, 0);
	return bev;
}

bool http_gate_watch_close(http_gate *gate, struct evhttp_connection *conn,
                           void (*cb)(struct evhttp_connection *, void *), void *arg)
{
	gate_conn *gc = gate ? find(gate, conn) : NULL;
	if (!gc)
		return false;
	gc->on_close = cb;
	gc->on_close_arg = arg;
	return true;
}

http_gate *http_gate_new(es_daemon *daemon, struct event_base *base)
{
	http_gate *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->daemon = daemon;
	g->attach = event_new(base, -1, 0, on_attach, g);
	if (!g->attach) {
		free(g);
		return NULL;
	}
	return g;
}

void http_gate_free(http_gate *gate)
{
	if (!gate)
		return;
	/* evhttp_free() closed every attached connection (freeing its
	 * gate_conn); only ones made in the last loop pass remain. */
	while (gate->pending) {
		gate_conn *gc = gate->pending;
		gate->pending = gc->next_pending;
		free(gc); /* its bufferevent is gone with evhttp */
	}
	event_free(gate->attach);
	free(gate);
}
