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
 * The gate reads every request head on every connection, tokens or not,
 * and refuses in JSON (and closes) what evhttp would refuse with an HTML
 * page or read in a way open to request smuggling:
 * - framing: a Content-Length that is not plain digits or given twice with
 *   different values, Content-Length beside Transfer-Encoding, a
 *   Transfer-Encoding list evhttp does not de-chunk (empty, "identity",
 *   "chunked" twice, two headers) or in HTTP/1.0, an Expect other than
 *   100-continue, a body on HEAD or TRACE (evhttp reads none) or CONNECT
 *   (evhttp never closes after one); a body in another transfer coding
 *   ("gzip") is answered 501: what follows it cannot be told apart from it;
 * - lines a proxy in front may read otherwise than evhttp: a space before
 *   a header's colon, a name that is not a token, a folded line, a control
 *   byte (evhttp cuts a value at a NUL), a request line not in RFC 9112's
 *   form, a version other than HTTP/1.x (evhttp reads "HTTP/01.1" as 1.1),
 *   a missing, doubled or malformed Host (RFC 9112 section 3.2);
 * - what evhttp answers with its HTML page: a method it does not know
 *   (501), a target it cannot parse, a header line without a colon, a
 *   second empty line where a request line belongs (one is removed from
 *   the input before evhttp reads it, as RFC 9112 section 2.2 asks);
 * - what evhttp refuses as too large, first, so that the refusal is
 *   logged and counted: a Content-Length beyond its body limit (413,
 *   before any of the body is read) and a head beyond HTTP_MAX_HEAD_SIZE
 *   (431, as soon as it is);
 * - with tokens configured, a head that declares a body without a valid
 *   token (until the connection shows one): 401.
 * A chunked body's framing is read as it arrives, too
 * (http_gate_chunks.c).  Every refusal is counted, has an access log line
 * and a log line of its own (up to a budget: http_refusal_log.h).  At
 * the request deadline a request under way is answered 408
 * (http_gate_deadline()).
 *
 * After a head with a body the gate waits until evhttp has read that
 * request whole (http_gate_request_read): the next head starts at the
 * front of the input then.  A refused head is answered straight away when
 * nothing is outstanding on the connection; otherwise when evhttp starts
 * reading it, i.e. once every earlier answer is written.
 *
 * Ownership: a gate_conn belongs to its connection: made by
 * http_gate_track() when the connection's bufferevent is made and freed by
 * http_gate_untrack() when it closes, both called by the connection's owner
 * (connection_guard.c, which owns every connection's bufferevent and close
 * callback).
 */
#include "config.h"

#include "http/http_gate.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "http/http_api_internal.h"
#include "http/http_gate_internal.h"
#include "http/http_refusal_log.h"
#include "util/log.h"
#include "util/percent.h"
#include "core/router.h"

static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);

/* For the log line of a refusal for one of a head's lines. */
static const char *const WHILE_HEAD = "while its head was read";

/* The tokens in force, through the routing table a request would use. */
static bool tokens_configured(http_gate *g)
{
	table_borrow borrow;
	bool any = routing_table_config(router_borrow(g->daemon->router, &borrow))->token_count > 0;
	router_return(&borrow);
	return any;
}

/* Whether `value` is "Bearer <a token in force>"; copies its name into
 * gc->token_name (for the access log). */
static bool token_valid(gate_conn *gc, const char *value)
{
	if (strncasecmp(value, "Bearer ", 7) != 0)
		return false;
	const char *given = value + 7;
	size_t given_len = strlen(given);
	table_borrow borrow;
	const es_config *c = routing_table_config(router_borrow(gc->gate->daemon->router, &borrow));
	bool valid = false;
	for (size_t i = 0; i < c->token_count; i++)
		if (api_secret_equal(given, given_len, c->tokens[i].secret)) {
			valid = true; /* and on: the time taken tells nothing of which token */
			snprintf(gc->token_name, sizeof gc->token_name, "%s", c->tokens[i].name);
		}
	router_return(&borrow);
	return valid;
}

/* Heads refused, process-wide: for their framing (400, 417), as too
 * large (413, 431). */
static _Atomic uint64_t refused_framing, refused_too_large;

uint64_t http_gate_refused_framing(void)
{
	return atomic_load_explicit(&refused_framing, memory_order_relaxed);
}

uint64_t http_gate_refused_too_large(void)
{
	return atomic_load_explicit(&refused_too_large, memory_order_relaxed);
}

/* The JSON error code of a refusal other than 401. */
static const char *refusal_error(int status)
{
	switch (status) {
	case 413: return "too_large";
	case 417: return "expectation_failed";
	case 408: return "request_timeout";
	case 431: return "headers_too_large";
	case 501: return "not_implemented";
	default: return "bad_request";
	}
}

static void client_of(evutil_socket_t fd, char *client, size_t size)
{
	snprintf(client, size, "?");
	struct sockaddr_storage peer = {0};
	socklen_t peer_len = sizeof peer;
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&peer, &peer_len) != 0)
		return;
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
	snprintf(client, size, "%s:%u", host, port);
}

/* The length of the start of `s` (`len` bytes) without a byte of `stop`. */
static size_t strcspn_in(const char *s, size_t len, const char *stop)
{
	size_t n = 0;
	while (n < len && !strchr(stop, s[n]))
		n++;
	return n;
}

/* The method and the target of the current request line, as read; "-"
 * and "-" when it did not arrive whole.  The target ends at a space or
 * the query (for the access log) or at a space only (`with_query`). */
static void request_line_parts(const gate_conn *gc, bool with_query, const char **method, int *method_len,
                               const char **target, size_t *target_len)
{
	const char *line = gc->request_line, *end = line + gc->request_line_len;
	const char *space = memchr(line, ' ', gc->request_line_len);
	*method = *target = "-";
	*method_len = 1;
	*target_len = 1;
	if (gc->request_line_len > 0) {
		*method = line;
		*method_len = (int)((space ? space : end) - line);
		*target = space ? space + 1 : end;
		*target_len = strcspn_in(*target, (size_t)(end - *target), with_query ? " " : " ?");
	}
}

/* The time from the refusal's decision to its answer, as the handlers
 * time theirs from when they have the request. */
static double refusal_ms(const gate_conn *gc)
{
	struct timeval now;
	if (event_base_gettimeofday_cached(bufferevent_get_base(gc->bev), &now) != 0)
		return 0;
	double ms = (double)(now.tv_sec - gc->refused_at.tv_sec) * 1000.0 +
	            (double)(now.tv_usec - gc->refused_at.tv_usec) / 1000.0;
	return ms < 0 ? 0 : ms;
}

