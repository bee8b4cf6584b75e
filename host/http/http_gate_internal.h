/*
 * Shared by the request-head gate's files (see http_gate.h): http_gate.c
 * reads heads and writes refusals, http_gate_chunks.c reads the framing of
 * chunked bodies.  Everything here runs on the connection's HTTP thread.
 */
#ifndef ES_HTTP_GATE_INTERNAL_H
#define ES_HTTP_GATE_INTERNAL_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http_gate.h"
#include "http/http_api_internal.h"

typedef enum gate_phase {
	GATE_HEAD_START, /* the next line starts a request */
	GATE_HEADERS,    /* inside a head, after its request line */
	GATE_CHUNKS,     /* a chunked body: its framing is read as it arrives (http_gate_chunks.c) */
	GATE_BODY,       /* a request's body passed: wait until evhttp read the request */
	GATE_PENDING,    /* a refused head waits for the requests before it */
	GATE_REFUSED,    /* answered and closing; whatever else arrives is dropped */
} gate_phase;

/* Where a chunked body's reader is (GATE_CHUNKS). */
typedef enum chunk_part {
	CHUNK_SIZE,     /* a chunk's size line comes next */
	CHUNK_DATA,     /* inside a chunk's data: chunk_left bytes to come */
	CHUNK_DATA_END, /* the line end after a chunk's data comes next */
	CHUNK_TRAILER,  /* after the last chunk: the empty line that ends the body */
} chunk_part;

typedef struct gate_conn {
	http_gate *gate;
	struct bufferevent *bev;
	struct evbuffer_cb_entry *watch; /* on_input on the input; off in GATE_BODY (see gate_wait_for_request_read) */
	gate_phase phase;
	size_t examined;     /* bytes at the front of the input the gate has read */
	size_t head_start;   /* where the current head starts in the input */
	/* an empty line before a request line, to be removed from the input
	 * when it is at its front (drop_empty_line()); length 0: none */
	size_t empty_line_at, empty_line_len;
	bool empty_line_seen; /* one came since the last request line */
	bool wait_for_drop;   /* another came while one waits: read no further until it is removed */
	bool input_changed;  /* the gate removed bytes: a pass over the input starts again */
	bool check_tokens;   /* tokens were configured when it opened and it showed no valid one yet */
	bool close_seen;     /* a head on it had a Connection header listing "close": answers look (http_gate_asks_close) */
	bool in_flight;      /* evhttp handed a request to the handlers and has not answered it */
	/* the current head, as evhttp will read it */
	size_t head_size;    /* its complete lines' bytes, line ends not counted */
	bool token_seen;     /* it had an Authorization header (the first counts, as for evhttp) */
	bool token_valid;
	bool may_have_body;  /* its method may have a body here (not HEAD, TRACE or CONNECT) */
	bool head_method;    /* HEAD: its answer has no body */
	bool http11;         /* HTTP/1.1 or later: evhttp heeds Expect */
	unsigned length_count, coding_count, host_count;
	bool host_bad;       /* the first Host value is not a host and port (RFC 9112 section 3.2) */
	char length[24];     /* the first Content-Length, trimmed ("" when not 1-19 digits) */
	bool lengths_differ;
	bool chunked;        /* the Transfer-Encoding is exactly "chunked" */
	bool expect_other;   /* an Expect other than 100-continue */
	char coding[64];     /* the first Transfer-Encoding, for messages */
	/* its chunked body (GATE_CHUNKS) */
	chunk_part chunk;
	uint64_t chunk_left; /* CHUNK_DATA: bytes of the chunk's data still to come */
	uint64_t body_size;  /* the chunks' sizes so far */
	/* what a refused request is answered, once its turn comes */
	int refuse_status;
	char refuse_message[256];
	const char *refused_when; /* for the log line: "while its head was read"...; NULL: after its headers */
	/* for the access log line of a refusal */
	struct timeval refused_at; /* the loop's cached time when the refusal was decided */
	char request_line[ACCESS_LOG_PATH_MAX + 16]; /* its start, as read: not NUL-terminated */
	size_t request_line_len; /* 0 until the request line is read */
	char token_name[64]; /* the valid token's name, "" when none */
} gate_conn;

struct http_gate {
	es_daemon *daemon;
	http_api_thread *api; /* borrowed: the thread's, for its access log */
	uint64_t max_body_size; /* evhttp's, on this thread */
	size_t max_event_size;  /* event.max_event_size (a reload keeps it), for messages */
	char line[HTTP_MAX_HEAD_SIZE + 2]; /* the longest line read, its CR and a NUL */
};

/* Refuse the current request with `status` and the printf'd message (the
 * gate's own words: no client bytes but what quote_value() passed), now
 * or once the answers before it are written (http_gate.c).  `when` is for
 * the log line ("while its chunked body was read"). */
void gate_refuse(gate_conn *gc, struct evbuffer *input, int status, const char *when, const char *format, ...)
	__attribute__((format(printf, 5, 6)));

/* The current request is read whole as far as the gate cares: wait, not
 * called for each of evhttp's reads, until evhttp has read it
 * (http_gate_request_read). */
void gate_wait_for_request_read(gate_conn *gc, struct evbuffer *input);

/* A chunked body starts at gc->examined: GATE_CHUNKS (http_gate_chunks.c). */
void gate_chunks_start(gate_conn *gc);
/* Read what arrived of the chunked body (GATE_CHUNKS). */
void gate_read_chunks(gate_conn *gc, struct evbuffer *input);

#endif
