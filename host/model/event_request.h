/*
 * An event request's body decoded into events, without sockets: the
 * Content-Type, the ce-* headers and the body bytes in, parsed events (or
 * the reason for a 400/415) out.  http_events.c calls these for every
 * request; the fuzz target (tests/fuzz/fuzz_request.c) calls the same
 * functions with arbitrary bytes.
 *
 * Ownership: everything a trigger_parsed points to lives in it or in the
 * body and headers passed in; free it with trigger_parsed_free().
 */
#ifndef ES_EVENT_REQUEST_H
#define ES_EVENT_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "model/cloudevents.h"
#include "model/trigger_parse.h"
#include "util/json_tree.h"

typedef enum body_kind {
	BODY_JSON,          /* our own event object (or array on /api/events/batch) */
	BODY_CE_STRUCTURED, /* application/cloudevents+json */
	BODY_CE_BATCH,      /* application/cloudevents-batch+json */
	BODY_CE_BINARY,     /* ce-* headers, the body is the data */
	BODY_UNSUPPORTED,   /* 415 */
} body_kind;

/* The mode of a request.  The CloudEvents media types decide first: a
 * structured or batch request is one even when it also carries ce-*
 * headers (HTTP binding 3.1); then ce-specversion means binary mode; no
 * Content-Type means JSON. */
body_kind event_request_kind(const char *content_type, bool has_ce_specversion);

/* One event from a BODY_JSON, BODY_CE_STRUCTURED or BODY_CE_BINARY body
 * into *p (zeroed here).  0, or 400 with the reason in err. */
int event_request_parse(body_kind kind, const char *content_type, const ce_header *headers, size_t count,
                        const char *body, size_t len, trigger_parsed *p, char *err, size_t err_size);

/* A batch body: strictly valid JSON and an array, decoded into *tree
 * (its root the array; the caller releases it with json_tree_release(),
 * also on failure).  0, or 400 with err. */
int event_request_parse_batch(const char *body, size_t len, json_tree *tree, char *err, size_t err_size);

/* Walks a batch: the items of `array` (from event_request_parse_batch()
 * of body[0..len)) each with its own text, so data is kept as written. */
typedef struct batch_cursor {
	const void *item; /* cJSON element, NULL after the last */
	const char *text, *end;
	const char *item_text;
	size_t item_len;
} batch_cursor;
void batch_cursor_start(batch_cursor *c, const void *array, const char *body, size_t len);
void batch_cursor_next(batch_cursor *c);

/* {"error": code, "message": message} with the message made valid UTF-8
 * (messages quote client bytes, cut at a byte count): the body of every
 * error answer.  malloc'd, NULL when out of memory. */
char *error_reply_json(const char *code, const char *message);

/* The current batch item as one event into *p (zeroed here); 0 or 400. */
int event_request_parse_item(const batch_cursor *c, bool cloudevents, trigger_parsed *p, char *err, size_t err_size);

#endif