/* The refusal's access log line, as the handlers write one for each answer
 * (when logging.access_log is on). */
static void log_refusal_access(gate_conn *gc, const char *client, size_t bytes)
{
	if (!log_enabled(LOG_LEVEL_INFO))
		return;
	table_borrow borrow;
	bool on = routing_table_config(router_borrow(gc->gate->daemon->router, &borrow))->access_log;
	router_return(&borrow);
	if (!on)
		return;
	const char *method, *path;
	int method_len;
	size_t path_len;
	request_line_parts(gc, false, &method, &method_len, &path, &path_len);
	char method_shown[16];
	snprintf(method_shown, sizeof method_shown, "%.*s", method_len, method);
	api_access_line(gc->gate->api, method_shown, path, path_len, gc->refuse_status, bytes, refusal_ms(gc), client,
	                gc->token_valid ? gc->token_name : "");
}

/* Answer the refused head and close, without reading its body.  The answer
 * is written straight to the socket: nothing is outstanding (every answer
 * before it is written and no handler holds a request: refuse_or_wait()),
 * and evhttp never hands this request to a handler -- it may have read the
 * head's first lines, and reads end-of-file next.  The input is drained:
 * called from the input's own callback, or from evhttp's completion of the
 * answer before (http_gate_answered). */
static void send_refusal(gate_conn *gc, struct evbuffer *input)
{
	char body[512];
	char extra[96] = "";
	const char *reason = api_reason_phrase(gc->refuse_status);
	if (gc->refuse_status == 401) {
		/* the same answers as the handlers give (http_api.c, authorize()) */
		snprintf(body, sizeof body, "%s",
		         gc->token_seen ? "{\"error\":\"unauthorized\",\"message\":\"the bearer token is not valid\"}"
		                        : "{\"error\":\"unauthorized\",\"message\":\"this endpoint needs "
		                          "'Authorization: Bearer <token>'\"}");
		snprintf(extra, sizeof extra, "WWW-Authenticate: Bearer realm=\"event-system\"%s\r\n",
		         gc->token_seen ? ", error=\"invalid_token\"" : "");
	} else {
		/* the message is the gate's own text plus header values cut to
		 * printable ASCII (framing_error) */
		snprintf(body, sizeof body, "{\"error\":\"%s\",\"message\":\"%s\"}", refusal_error(gc->refuse_status),
		         gc->refuse_message);
	}
	char reply[1024];
	int len = snprintf(reply, sizeof reply,
	                   "HTTP/1.1 %d %s\r\n"
	                   "Content-Type: application/json; charset=utf-8\r\n"
	                   "%s"
	                   "Content-Length: %zu\r\n"
	                   "Connection: close\r\n\r\n%s",
	                   gc->refuse_status, reason, extra, strlen(body), gc->head_method ? "" : body);
	gc->phase = GATE_REFUSED;
	evutil_socket_t fd = bufferevent_getfd(gc->bev);
	/* before the close: a client that reads the answer and closes at
	 * once leaves no peer address to read after it ("client=?") */
	char client[INET6_ADDRSTRLEN + 8];
	client_of(fd, client, sizeof client);
	if (fd >= 0) {
		/* A fresh socket buffer takes this whole; if not, the client gets
		 * a cut answer and the close. */
		if (send(fd, reply, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			LOG_DEBUG("http", "could not send the %d before closing", gc->refuse_status);
		/* evhttp reads end-of-file next and frees the connection. */
		shutdown(fd, SHUT_RDWR);
	}
	/* counted like the handlers' answers, by the route of its target, and
	 * in the access log */
	const char *method, *target;
	int method_len;
	size_t target_len;
	request_line_parts(gc, true, &method, &method_len, &target, &target_len);
	api_count_refusal(method, method_len, target, target_len, gc->refuse_status);
	log_refusal_access(gc, client, gc->head_method ? 0 : strlen(body));
	if (gc->refuse_status == 408) {
		http_refusal_log_408(gc->refuse_message, client); /* counted by the connection guard */
	} else if (gc->refuse_status == 401) {
		atomic_fetch_add_explicit(&api_unauthorized, 1, memory_order_relaxed);
		if (http_refusal_line_allowed())
			LOG_WARN("auth", "request with a body and %s bearer token refused after its headers, before its "
			         "body (client=%s)", gc->token_seen ? "an unknown" : "no", client);
	} else {
		bool too_large = gc->refuse_status == 413 || gc->refuse_status == 431;
		atomic_fetch_add_explicit(too_large ? &refused_too_large : &refused_framing, 1, memory_order_relaxed);
		if (http_refusal_line_allowed())
			LOG_WARN("http", "request refused %s (%d): %s (client=%s)",
			         gc->refused_when ? gc->refused_when : "after its headers", gc->refuse_status,
			         gc->refuse_message, client);
	}
	evbuffer_drain(input, evbuffer_get_length(input));
}

/* Refuse the current head (gc->refuse_status and refuse_message) now, or
 * once the answers before it are written: GATE_PENDING, see on_input()
 * and http_gate_answered(). */
static void refuse_or_wait(gate_conn *gc, struct evbuffer *input)
{
	event_base_gettimeofday_cached(bufferevent_get_base(gc->bev), &gc->refused_at);
	/* Inside a chunked body evhttp is reading, the output may hold only
	 * its interim "100 Continue", which the refusal may overtake. */
	bool written = gc->phase == GATE_CHUNKS || evbuffer_get_length(bufferevent_get_output(gc->bev)) == 0;
	if (gc->head_start == 0 && !gc->in_flight && written)
		send_refusal(gc, input);
	else
		gc->phase = GATE_PENDING;
}

/* Refuse the current head for one of its lines, without waiting for its
 * end: evhttp reads a head line by line as it arrives and answers some
 * lines with its HTML 400 at once, and the head is refused anyway. */
static void refuse_line(gate_conn *gc, struct evbuffer *input, const char *message)
{
	gate_refuse(gc, input, 400, WHILE_HEAD, "%s", message);
}

void gate_refuse(gate_conn *gc, struct evbuffer *input, int status, const char *when, const char *format, ...)
{
	gc->refuse_status = status;
	gc->refused_when = when;
	va_list args;
	va_start(args, format);
	vsnprintf(gc->refuse_message, sizeof gc->refuse_message, format, args);
	va_end(args);
	refuse_or_wait(gc, input);
}

void gate_wait_for_request_read(gate_conn *gc, struct evbuffer *input)
{
	gc->phase = GATE_BODY;
	/* Until evhttp has read this request nothing of the input concerns
	 * the gate (http_gate_request_read starts over at its front): off,
	 * not called for each line evhttp takes and each read of the body.
	 * Unless an empty line before it waits to be removed as evhttp
	 * consumes the requests before it (drop_empty_line()). */
	if (gc->empty_line_len == 0)
		evbuffer_cb_clear_flags(input, gc->watch, EVBUFFER_CB_ENABLED);
}

/* Copy a header value into a message: printable ASCII other than " and \\,
 * at most 32 bytes, so the JSON and the log line stay clean. */
static void quote_value(char *out, size_t size, const char *value)
{
	size_t n = 0;
	for (const char *p = value; *p && n + 1 < size && n < 32; p++)
		out[n++] = (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ? *p : '?';
	out[n] = '\0';
}

/* Whether the current head declares a body: chunked, or a
 * Content-Length above 0. */
static bool head_declares_body(const gate_conn *gc)
{
	return gc->chunked || (gc->length_count > 0 && strspn(gc->length, "0") != strlen(gc->length));
}

/* Whether evhttp reads a body after the current head (evhttp_get_body):
 * one is declared and the method may have one (not HEAD or TRACE). */
static bool head_has_body(const gate_conn *gc)
{
	return gc->may_have_body && head_declares_body(gc);
}

/* What is wrong with the framing of the current head: sets the refusal
 * and returns true. */
static bool framing_error(gate_conn *gc)
{
	char shown[40];
	gc->refuse_status = 400;
	/* RFC 9112 section 3.2: a server MUST answer 400 to these; the host a
	 * request names is what a proxy in front routes it by */
	if (gc->host_count == 0 && gc->http11) {
		snprintf(gc->refuse_message, sizeof gc->refuse_message,
		         "an HTTP/1.1 request needs a Host header (RFC 9112 section 3.2)");
		return true;
	}
	if (gc->host_count > 1) {
		snprintf(gc->refuse_message, sizeof gc->refuse_message, "Host is given more than once");
		return true;
	}
	if (gc->host_bad) {
		snprintf(gc->refuse_message, sizeof gc->refuse_message,
		         "the Host header is not a host name or address and an optional port (RFC 9112 section 3.2)");
		return true;
	}
	if (gc->length_count > 0 && gc->length[0] == '\0') {
		snprintf(gc->refuse_message, sizeof gc->refuse_message,
		         "Content-Length must be 1 to 19 digits (no sign, spaces inside, hex or list)");
		return true;
	}
	if (gc->lengths_differ) {
		snprintf(gc->refuse_message, sizeof gc->refuse_message,
		         "Content-Length is given more than once with different values");
		return true;
	}
	if (gc->coding_count > 1) {
		snprintf(gc->refuse_message, sizeof gc->refuse_message,
		         "Transfer-Encoding is given more than once: send one header, 'Transfer-Encoding: chunked'");
		return true;
	}
	if (gc->coding_count == 1 && gc->length_count > 0) {
		snprintf(gc->refuse_message, sizeof gc->refuse_message,
		         "a request has Content-Length or Transfer-Encoding, not both (RFC 9112 section 6.3)");
		return true;
	}
	if (gc->coding_count == 1 && !gc->chunked) {
		/* evhttp de-chunks only "chunked" exactly; a list that names no
		 * other coding (gzip...) is broken framing; other codings get the
		 * handlers' 501 */
		bool other_coding = false, chunked_seen = false, empty = false, twice = false, identity = false;
		const char *p = gc->coding;
		for (;;) {
			p += strspn(p, " \t");
			size_t n = strcspn(p, ",");
			size_t t = n;
			while (t && (p[t - 1] == ' ' || p[t - 1] == '\t'))
				t--;
			if (t == 0)
				empty = true;
			else if (t == 7 && strncasecmp(p, "chunked", 7) == 0)
				twice |= chunked_seen, chunked_seen = true;
			else if (t == 8 && strncasecmp(p, "identity", 8) == 0)
				identity = true;
			else
				other_coding = true;
			if (p[n] != ',')
				break;
			p += n + 1;
		}
		if (empty || twice || identity || !other_coding) {
			quote_value(shown, sizeof shown, gc->coding);
			snprintf(gc->refuse_message, sizeof gc->refuse_message,
			         "Transfer-Encoding '%s' is not a framing this server reads: send "
			         "'Transfer-Encoding: chunked' alone or a Content-Length",
			         shown);
			return true;
		}
	}
	/* evhttp reads no body after HEAD or TRACE: what the client sent as
	 * one would be read as the next request (a smuggling hazard).  It does
	 * read one after CONNECT, but keeps the connection open after every
	 * answer to a CONNECT, "Connection: close" or not (libevent 2.1's
	 * evhttp_is_request_connection_close), so a body it failed to read
	 * would be read as the next request too. */
	if (!gc->may_have_body && (gc->coding_count > 0 || head_declares_body(gc))) {
		snprintf(gc->refuse_message, sizeof gc->refuse_message,
		         "a HEAD, TRACE or CONNECT request has no body here: send it without Content-Length above 0 "
		         "or Transfer-Encoding");
		return true;
	}
	/* RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding has
	 * faulty framing */
	if (gc->coding_count > 0 && !gc->http11) {
		snprintf(gc->refuse_message, sizeof gc->refuse_message,
		         "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 section 6.1): send a Content-Length");
		return true;
	}
	if (head_has_body(gc) && gc->http11 && gc->expect_other) {
		gc->refuse_status = 417;
		snprintf(gc->refuse_message, sizeof gc->refuse_message,
		         "the only Expect this server meets is '100-continue'");
		return true;
	}
	return false;
}

/* Whether the current head's body is beyond what evhttp reads: it would
 * answer an HTML 413 from the Content-Length (1-19 digits here, so it
 * fits) before reading the body.  Sets the refusal. */
static bool body_too_large(gate_conn *gc)
{
	if (!head_has_body(gc) || gc->chunked || strtoull(gc->length, NULL, 10) <= gc->gate->max_body_size)
		return false;
	gc->refuse_status = 413;
	snprintf(gc->refuse_message, sizeof gc->refuse_message,
	         "the body is %s bytes (its Content-Length); this server reads at most %llu "
	         "(event.max_event_size is %zu)",
	         gc->length, (unsigned long long)gc->gate->max_body_size, gc->gate->max_event_size);
	return true;
}

static void end_of_head(gate_conn *gc, struct evbuffer *input)
{
	if (framing_error(gc)) {
		refuse_or_wait(gc, input);
		return;
	}
	/* another coding (e.g. "gzip, chunked"): a body evhttp cannot read
	 * follows, so what comes after it cannot be told apart from it */
	bool other_coding = gc->coding_count == 1 && !gc->chunked;
	bool has_body = head_has_body(gc) || other_coding;
	if (gc->check_tokens && gc->token_seen && gc->token_valid)
		gc->check_tokens = false; /* this connection showed a valid token */
	if (has_body && gc->check_tokens && tokens_configured(gc->gate)) {
		gc->refuse_status = 401;
		refuse_or_wait(gc, input);
		return;
	}
	if (body_too_large(gc)) { /* after the token: a client without one learns no limit */
		refuse_or_wait(gc, input);
		return;
	}
	if (other_coding) {
		char shown[40];
		quote_value(shown, sizeof shown, gc->coding);
		gc->refuse_status = 501;
		snprintf(gc->refuse_message, sizeof gc->refuse_message, API_CODING_UNSUPPORTED, shown);
		refuse_or_wait(gc, input);
		return;
	}
	if (!has_body)
		/* the next head follows at once (evhttp answers this one first:
		 * 401, /health, ...) */
		gc->phase = GATE_HEAD_START;
	else if (gc->chunked)
		gate_chunks_start(gc); /* its framing is read as it arrives: read_input() */
	else
		gate_wait_for_request_read(gc, input);
}

size_t http_target_authority_len(const char *target, size_t len)
{
	size_t scheme = len >= 7 && strncasecmp(target, "http://", 7) == 0    ? 7
	                : len >= 8 && strncasecmp(target, "https://", 8) == 0 ? 8
	                                                                       : 0;
	if (!scheme)
		return 0;
	size_t end = scheme;
	while (end < len && target[end] != '/' && target[end] != '?' && target[end] != ' ' && target[end] != '\0')
		end++;
	return end;
}

/* Keep the request line's start for a refusal's access line and its count
 * by route (a copy: the line's buffer is reused for the next line): the
 * method, a space and the target from its path on.  An absolute-form
 * target's scheme and authority are left out, as the handlers read it
 * (http_target_authority_len(), as origin_form() in http_api.c): a long
 * authority would otherwise leave
 * no path in the copy. */
static void keep_request_line(gate_conn *gc, const char *line, size_t len)
{
	const char *space = memchr(line, ' ', len);
	size_t method = space ? (size_t)(space - line) + 1 : len; /* with its space */
	const char *target = line + method;
	size_t target_len = len - method;
	size_t authority = http_target_authority_len(target, target_len);
	size_t n = method < sizeof gc->request_line ? method : sizeof gc->request_line;
	memcpy(gc->request_line, line, n);
	if (authority) {
		target += authority;
		target_len -= authority;
		if ((target_len == 0 || target[0] != '/') && n < sizeof gc->request_line)
			gc->request_line[n++] = '/'; /* no path: the root (RFC 9112 section 3.2.1) */
	}
	size_t room = sizeof gc->request_line - n;
	size_t take = target_len < room ? target_len : room;
	memcpy(gc->request_line + n, target, take);
	gc->request_line_len = n + take;
}

/* Whether a Connection value's comma-separated options include "close"
 * (RFC 9110 section 7.6.1). */
static bool lists_close(const char *value)
{
	const char *p = value;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			return false;
		const char *start = p;
		while (*p && *p != ',')
			p++;
		const char *end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end - start == 5 && strncasecmp(start, "close", 5) == 0)
			return true;
	}
}

/* Whether `c` may be in a header's name (RFC 9110 section 5.6.2, tchar):
 * a-z, A-Z, 0-9 and !#$%&'*+-.^_`|~, one bit each (every header line of
 * every request goes through here: a table, not a search). */
static bool token_char(unsigned char c)
{
	static const uint64_t tchar_bits[2] = {0x03ff6cfa00000000u, 0x57ffffffc7fffffeu};
	return c < 128 && ((tchar_bits[c >> 6] >> (c & 63)) & 1u);
}

/* Whether `c` may be in a host name or IPv4 address as RFC 3986 section
 * 3.2.2 writes them (reg-name): unreserved and sub-delims characters ('%'
 * starts a percent-encoded byte).  A table, as for token_char(): every
 * request has a Host. */
static bool host_name_char(unsigned char c)
{
	static const uint64_t name_bits[2] = {0x2bff7fd200000000u, 0x47fffffe87fffffeu};
	return c < 128 && ((name_bits[c >> 6] >> (c & 63)) & 1u);
}

/* Whether a Host value is RFC 9112 section 3.2's uri-host [":" port]: a
 * host name or IPv4 address, or an IPv6 address in brackets, and a port
 * of at most 5 digits up to 65535.  Empty is allowed (RFC 9112: a target
 * without an authority).  Not a space, '/', '?', '#', '@', a byte of 0x80
 * and up or a second colon, which a proxy in front may read as another
 * host or port. */
static bool host_value_ok(const char *v)
{
	const char *p = v;
	if (*p == '[') {
		size_t n = strspn(++p, "0123456789abcdefABCDEF:.");
		if (n == 0 || p[n] != ']' || !memchr(p, ':', n))
			return false;
		p += n + 1;
	} else {
		while (host_name_char((unsigned char)*p) || *p == '%') {
			if (*p == '%' && (percent_hex_value(p[1]) < 0 || percent_hex_value(p[2]) < 0))
				return false;
			p += *p == '%' ? 3 : 1;
		}
		if (p == v && *p != '\0')
			return false; /* a port without a host (":80"), or a first byte no host has */
	}
	if (*p == '\0')
		return true;
	if (*p++ != ':')
		return false;
	size_t digits = strspn(p, "0123456789"); /* none: RFC 3986 allows an empty port */
	return digits <= 5 && p[digits] == '\0' && strtoul(p, NULL, 10) <= 65535;
}

/* The methods evhttp knows (evhttp_parse_request_line): any other it
 * answers with its HTML 501. */
static bool method_known(const char *method, size_t len)
{
	static const char *const known[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH"};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strlen(known[i]) == len && memcmp(known[i], method, len) == 0)
			return true;
	return false;
}

/* Whether one of the 8 bytes of `w` is below 0x20 or is 0x7f (bytes of
 * 0x80 and up, UTF-8 or obs-text, are not): exact as a yes or no
 * (hasless and haszero of the "bit twiddling hacks"). */
static bool word_has_control(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	uint64_t del = w ^ (ones * 0x7f);
	return (((w - ones * 0x20) & ~w) | ((del - ones) & ~del)) & highs;
}

/* The first control byte of a line (a tab is allowed), or -1.  evhttp
 * reads a header up to a NUL, so "ce-id: a\0b" would reach a plugin as the
 * id "a"; a lone CR or another control byte is what a proxy in front may
 * read differently (RFC 9110 section 5.5).  Eight bytes at a time: a line
 * without a control byte (or a tab) costs a few instructions a word. */
static int control_byte(const char *line, size_t len)
{
	size_t i = 0;
	uint64_t w;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, line + i, 8);
		if (word_has_control(w))
			break;
	}
	if (i < len && i + 8 > len && len >= 8) {
		/* the last bytes as the line's last word (overlapping the one before) */
		memcpy(&w, line + len - 8, 8);
		if (!word_has_control(w))
			return -1;
		i = len - 8;
	}
	for (; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return c;
	}
	return -1;
}


