/*
 * Connection limit, accept back-off and whole-request deadlines for the
 * HTTP threads.  See connection_guard.h.
 */
#include "config.h"

#include "http/connection_guard.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "core/refusal_summary.h"
#include "model/es_event.h"
#include "http/http_gate.h"
#include "http/http_refusal_log.h"
#include "util/log.h"
#include "util/prom_text.h"

/* While not accepting: how often to look again. */
#define ACCEPT_RETRY_MS 100
/* Accepting this long, in every thread, without a new pause ends an
 * episode (its last line). */
#define EPISODE_END_MS 3000
#define BUCKETS 1024 /* per thread: open connections by evhttp_connection */
#define MAX_GUARDS 65 /* server.threads is at most 64, and the metrics listener */

static _Atomic uint32_t limit_connections = UINT32_MAX;
static _Atomic uint32_t deadline_ms = 30000;
static _Atomic uint32_t open_connections;
static _Atomic uint64_t cut_at_deadline, cut_unread, pauses_at_limit, pauses_accept_failed;

/* The current episode of not accepting, process-wide: one line when the
 * first thread pauses, one when no thread has paused for EPISODE_END_MS. */
static _Atomic int64_t episode_started_us; /* 0: none */
static _Atomic int64_t episode_last_pause_us;
static _Atomic uint64_t episode_pauses, episode_failed_accepts;
static _Atomic uint32_t episode_max_queued;

/* One open connection.  Owned by its guard; freed when libevent closes the
 * connection (on_closed). */
typedef struct tracked_conn {
	struct connection_guard *guard;
	struct bufferevent *bev;        /* referenced by us until adopted */
	struct evhttp_connection *conn; /* NULL until adopted */
	struct event *timer;            /* first the adoption, then the request deadline */
	gate_conn *gated;               /* the gate's state for it, or NULL */
	/* Until its input nears the read-ahead bound: a callback on the input
	 * that sets the bound then (see on_input_size). */
	struct bufferevent *wm_bev;     /* not referenced: the callback lives in its input */
	struct evbuffer_cb_entry *input_size_cb;
	bool counted;                   /* in open_connections */
	void (*on_close)(struct evhttp_connection *, void *);
	void *on_close_arg;
	struct tracked_conn *next; /* in its bucket */
} tracked_conn;

struct connection_guard {
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *listener;
	unsigned index;
	http_gate *gate; /* borrowed: the thread's */
	size_t read_ahead; /* the most unconsumed input one connection holds */
	char name[32]; /* for log lines */
	struct event *retry_timer;
	bool paused; /* the listener is disabled */
	bool stopped_accepting; /* for good: the server stops */
	struct event *log_tick; /* the thread's turn at writing the summarised log lines' counts (http_refusal_log.h) */
	/* The request deadline as a common timeout of the base (see
	 * arm_deadline), for deadline_ms as it was when made. */
	uint32_t deadline_made_ms;
	struct timeval deadline_tv;
	tracked_conn *buckets[BUCKETS];
};

/* The listener's error callback gets evhttp's argument, not ours: the
 * guards, found by their listener.  Atomic: the metrics thread may look
 * while the main thread registers the HTTP threads' guards. */
static _Atomic(connection_guard *) guards[MAX_GUARDS];

uint32_t connection_guard_default_limit(void)
{
	struct rlimit rl;
	uint64_t files = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		files = rl.rlim_cur;
	else if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		files = 1u << 20;
	if (files > (1u << 20))
		files = 1u << 20;
	/* Keep a quarter, and at least 64 (half of a very small limit), for
	 * the daemon's own descriptors: plugins, their files, the database. */
	uint64_t reserve = files / 4;
	uint64_t small = files / 2 < 64 ? files / 2 : 64;
	if (reserve < small)
		reserve = small;
	return files > reserve ? (uint32_t)(files - reserve) : 1;
}

void connection_guard_configure(uint32_t max_connections, uint32_t request_timeout_ms)
{
	atomic_store(&limit_connections, max_connections ? max_connections : 1);
	atomic_store(&deadline_ms, request_timeout_ms);
}

/* ---- open connections by evhttp_connection ---- */

static size_t bucket_of(const struct evhttp_connection *conn)
{
	uint64_t h = (uint64_t)(uintptr_t)conn * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 54) & (BUCKETS - 1);
}

static tracked_conn *find(connection_guard *g, const struct evhttp_connection *conn)
{
	for (tracked_conn *t = g->buckets[bucket_of(conn)]; t; t = t->next)
		if (t->conn == conn)
			return t;
	return NULL;
}

