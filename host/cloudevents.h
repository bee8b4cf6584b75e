/*
 * CloudEvents 1.0 over HTTP (spec: github.com/cloudevents/spec), mapped onto
 * our events: `type` is the event name, `id` and `source` are kept,
 * `time` is the event time; `subject`, `datacontenttype`, `dataschema` and
 * every extension attribute become event attributes (as strings).
 *   structured mode: application/cloudevents+json, the whole event in JSON;
 *   batch mode:      application/cloudevents-batch+json, a JSON array of those;
 *   binary mode:     attributes in ce-* headers, the body is the data.
 * Data that is not JSON is carried as a JSON string: text as is, anything
 * else base64-encoded with the attribute `dataencoding: base64`.
 * Pure functions, no libevent types: the fuzz targets call them directly.
 */
#ifndef ES_CLOUDEVENTS_H
#define ES_CLOUDEVENTS_H

#include <stddef.h>

#include "trigger_parse.h"

/* One ce-* header, name without the prefix ("id"), value percent-decoded. */
typedef struct ce_header {
	const char *name;
	const char *value;
} ce_header;

/* A decoded structured-mode object into *parsed (zeroed by the caller).
 * 0, or 400 with the reason in err. */
int cloudevent_parse_structured(const void *cjson_object, trigger_parsed *parsed, char *err, size_t err_size);
/* Binary mode.  `content_type` may be NULL. */
int cloudevent_parse_binary(const ce_header *headers, size_t count, const char *content_type, const char *body,
                            size_t len, trigger_parsed *parsed, char *err, size_t err_size);
/* Whether a Content-Type is JSON (application/json or any +json type). */
int content_type_is_json(const char *content_type);

#endif