/* A header line's name is a token right up to its colon, and the line
 * does not continue the previous one: RFC 9112 sections 5.1 and 5.2 have
 * a server refuse both, since evhttp and a proxy in front may read such
 * a line differently ("Content-Length : 5" is no Content-Length to
 * evhttp, but may be one to the proxy). */
static bool field_line_ok(gate_conn *gc, struct evbuffer *input, const char *line, size_t len)
{
	char message[160];
	int ctl = control_byte(line, len);
	if (ctl >= 0) {
		snprintf(message, sizeof message,
		         "a header has the control byte 0x%02x: a header line may hold no NUL, CR or other control "
		         "byte but a tab",
		         ctl);
		refuse_line(gc, input, message);
		return false;
	}
	if (line[0] == ' ' || line[0] == '\t') {
		refuse_line(gc, input, "a header line starts with a space or tab (obsolete line folding): send each header "
		                 "on one line");
		return false;
	}
	const char *colon = memchr(line, ':', len);
	if (!colon) {
		refuse_line(gc, input, "a header line has no colon: send 'Name: value'");
		return false;
	}
	if (colon == line) {
		refuse_line(gc, input, "a header line has no name before its colon");
		return false;
	}
	for (const char *p = line; p < colon; p++) {
		if (*p == ' ' || *p == '\t') {
			refuse_line(gc, input, "a header's name is followed by a space or tab before its colon: send "
			                 "'Name: value' (RFC 9112 section 5.1)");
			return false;
		}
		if (!token_char((unsigned char)*p)) {
			snprintf(message, sizeof message, "a header's name has the byte 0x%02x, which a name may not have",
			         (unsigned char)*p);
			refuse_line(gc, input, message);
			return false;
		}
	}
	return true;
}

