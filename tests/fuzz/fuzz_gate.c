/* libFuzzer target: the request-head gate (http_gate.c, http_gate_chunks.c)
 * reading what a client sends, in pieces, as it does in front of evhttp.
 *
 * Input: one byte choosing the pieces' size (0: all at once, else 1-63
 * bytes) and whether the connection must show a bearer token (bit 7), then
 * the bytes the client sends.  Each piece is added to the input buffer of
 * a bufferevent without a socket, which runs the gate's callback as a
 * read from the socket would.  evhttp is played by the harness: once the
 * gate waits for a request to be read (its head, and its chunked body, let
 * through), the harness consumes it -- and the sized body behind it when
 * it is all there -- and tells the gate the request was read and answered.
 * After the last piece the request deadline passes (a 408 when a request
 * is under way).  The rest of the daemon is stubbed below: the routing
 * table only gives the configuration (one token), the access log, the log
 * lines and the reason phrases are the stubs' own (every line formatted,
 * then dropped).
 *
 * Asserted on every input (abort() makes libFuzzer report it):
 *  - the gate's positions stay inside the input buffer (what it read and
 *    where the current head starts);
 *  - an access log line the gate writes has a method of one word and a
 *    path inside what the gate kept, and a status the gate answers; what
 *    it counts has a 4xx or 5xx status;
 *  - ASan and UBSan find nothing (run.sh builds with both).
 */
#include "config.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/daemon.h"
#include "core/router.h"
#include "http/http_api_internal.h"
#include "http/http_gate.h"
#include "http/http_gate_internal.h"
#include "model/es_config.h"
#include "util/log.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the rest of the daemon, as the gate sees it ---- */

static api_token token = {.name = "fuzz", .secret = "s3cret-token"};
static es_config config = {.access_log = true};
static int routing_table_stand_in;

routing_table *router_borrow(router *r, table_borrow *b)
{
	(void)r;
	b->table = (routing_table *)&routing_table_stand_in;
	b->announced = true;
	return b->table;
}

void router_return(table_borrow *b)
{
	b->table = NULL;
}

const es_config *routing_table_config(const routing_table *t)
{
	CHECK(t == (routing_table *)&routing_table_stand_in, "a table not borrowed");
	return &config;
}

_Atomic uint64_t api_accepted, api_bad_request, api_too_large, api_media_type, api_busy, api_unavailable,
        api_unauthorized;

bool api_secret_equal(const char *given, size_t given_len, const char *secret)
{
	return given_len == strlen(secret) && memcmp(given, secret, given_len) == 0;
}

void api_count_refusal(const char *method, int method_len, const char *target, size_t target_len, int status)
{
	volatile char sink = 0;
	CHECK(method_len >= 0, "method length %d", method_len);
	for (int i = 0; i < method_len; i++) /* ASan: the method and target lie inside what the gate kept */
		sink ^= method[i];
	for (size_t i = 0; i < target_len; i++)
		sink ^= target[i];
	(void)sink;
	CHECK(status >= 400 && status < 600, "counted status %d", status);
}

/* Logging, every level on: each line is formatted (its arguments read, as
 * ASan sees) and dropped, so the access line and the log lines run. */
bool log_enabled(log_level level)
{
	(void)level;
	return true;
}

void log_write(log_level level, const char *subsystem, const char *fmt, ...)
{
	(void)level;
	(void)subsystem;
	char line[2048];
	va_list args;
	va_start(args, fmt);
	vsnprintf(line, sizeof line, fmt, args);
	va_end(args);
}

const char *api_reason_phrase(int status)
{
	return status == 408 ? "Request Timeout" : "Some Reason";
}

void api_access_line(http_api_thread *api, const char *method, const char *path, size_t path_len, int status,
                     size_t bytes, double ms, const char *client, const char *token_name)
{
	(void)api;
	(void)bytes;
	(void)ms;
	(void)client;
	(void)token_name;
	CHECK(strlen(method) < 16 && !strchr(method, ' '), "method shown: '%s'", method);
	volatile char sink = 0;
	for (size_t i = 0; i < path_len; i++) /* ASan: the path lies inside what the gate kept */
		sink ^= path[i];
	(void)sink;
	CHECK(status == 400 || status == 401 || status == 408 || status == 413 || status == 417 || status == 431 ||
	              status == 501,
	      "access line for status %d", status);
}

/* ---- evhttp, played ---- */

/* The gate waits for the request to be read: consume it as evhttp would
 * (the heads before it, its head and chunked body, and a sized body once
 * it is all in), then say it was read and answered.  False while a sized
 * body is still coming. */
static bool read_request(gate_conn *gc, struct evbuffer *input)
{
	size_t have = evbuffer_get_length(input);
	size_t take = gc->examined;
	if (!gc->chunked && gc->length[0]) {
		uint64_t body = strtoull(gc->length, NULL, 10);
		if (body > have - take)
			return false;
		take += (size_t)body;
	}
	evbuffer_drain(input, take);
	http_gate_request_read(gc);
	http_gate_answered(gc, false);
	return true;
}

static void check_positions(const gate_conn *gc, struct evbuffer *input)
{
	size_t have = evbuffer_get_length(input);
	if (gc->phase == GATE_REFUSED)
		return;
	CHECK(gc->examined <= have, "read to %zu of %zu bytes", gc->examined, have);
	CHECK(gc->head_start <= gc->examined, "head at %zu after the read position %zu", gc->head_start, gc->examined);
}

static struct event_base *base;
static es_daemon daemon_stand_in;
static http_gate *gate;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!base) {
		base = event_base_new();
		config.tokens = &token;
		config.max_event_size = 1024;
		daemon_stand_in.config = &config;
		gate = http_gate_new(&daemon_stand_in, 2 * 1024 + 65536, NULL);
		CHECK(base && gate, "out of memory");
	}
	if (size < 1)
		return 0;
	size_t piece = data[0] & 0x3f;
	config.token_count = (data[0] & 0x80) ? 1 : 0;
	data++;
	size--;

	struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
	CHECK(bev, "out of memory");
	gate_conn *gc = http_gate_track(gate, bev);
	CHECK(gc, "out of memory");
	struct evbuffer *input = bufferevent_get_input(bev);
	for (size_t at = 0; at < size && gc->phase != GATE_REFUSED;) {
		size_t n = piece == 0 || piece > size - at ? size - at : piece;
		/* as the bufferevent's read does: its input's end is frozen
		 * otherwise */
		evbuffer_unfreeze(input, 0);
		CHECK(evbuffer_add(input, data + at, n) == 0, "out of memory");
		evbuffer_freeze(input, 0);
		at += n;
		check_positions(gc, input);
		while (gc->phase == GATE_BODY && read_request(gc, input))
			check_positions(gc, input);
	}
	(void)http_gate_deadline(gc, 1000); /* the client stops here */
	http_gate_untrack(gc);
	bufferevent_free(bev);
	event_base_loop(base, EVLOOP_NONBLOCK); /* libevent finishes freeing it in the loop */
	return 0;
}
