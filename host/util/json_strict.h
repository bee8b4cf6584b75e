/*
 * Strict JSON (RFC 8259) checked on the exact bytes a client sent, before
 * cJSON (which is lenient: it takes `01`, `[1.]`, any byte as string
 * content and stops at a NUL) decodes them.  What plugins receive as
 * "the event's data as JSON text" has passed this check.
 *
 * Beyond RFC 8259's grammar this refuses what would not survive the trip
 * through the daemon unchanged: invalid UTF-8 (overlong forms, encoded
 * surrogates, code points above U+10FFFF), escaped surrogates that do not
 * form a pair, and (JSON_STRICT_NO_NUL) the escape \u0000, which C strings
 * would cut.  Nesting is limited to JSON_STRICT_MAX_DEPTH.
 * Pure functions, no allocation.
 */
#ifndef ES_JSON_STRICT_H
#define ES_JSON_STRICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_STRICT_MAX_DEPTH 512
#define JSON_STRICT_NO_NUL 1u /* refuse \u0000 inside strings */

typedef struct json_strict_error {
	size_t offset;      /* byte where the text stops being valid */
	const char *reason; /* static text, e.g. "number with a leading zero" */
} json_strict_error;

/* Whether text[0..len) is exactly one JSON value with optional whitespace
 * around it.  On false, *err (may be NULL) says where and why. */
bool json_strict_valid(const char *text, size_t len, unsigned flags, json_strict_error *err);

/* json_strict_valid(), which also finds what json_object_member() would
 * for `key` on the way (a second walk of the text saved): when the text is
 * valid and an object with such a member, *value and *value_len give its
 * first one's text; otherwise *value is NULL. */
bool json_strict_valid_member(const char *text, size_t len, unsigned flags, json_strict_error *err, const char *key,
                              const char **value, size_t *value_len);

/* One member of an object, as written. */
typedef struct json_member_span {
	const char *key; /* the name's text between its quotes, escapes as written */
	size_t key_len;
	bool key_escaped; /* the name has a backslash: compare it only decoded */
	const char *value; /* the value's text, without the whitespace around it */
	size_t value_len;
} json_member_span;

typedef struct json_members {
	bool object;  /* the text is an object */
	size_t count; /* its members, also those beyond the room given */
} json_members;

/* json_strict_valid(), which also records the members of the top-level
 * object on the way: the first `max` of them into members[] in the order
 * written, and in *found whether the text is an object and how many
 * members it has (when more than max, the rest are not recorded).  On
 * false (invalid text) *found says nothing. */
bool json_strict_valid_members(const char *text, size_t len, unsigned flags, json_strict_error *err,
                               json_member_span *members, size_t max, json_members *found);

/* Whether s[0..len) is well-formed UTF-8 (Unicode 15, table 3-7).  NUL
 * bytes are valid UTF-8: callers that cannot carry them check separately. */
bool utf8_valid(const char *s, size_t len);
/* The length (1..4) of the valid UTF-8 sequence at s (avail bytes there,
 * at least 1), or 0 when the bytes there are not one. */
size_t utf8_sequence_length(const char *s, size_t avail);

/* Replace every byte of s that is not part of a valid UTF-8 sequence with
 * '?', in place (for messages that quote a client's bytes, or cut them). */
void utf8_repair(char *s);

/* In text already accepted by json_strict_valid(): the end of the value
 * that starts at the first non-whitespace byte at or after p. */
const char *json_value_end(const char *p, const char *end);



/* In text already accepted by json_strict_valid(): copy it to out (room
 * for len bytes) without the whitespace between tokens, so it fits on one
 * line.  Returns the length written (not NUL-terminated). */
size_t json_minify(const char *text, size_t len, char *out);

/* In text already accepted by json_strict_valid(), for an object: the raw
 * text of the member named `key`, compared after decoding the escapes of
 * the member's name (`"d\u0061ta"` is `data`).  The first such member
 * (callers refuse duplicates).  False when not found. */
bool json_object_member(const char *text, size_t len, const char *key, const char **value, size_t *value_len);

/* In text already accepted by json_strict_valid(), for an array: start
 * with *cursor at the array; each call gives the next element's text,
 * false after the last. */
bool json_array_next(const char **cursor, const char *end, const char **item, size_t *item_len);

/* Whether the number written as text[0..len) (already accepted by
 * json_strict_valid()) is exactly a whole number, decided on its digits:
 * a double rounds 0.99999999999999999 to 1 and 1e-400 to 0. */
bool json_number_whole(const char *text, size_t len);

/* In text already accepted by json_strict_valid(), for an object: bit i
 * set when its member i (in the order written, the first 64) is a number
 * not written as a whole number (json_number_whole()).  One walk of the
 * text, whatever the number of members asked about. */
uint64_t json_object_fractions(const char *text, size_t len);

#endif