/* A request line's length without the spaces after it (evhttp cuts them). */
static size_t without_trailing_spaces(const char *line, size_t len)
{
	while (len > 0 && line[len - 1] == ' ')
		len--;
	return len;
}

/* The HTTP version at the end of a request line, as RFC 9112 writes it
 * ("HTTP/" DIGIT "." DIGIT, after the line's last space; evhttp cuts
 * spaces after it: `len` is without them): the minor version, or -1 when
 * it is not HTTP/1.x.
 * evhttp reads the version more loosely (sscanf "HTTP/%d.%d": "HTTP/01.1",
 * "HTTP/+1.1"), and a proxy in front may read such a line otherwise. */
static int http1_minor_version(const char *line, size_t len)
{
	if (len < 9 || line[len - 9] != ' ' || memcmp(line + len - 8, "HTTP/1.", 7) != 0 || line[len - 1] < '0' ||
	    line[len - 1] > '9')
		return -1;
	return line[len - 1] - '0';
}

/* Whether the first `len` bytes of a request line, up to the space before
 * its version, are a method (a token), one space and a target without
 * spaces or tabs (RFC 9112 section 3).  evhttp takes what precedes the
 * first space for the method and what lies between it and the last space
 * for the target, spaces and all: "GET\t/x", " GET /x" or "GET /a b"
 * would be read otherwise by a proxy in front. */
