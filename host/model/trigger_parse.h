/*
 * Parsing one event from the JSON a caller sent to the trigger API:
 *   {"name": "order.created", "data": {...}, "id": "...", "source": "...",
 *    "time": "2024-01-01T12:00:00Z", "attributes": {"k": "v", "n": 5, "b": true}}
 * Attribute values are strings, integers (32-bit) and booleans, each kept
 * with its type (the types of CloudEvents extension values).
 * Only `name` is required.  Pure: no I/O, no globals (the fuzz target);
 * the tree of a small body is built in the thread's scratch block
 * (util/json_tree.h).
 *
 * Ownership: on success the fields point into memory owned by `parsed`
 * (its copies and its tree), valid until trigger_parsed_free(), and the
 * data into `body` as written: the caller keeps the body alive as long as
 * the fields are used (the event copies both when it is created).
 */
#ifndef ES_TRIGGER_PARSE_H
#define ES_TRIGGER_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "model/es_event.h"
#include "util/json_tree.h"
#include "util/rfc3339.h"

#define TRIGGER_MAX_ATTRIBUTES 32
/* The longest "time" read without a tree (a longer one takes the tree,
 * which refuses it) */
#define TRIGGER_TIME_TEXT_MAX RFC3339_TEXT_MAX
#define TRIGGER_TEXT_MAX (EVENT_NAME_MAX + EVENT_ID_MAX + EVENT_SOURCE_MAX + TRIGGER_TIME_TEXT_MAX + 4)

typedef struct trigger_parsed {
	void *root;  /* cJSON tree: tree.root when parsed here, else the caller's */
	json_tree tree; /* the body's tree (util/json_tree.h: no malloc() per node) */
	char *data;  /* the data re-serialised */
	es_event_fields fields;
	size_t owned_count; /* in owned[] */
	bool sync;   /* "sync": true */
	bool host_written; /* the host's own JSON of an event: its reserved attributes are kept */
	/* The object's own text (strictly valid JSON), so data is taken as
	 * written; NULL: data is reprinted from the tree. */
	const char *raw_body;
	size_t raw_len;
	/* The text of raw_body's "data" member, found while checking the body
	 * (trigger_parse_body); NULL: not found that way. */
	const char *raw_data;
	size_t raw_data_len;
	/* Last: the arrays, 1.5 KB, are used up to fields.attribute_count
	 * and owned_count and never read beyond, so trigger_parsed_clear()
	 * leaves them as they are. */
	es_event_attribute attributes[TRIGGER_MAX_ATTRIBUTES];
	/* strings made while parsing, freed with it: a binary-mode header
	 * takes two (name and value) */
	char *owned[2 * (TRIGGER_MAX_ATTRIBUTES + 8) + 8];
	/* trigger_parse()'s copies of the name, id, source and time it read
	 * from the text without a tree, each NUL-terminated */
	char text[TRIGGER_TEXT_MAX];
} trigger_parsed;

/* Whether a parse's number attributes were written as whole numbers, read
 * in the text its tree came from (parsed->raw_body): a double cannot tell
 * (0.99999999999999999 reads as 1).  The object holding the attributes is
 * walked once, at the first question (json_object_fractions()).  Lives on
 * the parsing thread's stack, for one parse. */
typedef struct written_numbers {
	const trigger_parsed *parsed;
	const char *holder; /* the member holding them ("attributes"), or NULL: the object itself */
	bool read;
	uint64_t fractions; /* bit i: member i is a number not written whole */
} written_numbers;

/* Whether the holder's member `position` (0-based, in the order written,
 * which cJSON keeps) was written as a whole number; true without text. */
bool written_number_whole(written_numbers *numbers, unsigned position);

/* Make `parsed` empty (what a zeroed one is) without writing its arrays:
 * a parse clears it this way first. */
void trigger_parsed_clear(trigger_parsed *parsed);

/* 0 on success; otherwise the HTTP status to answer (400) with a message
 * in err.  `body` need not be NUL-terminated.  A body whose member names
 * and name/id/source/time strings have no escapes, without "attributes",
 * is read from the text the strict check walked (no cJSON tree; the
 * common case); any other through a tree, with the same answers. */
int trigger_parse(const char *body, size_t len, trigger_parsed *parsed, char *err, size_t err_size);
/* trigger_parse() through a cJSON tree whatever the body: what the
 * treeless reading must agree with (the tests and the fuzz target compare
 * the two). */
int trigger_parse_with_tree(const char *body, size_t len, trigger_parsed *parsed, char *err, size_t err_size);
/* An event the host itself wrote with es_event_json() (a JetStream
 * message): parsed as above, but the attributes only the host may set
 * (dataencoding: its marker of base64 data) are kept, not refused. */
int trigger_parse_host_written(const char *body, size_t len, trigger_parsed *parsed, char *err, size_t err_size);
/* A whole request body: strictly valid JSON (json_strict.h, \u0000
 * refused) decoded into *root (a cJSON tree the caller deletes).  0, or
 * 400 with the byte and the reason in err. */
int trigger_parse_json(const char *body, size_t len, void **root, char *err, size_t err_size);
/* The same, decoded into parsed's own tree (parsed->root), freed by
 * trigger_parsed_free() on the same thread; raw_body is set to `body`. */
int trigger_parse_body(const char *body, size_t len, trigger_parsed *parsed, char *err, size_t err_size);
/* The first key of a cJSON object that appears again, or NULL. */
const char *json_duplicate_key(const void *cjson_object);
/* Set the event data to the value of the "data" member: its text in
 * parsed->raw_body when set, else printed from `cjson_value`. */
int trigger_parsed_take_data(trigger_parsed *parsed, const void *cjson_value, char *err, size_t err_size);
/* Keep `text` (malloc'd) until trigger_parsed_free(); returns it, or NULL
 * (and frees it) when full. */
char *trigger_parsed_own(trigger_parsed *parsed, char *text);
/* Set the event data to the JSON text of `cjson_value` (printed, owned by
 * parsed).  0, or 400 with err when out of memory. */
int trigger_parsed_set_data(trigger_parsed *parsed, const void *cjson_value, char *err, size_t err_size);
/* Parse an object already decoded (batch items); `parsed` must be empty
 * (trigger_parsed_clear(), or zeroed). */
int trigger_parse_object(const void *cjson_object, trigger_parsed *parsed, char *err, size_t err_size);
void trigger_parsed_free(trigger_parsed *parsed);


#endif