static void insert(connection_guard *g, tracked_conn *t)
{
	size_t b = bucket_of(t->conn);
	t->next = g->buckets[b];
	g->buckets[b] = t;
}

static void unlink_conn(connection_guard *g, tracked_conn *t)
{
	for (tracked_conn **p = &g->buckets[bucket_of(t->conn)]; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			return;
		}
	}
}

/* Remove the input-size callback (before the bufferevent can go). */
static void forget_input(tracked_conn *t)
{
	if (t->input_size_cb)
		evbuffer_remove_cb_entry(bufferevent_get_input(t->wm_bev), t->input_size_cb);
	t->input_size_cb = NULL;
}

static void release(tracked_conn *t)
{
	forget_input(t);
	if (t->conn)
		unlink_conn(t->guard, t);
	event_free(t->timer);
	if (t->counted)
		atomic_fetch_sub(&open_connections, 1);
	free(t);
}

/* ---- not accepting: pause, retry, resume ---- */

/* Connections waiting in the kernel's accept queue of the listener. */
static uint32_t accept_queue_length(const connection_guard *g)
{
	struct tcp_info info;
	socklen_t len = sizeof info;
	memset(&info, 0, sizeof info);
	if (getsockopt(evconnlistener_get_fd(g->listener), IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
		return 0;
	return info.tcpi_unacked; /* on a listening socket: the accept queue */
}

static void retry_in(connection_guard *g, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	event_add(g->retry_timer, &tv);
}

static void pause_accepting(connection_guard *g, const char *why, _Atomic uint64_t *counter)
{
	if (g->paused)
		return;
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
	evconnlistener_disable(g->listener);
	g->paused = true;
	int64_t now = clock_monotonic_us();
	atomic_fetch_add(&episode_pauses, 1);
	atomic_store(&episode_last_pause_us, now);
	int64_t none = 0;
	if (atomic_compare_exchange_strong(&episode_started_us, &none, now)) {
		LOG_WARN("http", "%s stops accepting connections: %s (%u open, server.max_connections %u); "
		         "clients wait in the accept queue, retrying every %d ms",
		         g->name, why, atomic_load(&open_connections), atomic_load(&limit_connections), ACCEPT_RETRY_MS);
	}
	retry_in(g, ACCEPT_RETRY_MS);
}

static void end_episode(int64_t started, int64_t now)
{
	if (!atomic_compare_exchange_strong(&episode_started_us, &started, 0))
		return; /* another thread ended it */
	uint64_t pauses = atomic_exchange(&episode_pauses, 0);
	uint64_t failed = atomic_exchange(&episode_failed_accepts, 0);
	uint32_t queued = atomic_exchange(&episode_max_queued, 0);
	LOG_WARN("http", "accepting connections again after %.1f s: accepting paused %llu time%s, %llu failed accept%s, "
	         "at most %u connections waited in an accept queue",
	         (double)(now - started) / 1e6, (unsigned long long)pauses, pauses == 1 ? "" : "s",
	         (unsigned long long)failed, failed == 1 ? "" : "s", queued);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	connection_guard *g = arg;
	int64_t now = clock_monotonic_us();
	uint32_t queued = accept_queue_length(g);
	uint32_t seen = atomic_load(&episode_max_queued);
	while (queued > seen && !atomic_compare_exchange_weak(&episode_max_queued, &seen, queued))
		;
	if (g->stopped_accepting)
		return;
	if (g->paused) {
		if (g->index != CONNECTION_GUARD_METRICS &&
		    atomic_load(&open_connections) >= atomic_load(&limit_connections)) {
			retry_in(g, ACCEPT_RETRY_MS);
			return;
		}
		g->paused = false;
		evconnlistener_enable(g->listener); /* a failing accept pauses again */
		retry_in(g, EPISODE_END_MS);
		return;
	}
	int64_t started = atomic_load(&episode_started_us);
	if (!started)
		return;
	if (now - atomic_load(&episode_last_pause_us) >= (int64_t)EPISODE_END_MS * 1000)
		end_episode(started, now);
	else
		retry_in(g, EPISODE_END_MS);
}

/* accept() failed (EMFILE, ENFILE, ENOBUFS...): libevent would log and
 * retry at once, forever; wait instead. */
static void on_accept_error(struct evconnlistener *listener, void *unused)
{
	int err = EVUTIL_SOCKET_ERROR();
	connection_guard *g = NULL;
	for (size_t i = 0; i < MAX_GUARDS && !g; i++) {
		connection_guard *candidate = atomic_load(&guards[i]);
		if (candidate && candidate->listener == listener)
			g = candidate;
	}
	if (!g)
		return;
	atomic_fetch_add(&episode_failed_accepts, 1);
	char why[128];
	snprintf(why, sizeof why, "accept() failed: %s", strerror(err));
	pause_accepting(g, why, &pauses_accept_failed);
}

/* ---- each connection: accept, adopt, deadline, close ---- */

/* Answers still in the connection's output buffer. */
static size_t unwritten_bytes(struct evhttp_connection *conn)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
	return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* The connection closes with answers unwritten: its client did not read
 * them within server.request_timeout_ms (evhttp's write timeout, or this
 * guard's deadline), or went away first.  Counted and logged, but not
 * when the server stops (it waited for them, and closes what is left),
 * nor when the gate refused a request on it (counted as that refusal; an
 * interim "100 Continue" may still be unwritten). */
static void note_unread_answers(const tracked_conn *t, struct evhttp_connection *conn)
{
	size_t unwritten = unwritten_bytes(conn);
	if (!unwritten || t->guard->stopped_accepting || http_gate_refused(t->gated))
		return;
	atomic_fetch_add_explicit(&cut_unread, 1, memory_order_relaxed);
	char client[INET6_ADDRSTRLEN + 8] = "?";
	char *addr = NULL;
	ev_uint16_t port = 0;
	evhttp_connection_get_peer(conn, &addr, &port);
	if (addr)
		snprintf(client, sizeof client, "%s:%u", addr, port);
	http_refusal_log_unread(unwritten, client);
}

static void on_log_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	http_refusal_log_tick();
}

static void on_closed(struct evhttp_connection *conn, void *arg)
{
	tracked_conn *t = arg;
	note_unread_answers(t, conn);
	if (t->on_close)
		t->on_close(conn, t->on_close_arg);
	http_gate_untrack(t->gated); /* its bufferevent still exists here */
	release(t);
}

/* Every connection of a thread has the same deadline, re-armed after each
 * answer: as one of the base's common timeouts, arming it appends to a
 * list instead of moving an entry in the timer heap (libevent gives the
 * same common timeout for the same duration, which the evhttp's own read
 * and write timeouts use too: http_loop.c). */
static void arm_deadline(tracked_conn *t)
{
	connection_guard *g = t->guard;
	uint32_t ms = atomic_load_explicit(&deadline_ms, memory_order_relaxed);
	if (ms != g->deadline_made_ms) {
		struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
		const struct timeval *common = event_base_init_common_timeout(g->base, &tv);
		g->deadline_tv = common ? *common : tv;
		g->deadline_made_ms = ms;
	}
	event_add(t->timer, &g->deadline_tv);
}

/* Right after the accept (libevent has made the evhttp_connection, which
 * is the bufferevent's callback argument, and read nothing yet). */
static void adopt(tracked_conn *t)
{
	struct bufferevent *bev = t->bev;
	bufferevent_event_cb eventcb = NULL;
	void *conn = NULL;
	bufferevent_getcb(bev, NULL, NULL, &eventcb, &conn);
	t->bev = NULL;
	if (!eventcb || !conn) { /* libevent failed to set the connection up and dropped it */
		http_gate_untrack(t->gated); /* our reference keeps the bufferevent */
		forget_input(t);
		bufferevent_decref(bev);
		release(t);
		return;
	}
	t->conn = conn;
	insert(t->guard, t);
	evhttp_connection_set_closecb(t->conn, on_closed, t);
	bufferevent_decref(bev); /* libevent's own reference stays */
	arm_deadline(t);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	tracked_conn *t = arg;
	if (!t->conn) {
		adopt(t);
		return;
	}
	/* No whole request in time.  A connection without a request under way
	 * is closed quietly, as HTTP allows, and not counted: evhttp's own read
	 * timeout, of the same length, closes most of them first.  A slow or
	 * stalled request is counted, and answered 408 by the gate when
	 * nothing is left to write before it. */
	gate_deadline seen;
	if (unwritten_bytes(t->conn) > 0) {
		seen = GATE_DEADLINE_IDLE; /* its client does not read: counted as that (on_closed) */
	} else if (t->gated) {
		seen = http_gate_deadline(t->gated, atomic_load_explicit(&deadline_ms, memory_order_relaxed));
	} else {
		/* not gated (the metrics listener): a request under way shows as
		 * input evhttp has not taken (a line not yet whole); cut unanswered */
		struct bufferevent *bev = evhttp_connection_get_bufferevent(t->conn);
		seen = bev && evbuffer_get_length(bufferevent_get_input(bev)) > 0 ? GATE_DEADLINE_UNANSWERED
		                                                                     : GATE_DEADLINE_IDLE;
	}
	switch (seen) {
	case GATE_DEADLINE_IDLE:
		break;
	case GATE_DEADLINE_ANSWERED:
		atomic_fetch_add_explicit(&cut_at_deadline, 1, memory_order_relaxed);
		break;
	case GATE_DEADLINE_UNANSWERED:
		atomic_fetch_add_explicit(&cut_at_deadline, 1, memory_order_relaxed);
		LOG_DEBUG("http", "connection cut unanswered: no whole request within server.request_timeout_ms");
		break;
	}
	evhttp_connection_free(t->conn); /* frees t (on_closed) */
}

/* What the bufferevent reads from the socket at most at a time (libevent's
 * default, set here so the bound below does not rest on it). */
#define SINGLE_READ 16384

/* The read-ahead bound is a high read watermark, and libevent's watermark
 * callback runs on every change of the input (each header line evhttp
 * reads) and re-adds the read event each time: a tenth of a small
 * request's CPU.  So the watermark is set only when the input comes within
 * one read of the bound; until then this cheaper callback watches. */
static void on_input_size(struct evbuffer *input, const struct evbuffer_cb_info *info, void *arg)
{
	tracked_conn *t = arg;
	size_t size = info->orig_size + info->n_added - info->n_deleted;
	if (size + SINGLE_READ < t->guard->read_ahead)
		return;
	/* off, not removed: a callback that changes the input (the gate's)
	 * may run this one nested in another run of the callbacks, whose loop
	 * holds a pointer to this entry; removed when the connection closes */
	evbuffer_cb_clear_flags(input, t->input_size_cb, EVBUFFER_CB_ENABLED);
	/* suspends reading at once when the input is past the mark */
	bufferevent_setwatermark(t->wm_bev, EV_READ, 0, t->guard->read_ahead);
}

/* Bound what `bev` holds of input it has not consumed by g->read_ahead. */
static void bound_read_ahead(connection_guard *g, tracked_conn *t, struct bufferevent *bev)
{
	bufferevent_set_max_single_read(bev, SINGLE_READ);
	if (t && g->read_ahead > (size_t)2 * SINGLE_READ) {
		t->wm_bev = bev;
		t->input_size_cb = evbuffer_add_cb(bufferevent_get_input(bev), on_input_size, t);
		if (t->input_size_cb)
			return;
	}
	bufferevent_setwatermark(bev, EV_READ, 0, g->read_ahead);
}

/* evhttp_set_bevcb: called for each accepted connection, before libevent
 * makes its evhttp_connection. */
static struct bufferevent *on_accept(struct event_base *base, void *arg)
{
	connection_guard *g = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, 0); /* what libevent makes */
	tracked_conn *t = calloc(1, sizeof *t);
	if (!bev || !t || !(t->timer = event_new(base, -1, 0, on_timer, t))) {
		free(t); /* out of memory: the connection goes untracked */
		if (bev)
			bound_read_ahead(g, NULL, bev);
		return bev;
	}
	t->guard = g;
	t->bev = bev;
	/* evhttp keeps reading while it writes an answer (it only drops its
	 * read callback; the API's answers turn reading off until written,
	 * api_reply_buffer(), its own error pages and the metrics' do not), so
	 * a client that pipelines requests and never reads the answers would
	 * fill the input without end.  Past this mark the
	 * bufferevent stops reading the socket (TCP pushes back on the client)
	 * until evhttp consumes input; evhttp never changes watermarks and
	 * bufferevent_enable() does not lift this suspension. */
	bound_read_ahead(g, t, bev);
	bufferevent_incref(bev); /* so adopt() can tell whether libevent still has it */
	if (g->gate)
		t->gated = http_gate_track(g->gate, bev); /* before evhttp reads from it */
	/* Each thread stops at the limit when it sees it: another thread may
	 * take one connection more meanwhile, which is served (closing it
	 * unanswered would be worse); so at most one per thread beyond it. */
	if (g->index == CONNECTION_GUARD_METRICS)
		goto adopt_soon;
	t->counted = true;
	uint32_t open = atomic_fetch_add(&open_connections, 1) + 1;
	if (open >= atomic_load(&limit_connections))
		pause_accepting(g, "the connection limit is reached", &pauses_at_limit);
adopt_soon:
	/* Runs in this loop iteration, after libevent has set the connection
	 * up and before any of its data is read. */
	event_active(t->timer, EV_TIMEOUT, 1);
	return bev;
}

connection_guard *connection_guard_new(struct event_base *base, struct evhttp *http, struct evconnlistener *listener,
                                       unsigned thread_index, http_gate *gate, size_t read_ahead)
{
	if (thread_index >= MAX_GUARDS)
		return NULL;
	connection_guard *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->base = base;
	g->http = http;
	g->listener = listener;
	g->index = thread_index;
	g->gate = gate;
	g->read_ahead = read_ahead;
	if (thread_index == CONNECTION_GUARD_METRICS)
		snprintf(g->name, sizeof g->name, "the metrics listener");
	else
		snprintf(g->name, sizeof g->name, "HTTP thread %u", thread_index);
	g->retry_timer = event_new(base, -1, 0, on_retry, g);
	g->log_tick = event_new(base, -1, EV_PERSIST, on_log_tick, g);
	struct timeval every = {.tv_sec = REFUSAL_SUMMARY_INTERVAL_S};
	if (!g->retry_timer || !g->log_tick || event_add(g->log_tick, &every) != 0) {
		if (g->retry_timer)
			event_free(g->retry_timer);
		if (g->log_tick)
			event_free(g->log_tick);
		free(g);
		return NULL;
	}
	atomic_store(&guards[thread_index], g);
	evhttp_set_bevcb(http, on_accept, g);
	evconnlistener_set_error_cb(listener, on_accept_error);
	return g;
}

void connection_guard_free(connection_guard *g)
{
	if (!g)
		return;
	/* evhttp_free() closed every connection; what is left was never
	 * adopted (the loop stopped first). */
	for (size_t b = 0; b < BUCKETS; b++) {
		while (g->buckets[b]) {
			tracked_conn *t = g->buckets[b];
			g->buckets[b] = t->next;
			t->conn = NULL;
			release(t);
		}
	}
	atomic_store(&guards[g->index], NULL);
	event_free(g->retry_timer);
	event_free(g->log_tick);
	free(g);
}

/* libevent 2.1's evhttp_is_connection_close(): a request to a proxy (an
 * absolute URI for a host the server does not know) closes unless
 * "Proxy-Connection: keep-alive", any other on "Connection: close".  (The
 * API's handlers clear the proxy flag; a request libevent answers itself
 * keeps it.) */
static bool headers_close(const struct evhttp_request *req, struct evkeyvalq *headers)
{
	if (req->flags & EVHTTP_PROXY_REQUEST) {
		const char *proxy = evhttp_find_header(headers, "Proxy-Connection");
		return !proxy || evutil_ascii_strcasecmp(proxy, "keep-alive") != 0;
	}
	const char *connection = evhttp_find_header(headers, "Connection");
	return connection && evutil_ascii_strcasecmp(connection, "close") == 0;
}

/* Whether evhttp closes the connection after the answer to `req`, as
 * libevent 2.1 decides it (evhttp_send_done): the request's or the
 * answer's headers say so (never for CONNECT), or a version before 1.1
 * without "Connection: keep-alive".  evhttp_request's fields are public
 * (event2/http_struct.h). */
static bool answer_closes(struct evhttp_request *req)
{
	if (evhttp_request_get_command(req) != EVHTTP_REQ_CONNECT &&
	    (headers_close(req, req->input_headers) || headers_close(req, req->output_headers)))
		return true;
	const char *asked = evhttp_find_header(req->input_headers, "Connection");
	bool before_1_1 = req->major < 1 || (req->major == 1 && req->minor < 1);
	return before_1_1 && !(asked && evutil_ascii_strncasecmp(asked, "keep-alive", 10) == 0);
}

/* Read nothing more and shut the socket down: the gate drops what
 * arrives; without a gate, what is in the input already is dropped here. */
static void close_after_answer(tracked_conn *t)
{
	if (t->gated) {
		http_gate_close_after_answer(t->gated);
		return;
	}
	struct bufferevent *bev = evhttp_connection_get_bufferevent(t->conn);
	struct evbuffer *input = bufferevent_get_input(bev);
	evbuffer_drain(input, evbuffer_get_length(input));
	evutil_socket_t fd = bufferevent_getfd(bev);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

static void on_answered(struct evhttp_request *req, void *arg)
{
	tracked_conn *t = arg;
	/* evhttp writes "Connection: close" into an answer to a CONNECT that
	 * asked for it (or whose handler said so), and then keeps the
	 * connection: close it as the answer says (evhttp reads the end) */
	if (evhttp_request_get_command(req) == EVHTTP_REQ_CONNECT && headers_close(req, req->output_headers)) {
		close_after_answer(t);
		arm_deadline(t); /* a backstop: evhttp should read the end at once */
		return;
	}
	/* answer_closes() looks up headers: only for a refusal waiting */
	http_gate_answered(t->gated, http_gate_refusal_waits(t->gated) && answer_closes(req));
	arm_deadline(t); /* the next request on this connection, idle time included */
}

/* A request whose Connection options include "close" anywhere (RFC 9110
 * section 7.6.1: "keep-alive, close", a second line) is given the one line
 * "Connection: close" instead: evhttp heeds only a first line that is
 * exactly "close" (and keeps an HTTP/1.0 connection whose first line
 * starts with "keep-alive"), and then closes after the answer and says so
 * in it. */
static void close_as_asked(const tracked_conn *t, struct evhttp_request *req)
{
	struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
	if (!http_gate_asks_close(t->gated, headers))
		return;
	while (evhttp_remove_header(headers, "Connection") == 0)
		;
	evhttp_add_header(headers, "Connection", "close");
}

void connection_guard_request_read(connection_guard *g, struct evhttp_request *req)
{
	tracked_conn *t = find(g, evhttp_request_get_connection(req));
	if (!t)
		return;
	event_del(t->timer);
	http_gate_request_read(t->gated);
	close_as_asked(t, req);
	evhttp_request_set_on_complete_cb(req, on_answered, t);
}

void connection_guard_stop_accepting(connection_guard *g)
{
	g->stopped_accepting = true;
	event_del(g->retry_timer);
	evconnlistener_disable(g->listener);
}

size_t connection_guard_unwritten(const connection_guard *g)
{
	size_t n = 0;
	for (size_t b = 0; b < BUCKETS; b++)
		for (const tracked_conn *t = g->buckets[b]; t; t = t->next)
			n += t->conn && unwritten_bytes(t->conn) > 0;
	return n;
}

void connection_guard_watch(connection_guard *g, struct evhttp_connection *conn,
                            void (*on_close)(struct evhttp_connection *, void *), void *arg)
{
	tracked_conn *t = find(g, conn);
	if (!t) { /* untracked (out of memory at its accept) */
		evhttp_connection_set_closecb(conn, on_close, arg);
		return;
	}
	t->on_close = on_close;
	t->on_close_arg = arg;
}

void connection_guard_metrics_render(struct evbuffer *out)
{
	prom_text_header(out, "eventsys_http_connections", "gauge", "Open HTTP connections.");
	evbuffer_add_printf(out, "eventsys_http_connections %u\n", atomic_load(&open_connections));
	prom_text_header(out, "eventsys_http_connections_limit", "gauge", "server.max_connections in force.");
	evbuffer_add_printf(out, "eventsys_http_connections_limit %u\n", atomic_load(&limit_connections));
	prom_text_header(out, "eventsys_http_connections_closed_total", "counter",
	                 "HTTP connections the server closed, by reason.");
	evbuffer_add_printf(out,
	                    "eventsys_http_connections_closed_total{reason=\"request_deadline\"} %llu\n"
	                    "eventsys_http_connections_closed_total{reason=\"bad_framing\"} %llu\n"
	                    "eventsys_http_connections_closed_total{reason=\"too_large\"} %llu\n"
	                    "eventsys_http_connections_closed_total{reason=\"answers_unread\"} %llu\n",
	                    (unsigned long long)atomic_load(&cut_at_deadline),
	                    (unsigned long long)http_gate_refused_framing(),
	                    (unsigned long long)http_gate_refused_too_large(),
	                    (unsigned long long)atomic_load(&cut_unread));
	prom_text_header(out, "eventsys_http_accept_pauses_total", "counter",
	                 "Times an HTTP thread stopped accepting, by reason.");
	evbuffer_add_printf(out,
	                    "eventsys_http_accept_pauses_total{reason=\"connection_limit\"} %llu\n"
	                    "eventsys_http_accept_pauses_total{reason=\"accept_failed\"} %llu\n",
	                    (unsigned long long)atomic_load(&pauses_at_limit),
	                    (unsigned long long)atomic_load(&pauses_accept_failed));
}