static bool request_line_form_ok(const char *line, size_t len)
{
	size_t method = 0;
	while (method < len && token_char((unsigned char)line[method]))
		method++;
	if (method == 0 || method + 1 >= len || line[method] != ' ')
		return false;
	for (size_t i = method + 1; i < len; i++)
		if (line[i] == ' ' || line[i] == '\t')
			return false;
	return true;
}

/* Whether evhttp can read a request target (`target`, NUL-terminated) as
 * it does (evhttp_parse_request_line): a CONNECT's as an authority, any
 * other as a URI.  A plain path ("/x", not "//x") it always can: only
 * other targets are parsed here. */
static bool target_readable(const char *target, size_t len, bool connect)
{
	if (!connect && target[0] == '/' && target[1] != '/')
		return true;
	char *uri = malloc(len + 3);
	if (!uri)
		return true; /* evhttp will tell */
	/* an authority alone is read as a URI's "//authority" is */
	snprintf(uri, len + 3, "%s%s", connect ? "//" : "", target);
	struct evhttp_uri *parsed = evhttp_uri_parse_with_flags(uri, EVHTTP_URI_NONCONFORMANT);
	free(uri);
	if (!parsed)
		return false;
	evhttp_uri_free(parsed);
	return true;
}

/* The method and the target of a request line in RFC 9112's form (`len`:
 * up to the space before the version), as evhttp reads them: a method it
 * does not know, or a target it cannot parse, it would answer with an
 * HTML page. */
static void request_line_words_ok(gate_conn *gc, struct evbuffer *input, char *line, size_t len)
{
	size_t method_len = strcspn(line, " ");
	if (!method_known(line, method_len)) {
		char shown[40];
		line[method_len] = '\0';
		quote_value(shown, sizeof shown, line);
		line[method_len] = ' ';
		gate_refuse(gc, input, 501, WHILE_HEAD,
		            "the method '%s' is not one this server knows (GET, POST, HEAD, PUT, DELETE, OPTIONS, TRACE, "
		            "CONNECT, PATCH)",
		            shown);
		return;
	}
	char *target = line + method_len + 1;
	line[len] = '\0';
	bool readable = target_readable(target, len - method_len - 1, method_len == 7 && memcmp(line, "CONNECT", 7) == 0);
	line[len] = ' ';
	if (!readable)
		refuse_line(gc, input, "the request target is not a URI this server can read (a port that is not a number, "
		                       "a broken IPv6 address?)");
}

