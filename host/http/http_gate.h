/*
 * The request-head gate reads each request head, and the framing of each
 * chunked body, before evhttp does.  It refuses in JSON (400, 417) framing
 * that evhttp would answer with an HTML page or read in a way open to
 * request smuggling (conflicting or non-digit Content-Length,
 * Content-Length with Transfer-Encoding, a Transfer-Encoding evhttp does
 * not de-chunk, an Expect other than 100-continue, a body after HEAD,
 * TRACE or CONNECT, a request line not in RFC 9112's form, a missing or
 * doubled Host, a chunk size that is not hex digits alone, a trailer), a
 * method evhttp does not know or a body in a transfer coding it cannot
 * read (501), and what evhttp would refuse as too large with an HTML page
 * and no log line (413: a body beyond its body limit; 431: a head beyond
 * HTTP_MAX_HEAD_SIZE), and closes the connection.  When tokens are configured,
 * a request that declares a body but carries no valid bearer token is
 * answered 401 right after its headers, before any of its body is read,
 * and its connection is closed.  Without it, every unauthenticated client
 * could make the daemon hold a body of up to 2 x event.max_event_size +
 * 64 KiB (docs/security.md).
 *
 * One gate per HTTP thread, used only on that thread.  The gate is only a
 * filter in front of evhttp: evhttp still parses every request and the
 * handlers still check every token.
 */
#ifndef ES_HTTP_GATE_H
#define ES_HTTP_GATE_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stdint.h>

#include "control/daemon.h"

typedef struct http_gate http_gate;
typedef struct gate_conn gate_conn;

/* The largest request head the HTTP threads read: the request line and the
 * header lines, their line ends not counted (as evhttp counts it: it is
 * evhttp's max_headers_size too, http_server.c). */
#define HTTP_MAX_HEAD_SIZE 16384

/* `max_body_size` is evhttp's body limit on this thread: a head whose
 * Content-Length is beyond it is refused with 413.  Refusals are written
 * to `api`'s access log (borrowed: the thread's, which owns the gate).
 * NULL when out of memory. */
struct http_api_thread;
http_gate *http_gate_new(es_daemon *daemon, size_t max_body_size, struct http_api_thread *api);
/* After the thread's evhttp is freed. */
void http_gate_free(http_gate *gate);

/* Whoever owns the connections (connection_guard.c) hands each new
 * bufferevent to http_gate_track() before evhttp reads from it, and calls
 * http_gate_untrack() when the connection closes (while the bufferevent
 * still exists). */

/* Start reading request heads on `bev`; NULL when out of memory: the
 * connection is not gated. */
gate_conn *http_gate_track(http_gate *gate, struct bufferevent *bev);
/* Stop and forget (NULL: nothing). */
void http_gate_untrack(gate_conn *gc);
/* evhttp handed the connection's current request to the handlers (its
 * head and body are read) / its answer is written (`closing`: evhttp
 * closes the connection after it).  The gate reads the head after a body
 * only from then, and answers a refused head at once only when no answer
 * is outstanding.  Either may answer a refused head that is next: write
 * to the socket, shut it down and drain the input (evhttp reads
 * end-of-file next).  NULL: nothing. */
void http_gate_request_read(gate_conn *gc);
void http_gate_answered(gate_conn *gc, bool closing);
/* The answer just written says "Connection: close" but evhttp keeps the
 * connection (a CONNECT): read nothing more, shut the socket down (evhttp
 * reads end-of-file next and closes).  NULL: nothing. */
void http_gate_close_after_answer(gate_conn *gc);
/* Whether a request's headers (evhttp's, every line of each) list "close"
 * in a Connection header, anywhere among its options and lines (RFC 9110
 * section 7.6.1): evhttp closes only when the first Connection line is
 * exactly "close".  Cheap for a gated connection none of whose heads
 * listed it; NULL (not gated): the headers are looked at. */
bool http_gate_asks_close(const gate_conn *gc, const struct evkeyvalq *headers);
/* Whether the gate refused a request on the connection (answered and
 * closing: the connection is counted as that refusal).  NULL: false. */
bool http_gate_refused(const gate_conn *gc);
/* Whether a refused head waits behind the answers: only then does
 * http_gate_answered() need `closing` (a connection that closes frees the
 * gate's state with it otherwise), so the caller works it out only then. */
bool http_gate_refusal_waits(const gate_conn *gc);
/* The connection's request deadline (server.request_timeout_ms) passed;
 * the caller closes the connection after this.  When part of a request has
 * arrived since the last answer and nothing is left to write before its
 * answer, it is answered 408 now (written to the socket, with an access
 * line and a summarised log line: a slowloris makes one a connection). */
typedef enum gate_deadline {
	GATE_DEADLINE_IDLE,       /* no byte of a request since the last answer (or the accept); or closing already */
	GATE_DEADLINE_ANSWERED,   /* a request under way was answered 408 */
	GATE_DEADLINE_UNANSWERED, /* a request under way could not be answered: an answer before it is unwritten */
} gate_deadline;
gate_deadline http_gate_deadline(gate_conn *gc, uint32_t timeout_ms);
/* The length of an absolute-form target's scheme and authority
 * ("http://host:port" of "http://host:port/path"; RFC 9112 section 3.2.2),
 * up to its path, query, a space or the end of its `len` bytes; 0 for
 * any other target.  The route is read from what follows (the gate's
 * refusals and the handlers alike). */
size_t http_target_authority_len(const char *target, size_t len);

/* Requests refused (and their connections closed) by every gate, for the
 * metrics: for their framing (400, 417), and as too large (413, 431). */
uint64_t http_gate_refused_framing(void);
uint64_t http_gate_refused_too_large(void);

#endif
