/*
 * CloudEvents 1.0 over HTTP (spec: github.com/cloudevents/spec), mapped onto
 * our events: `type` is the event name, `id` and `source` are kept,
 * `time` is the event time; `subject`, `datacontenttype`, `dataschema` and
 * every extension attribute become event attributes: an extension keeps
 * its JSON type in structured and batch mode (String, Integer, Boolean);
 * a ce-* header of binary mode is text, a String.
 *   structured mode: application/cloudevents+json, the whole event in JSON;
 *   batch mode:      application/cloudevents-batch+json, a JSON array of those;
 *   binary mode:     attributes in ce-* headers, the body is the data,
 *                    Content-Type its datacontenttype.
 * Data that is not JSON is carried as a JSON string: text as is, anything
 * else base64-encoded with the attribute `dataencoding: base64`.
 * Pure functions, no libevent types: the fuzz targets call them directly.
 */
#ifndef ES_CLOUDEVENTS_H
#define ES_CLOUDEVENTS_H

#include <stddef.h>

#include "model/trigger_parse.h"

/* One ce-* header as received: name without the prefix ("id"), value as
 * sent (quoted and percent-encoded). */
typedef struct ce_header {
	const char *name;
	const char *value;
} ce_header;

/* The context attributes and every extension, as headers. */
#define CE_HEADERS_MAX (TRIGGER_MAX_ATTRIBUTES + 8)

/* A ce-* header value as the HTTP binding says: optional whitespace (SP,
 * HTAB) around it is not part of it (RFC 9110 5.5), a quoted-string is
 * unquoted, then percent-decoded once; a NUL byte or invalid UTF-8 is
 * refused.  0 with *out malloc'd (the caller frees), or 400 with err. */
int ce_header_value_decode(const char *raw, char **out, char *err, size_t err_size);

/* A decoded structured-mode object into *parsed (zeroed by the caller).
 * 0, or 400 with the reason in err. */
int cloudevent_parse_structured(const void *cjson_object, trigger_parsed *parsed, char *err, size_t err_size);
/* Binary mode: `headers` as received, at most CE_HEADERS_MAX;
 * `content_type` (the data's type) may be NULL; body[0..len) need not be
 * NUL-terminated. */
int cloudevent_parse_binary(const ce_header *headers, size_t count, const char *content_type, const char *body,
                            size_t len, trigger_parsed *parsed, char *err, size_t err_size);
/* Whether a Content-Type is JSON (application/json or any +json type). */
int content_type_is_json(const char *content_type);

#endif