/* Remove the empty line before a request line (on_line()) once it is at
 * the front of the input: at once, or when evhttp has consumed the
 * requests before it (on_input()), before it reads on. */
static bool drop_empty_line(gate_conn *gc, struct evbuffer *input)
{
	if (gc->empty_line_len == 0 || gc->empty_line_at != 0)
		return false;
	size_t n = gc->empty_line_len;
	gc->empty_line_len = 0;
	gc->input_changed = true;
	/* on_input() runs for it (n_deleted) and moves examined and
	 * head_start back by n */
	evbuffer_drain(input, n);
	if (gc->phase == GATE_BODY)
		/* the watch stayed on for this line only (gate_wait_for_request_read) */
		evbuffer_cb_clear_flags(input, gc->watch, EVBUFFER_CB_ENABLED);
	return true;
}

/* One header line (without its line end), as evhttp will read it. */
static void on_line(gate_conn *gc, struct evbuffer *input, char *line, size_t len)
{
	if (gc->phase == GATE_HEAD_START) {
		if (len == 0) {
			/* RFC 9112 section 2.2: a server SHOULD ignore at least one
			 * empty line before a request line (a client may send a line
			 * end after a body, not counted in its Content-Length).
			 * evhttp reads one as a request line it cannot parse (an
			 * HTML 400): it is removed before evhttp gets to it.  One is
			 * ignored; more are refused. */
			if (gc->empty_line_seen) {
				refuse_line(gc, input, "more than one empty line where a request line should be");
				return;
			}
			gc->phase = GATE_HEAD_START; /* the request line is still to come */
			if (gc->empty_line_len > 0) {
				/* the one before a request pipelined earlier still waits
				 * for evhttp: read this line again once it is removed */
				gc->examined = gc->head_start;
				gc->wait_for_drop = true;
				return;
			}
			gc->empty_line_seen = true;
			gc->empty_line_len = gc->examined - gc->head_start;
			gc->empty_line_at = gc->head_start;
			drop_empty_line(gc, input);
			return;
		}
		gc->phase = GATE_HEADERS;
		gc->empty_line_seen = false;
		/* the request line: METHOD SP URI SP HTTP/x.y */
		keep_request_line(gc, line, len);
		gc->head_method = len >= 5 && memcmp(line, "HEAD ", 5) == 0;
		gc->may_have_body = !(gc->head_method || (len >= 6 && memcmp(line, "TRACE ", 6) == 0) ||
		                      (len >= 8 && memcmp(line, "CONNECT ", 8) == 0));
		size_t trimmed = without_trailing_spaces(line, len);
		int minor = http1_minor_version(line, trimmed);
		gc->http11 = minor >= 1; /* evhttp heeds Expect from HTTP/1.1 on */
		int ctl = control_byte(line, len);
		char message[80];
		if (ctl >= 0) {
			snprintf(message, sizeof message, "the request line has the control byte 0x%02x", ctl);
			refuse_line(gc, input, message);
		} else if (minor < 0) {
			refuse_line(gc, input, "the request line does not end with an HTTP/1.x version (HTTP/1.1, HTTP/1.0)");
		} else if (!request_line_form_ok(line, trimmed - 9)) {
			refuse_line(gc, input, "the request line is not METHOD, one space, the target, one space and the "
			                       "version (RFC 9112 section 3)");
		} else {
			request_line_words_ok(gc, input, line, trimmed - 9);
		}
		return;
	}
	if (len == 0) {
		end_of_head(gc, input);
		return;
	}
	if (!field_line_ok(gc, input, line, len))
		return;
	char *colon = memchr(line, ':', len);
	size_t name_len = (size_t)(colon - line);
	/* The value as evhttp keeps it (leading spaces and trailing blanks
	 * cut), which is what it frames the request by; and as the handlers
	 * read it, with leading tabs cut too (read_request_headers()). */
	char *evhttp_value = colon + 1;
	while (*evhttp_value == ' ')
		evhttp_value++;
	char *end = line + len;
	while (end > evhttp_value && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	char *value = evhttp_value;
	while (*value == ' ' || *value == '\t')
		value++;
	if (name_len == 4 && strncasecmp(line, "Host", 4) == 0) {
		if (gc->host_count++ == 0)
			gc->host_bad = !host_value_ok(value);
	} else if (name_len == 13 && strncasecmp(line, "Authorization", 13) == 0) {
		if (!gc->token_seen)
			gc->token_valid = token_valid(gc, value);
		gc->token_seen = true;
	} else if ((name_len == 14 && strncasecmp(line, "Content_Length", 14) == 0) ||
	           (name_len == 17 && strncasecmp(line, "Transfer_Encoding", 17) == 0)) {
		/* no framing to evhttp, but a proxy in front that reads '_' as
		 * '-' (some do, as CGI does) would frame the body by it */
		refuse_line(gc, input, "a header named Content_Length or Transfer_Encoding: send Content-Length or "
		                       "Transfer-Encoding");
	} else if (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
		size_t n = strlen(value); /* as evhttp reads it: up to a NUL */
		bool digits = n >= 1 && n <= 19 && strspn(value, "0123456789") == n;
		if (gc->length_count++ == 0) {
			/* n < sizeof gc->length when digits (a snprintf() here cost
			 * a tenth of the gate) */
			n = digits ? n : 0;
			memcpy(gc->length, value, n);
			gc->length[n] = '\0';
		} else if (!digits || strcmp(value, gc->length) != 0)
			gc->lengths_differ = true;
	} else if (name_len == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
		/* evhttp de-chunks "chunked" exactly: a tab before it is
		 * another framing to evhttp */
		if (evhttp_value[0] == '\t')
			refuse_line(gc, input, "a tab before the value of Transfer-Encoding: this server reads it exactly as "
			                 "written; send 'Transfer-Encoding: chunked' with a space");
		if (gc->coding_count++ == 0) {
			snprintf(gc->coding, sizeof gc->coding, "%s", evhttp_value);
			gc->chunked = strcasecmp(evhttp_value, "chunked") == 0;
		}
	} else if (name_len == 10 && strncasecmp(line, "Connection", 10) == 0) {
		gc->close_seen |= lists_close(value);
	} else if (name_len == 6 && strncasecmp(line, "Expect", 6) == 0) {
		if (evhttp_value[0] == '\t')
			refuse_line(gc, input, "a tab before the value of Expect: this server reads it exactly as written; send "
			                 "'Expect: 100-continue' with a space");
		gc->expect_other |= strcasecmp(evhttp_value, "100-continue") != 0;
	}
}

/* A head starts at gc->examined: what was read of the one before is
 * forgotten. */
static void start_head(gate_conn *gc)
{
	gc->head_start = gc->examined;
	gc->head_size = 0;
	gc->refused_when = NULL;
	gc->request_line_len = 0;
	gc->token_name[0] = '\0';
	gc->token_seen = gc->token_valid = gc->lengths_differ = gc->chunked = gc->expect_other = false;
	gc->head_method = false;
	gc->may_have_body = true;
	gc->length_count = gc->coding_count = gc->host_count = 0;
	gc->host_bad = false;
	gc->length[0] = gc->coding[0] = '\0';
}

/* Whether the line at gc->examined, `bytes` long so far (`complete`: its
 * LF came, `bytes` not counting it), takes the head beyond
 * HTTP_MAX_HEAD_SIZE as evhttp counts it -- a complete line without the CR
 * before its LF, an unfinished one with every byte it has -- and if so
 * refuses it: 431 (evhttp would answer an HTML 400 and log nothing). */
static bool line_over_limit(gate_conn *gc, struct evbuffer *input, size_t bytes, bool complete, bool cr)
{
	if (gc->phase == GATE_HEAD_START)
		start_head(gc); /* this line is a request line */
	size_t size = gc->head_size + bytes - (complete && cr);
	if (size <= HTTP_MAX_HEAD_SIZE)
		return false;
	gc->refuse_status = 431;
	gc->refused_when = WHILE_HEAD;
	snprintf(gc->refuse_message, sizeof gc->refuse_message,
	         "the request head is over %d bytes, the most this server reads (%zu so far, line ends not "
	         "counted)",
	         HTTP_MAX_HEAD_SIZE, size);
	refuse_or_wait(gc, input);
	return true;
}

/* A line of `raw` bytes (its LF excluded) starting at gc->examined is in
 * `line`, within the head's limit (line_over_limit() said so):
 * NUL-terminate it, cut its CR, and read it. */
static void take_line(gate_conn *gc, struct evbuffer *input, char *line, size_t raw)
{
	size_t len = raw;
	line[len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	gc->examined += raw + 1;
	gc->head_size += len;
	on_line(gc, input, line, len);
}

static bool reading_heads(const gate_conn *gc)
{
	return (gc->phase == GATE_HEAD_START || gc->phase == GATE_HEADERS) && !gc->wait_for_drop;
}

/* One line by searching for its end: for a line spread over more pieces
 * of the input than read_lines() looks at in one pass.  False when it is
 * not complete yet. */
static bool read_line_searching(gate_conn *gc, struct evbuffer *input)
{
	size_t have = evbuffer_get_length(input);
	struct evbuffer_ptr from;
	if (gc->examined >= have || evbuffer_ptr_set(input, &from, gc->examined, EVBUFFER_PTR_SET) != 0)
		return false;
	struct evbuffer_ptr eol = evbuffer_search(input, "\n", 1, &from);
	size_t len = eol.pos < 0 ? have - gc->examined : (size_t)eol.pos - gc->examined;
	char last = 0; /* the byte before the LF */
	struct evbuffer_ptr before_eol;
	if (eol.pos > 0 && len > 0 && evbuffer_ptr_set(input, &before_eol, (size_t)eol.pos - 1, EVBUFFER_PTR_SET) == 0)
		evbuffer_copyout_from(input, &before_eol, &last, 1);
	if (line_over_limit(gc, input, len, eol.pos >= 0, last == '\r'))
		return false;
	if (eol.pos < 0)
		return false; /* the rest of the line is still on its way */
	evbuffer_copyout_from(input, &from, gc->gate->line, len);
	take_line(gc, input, gc->gate->line, len);
	return true;
}

/* Pieces of the input looked at in one pass. */
#define PEEK_PIECES 16

/* Read the complete lines that arrived since the last call.  The input is
 * looked at in place, one evbuffer_peek() a pass: a search, a pointer and
 * a copy for each line took the buffer's lock four times a line.  Reading
 * a line changes the input only when it ends the head or refuses it (a
 * refusal sent drains it); the phase changes then, and the pass stops. */
static void read_lines(gate_conn *gc, struct evbuffer *input)
{
	char *line = gc->gate->line;
	gc->input_changed = false; /* a drop outside a pass moved nothing this pass has seen */
	while (reading_heads(gc)) {
		struct evbuffer_ptr from;
		if (gc->examined >= evbuffer_get_length(input) ||
		    evbuffer_ptr_set(input, &from, gc->examined, EVBUFFER_PTR_SET) != 0)
			return;
		struct evbuffer_iovec piece[PEEK_PIECES];
		/* With a length of -1, evbuffer_peek() stops at PEEK_PIECES pieces
		 * and returns that many, whether more follow or not: whether the
		 * pieces hold all of the input is told by their bytes. */
		int seen = evbuffer_peek(input, -1, &from, piece, PEEK_PIECES);
		size_t seen_bytes = 0;
		for (int i = 0; i < seen; i++)
			seen_bytes += piece[i].iov_len;
		bool input_seen_whole = gc->examined + seen_bytes >= evbuffer_get_length(input);
		size_t len = 0; /* of the line being read */
		bool progress = false;
		for (int i = 0; i < seen; i++) {
			const char *p = piece[i].iov_base;
			size_t left = piece[i].iov_len;
			while (left > 0) {
				const char *nl = memchr(p, '\n', left);
				size_t take = nl ? (size_t)(nl - p) : left;
				bool cr = take > 0 ? p[take - 1] == '\r' : len > 0 && line[len - 1] == '\r';
				if (line_over_limit(gc, input, len + take, nl != NULL, cr))
					return;
				memcpy(line + len, p, take);
				len += take;
				if (!nl)
					break;
				take_line(gc, input, line, len);
				if (!reading_heads(gc))
					return;
				if (gc->input_changed)
					break; /* the pieces moved: look again */
				progress = true;
				p = nl + 1;
				left -= take + 1;
				len = 0;
			}
			if (gc->input_changed)
				break;
		}
		if (gc->input_changed) {
			gc->input_changed = false;
			continue; /* from gc->examined, which on_input() moved back */
		}
		if (input_seen_whole)
			return; /* the rest of the line is on its way */
		/* more pieces follow: a line spread over more than PEEK_PIECES is
		 * read by searching; otherwise the next pass starts after the
		 * last line read */
		if (!progress && !read_line_searching(gc, input))
			return;
		gc->input_changed = false; /* the next pass looks again anyway */
	}
}

/* Read the heads, and the framing of chunked bodies, that arrived. */
static void read_input(gate_conn *gc, struct evbuffer *input)
{
	read_lines(gc, input);
	if (gc->phase == GATE_CHUNKS)
		gate_read_chunks(gc, input);
}

/* Runs on every change of the connection's input buffer (except in
 * GATE_BODY, when it is off but for an empty line waiting to be removed):
 * bytes read from the socket (before evhttp sees them) and bytes evhttp
 * consumed. */
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
		if (gc->empty_line_len > 0) {
			gc->empty_line_at = gc->empty_line_at > info->n_deleted ? gc->empty_line_at - info->n_deleted : 0;
			if (drop_empty_line(gc, buf) && gc->wait_for_drop) {
				/* the next empty line may be read now */
				gc->wait_for_drop = false;
				read_input(gc, buf);
				return;
			}
		}
		if (into_refused_head) {
			/* evhttp starts on the refused head: every earlier answer is
			 * written (evhttp reads a request only after answering the one
			 * before). */
			send_refusal(gc, buf);
			return;
		}

	}
	if (info->n_added > 0)
		read_input(gc, buf);
}

gate_conn *http_gate_track(http_gate *gate, struct bufferevent *bev)
{
	gate_conn *gc = calloc(1, sizeof *gc);
	if (!gc || !(gc->watch = evbuffer_add_cb(bufferevent_get_input(bev), on_input, gc))) {
		free(gc);
		return NULL;
	}
	gc->gate = gate;
	gc->bev = bev;
	gc->phase = GATE_HEAD_START;
	gc->check_tokens = tokens_configured(gate);
	return gc;
}

void http_gate_request_read(gate_conn *gc)
{
	if (!gc)
		return;
	gc->in_flight = true;
	if (gc->phase != GATE_BODY)
		return;
	/* evhttp consumed the head and the body: the next head starts at the
	 * front of the input */
	struct evbuffer *input = bufferevent_get_input(gc->bev);
	evbuffer_cb_set_flags(input, gc->watch, EVBUFFER_CB_ENABLED);
	gc->phase = GATE_HEAD_START;
	gc->examined = gc->head_start = 0;
	read_input(gc, input);
}

void http_gate_close_after_answer(gate_conn *gc)
{
	if (!gc)
		return;
	gc->in_flight = false;
	gc->phase = GATE_REFUSED; /* what arrives from now on is dropped */
	struct evbuffer *input = bufferevent_get_input(gc->bev);
	evbuffer_drain(input, evbuffer_get_length(input));
	evutil_socket_t fd = bufferevent_getfd(gc->bev);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

gate_deadline http_gate_deadline(gate_conn *gc, uint32_t timeout_ms)
{
	if (gc->phase == GATE_REFUSED)
		return GATE_DEADLINE_IDLE; /* answered already and closing */
	struct evbuffer *input = bufferevent_get_input(gc->bev);
	/* evhttp may have taken the first lines of a head from the input: the
	 * gate's phase says a head or a body is under way; at a head's start,
	 * bytes in the input other than an empty line the gate drops do */
	bool started = gc->phase != GATE_HEAD_START || evbuffer_get_length(input) > gc->empty_line_len;
	if (!started && !gc->in_flight)
		return GATE_DEADLINE_IDLE;
	/* a refusal decided earlier waits behind an unwritten answer, or one
	 * is being written: the 408 cannot go first */
	if (gc->in_flight || gc->phase == GATE_PENDING || evbuffer_get_length(bufferevent_get_output(gc->bev)) > 0)
		return GATE_DEADLINE_UNANSWERED;
	if (gc->phase == GATE_BODY) {
		/* the gate's callback is off while evhttp reads a sized body, so
		 * its positions still count the requests before this one; evhttp
		 * has consumed them (their answers are written) */
		gc->head_start = gc->examined = 0;
	}
	gate_refuse(gc, input, 408, NULL, "the request did not arrive whole within server.request_timeout_ms (%u ms)",
	            timeout_ms);
	return gc->phase == GATE_REFUSED ? GATE_DEADLINE_ANSWERED : GATE_DEADLINE_UNANSWERED;
}

bool http_gate_asks_close(const gate_conn *gc, const struct evkeyvalq *headers)
{
	if (gc && !gc->close_seen)
		return false; /* no head on this connection listed it: nothing to look up */
	const struct evkeyval *h;
	TAILQ_FOREACH (h, headers, next)
		if (strcasecmp(h->key, "Connection") == 0 && lists_close(h->value))
			return true;
	return false;
}

bool http_gate_refused(const gate_conn *gc)
{
	return gc && gc->phase == GATE_REFUSED;
}

bool http_gate_refusal_waits(const gate_conn *gc)
{
	return gc && gc->phase == GATE_PENDING;
}

void http_gate_answered(gate_conn *gc, bool closing)
{
	if (!gc)
		return;
	gc->in_flight = false;
	if (closing) {
		/* evhttp closes the connection after this answer: what follows is
		 * not read, a refused head not answered (RFC 9112 section 9.6) */
		gc->phase = GATE_REFUSED;
		return;
	}
	/* The refused head is next and the answers before it are written:
	 * answer it now.  evhttp would next read it itself, and a head it
	 * cannot take a line of (an unfinished request line beyond the limit)
	 * it refuses with its own HTML page, consuming nothing. */
	if (gc->phase == GATE_PENDING && gc->head_start == 0)
		send_refusal(gc, bufferevent_get_input(gc->bev));
}

void http_gate_untrack(gate_conn *gc)
{
	if (!gc)
		return;
	evbuffer_remove_cb(bufferevent_get_input(gc->bev), on_input, gc);
	free(gc);
}

http_gate *http_gate_new(es_daemon *daemon, size_t max_body_size, http_api_thread *api)
{
	http_gate *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->daemon = daemon;
	g->api = api;
	g->max_body_size = max_body_size;
	g->max_event_size = daemon->config->max_event_size; /* on the owner's thread, before the loop runs */
	return g;
}

void http_gate_free(http_gate *gate)
{
	free(gate);
}
