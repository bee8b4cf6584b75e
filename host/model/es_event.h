/*
 * Events inside the host: immutable once created and reference-counted, so
 * fan-out to N plugins shares one copy of the payload.  The public SDK sees
 * `es_event` only as an opaque handle read through the host API accessors.
 *
 * Ownership: es_event_create() returns an event with one reference owned by
 * the caller.  Whoever hands the event to another thread (a queue) hands a
 * reference with it; es_event_unref() drops one and frees on the last, on
 * whichever thread that is (the block goes back to util/block_cache).
 */
#ifndef ES_EVENT_H
#define ES_EVENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event-system/plugin.h>

#include "util/refcount.h"
#include "util/clock.h" /* event times; most users of events want the clocks too */

#define EVENT_NAME_MAX 255
#define EVENT_ID_MAX 128
/* Bytes of an event's source, from any door (trigger, CloudEvents, a
 * plugin's emit); the database's events.source column holds that many. */
#define EVENT_SOURCE_MAX 1024

struct delivery_watch;

/* A delivery a distributed queue owns (queue.backend: jetstream): the queue
 * made one event per (event, plugin) delivery and counts the attempts
 * itself, so the worker pool runs one attempt and tells the origin how it
 * ended instead of retrying in memory.  Owned by the event: release() runs
 * when the event is freed (a delivery never settled is given back then). */
typedef struct es_event_origin es_event_origin;
struct es_event_origin {
	uint32_t attempt; /* the attempt this delivery makes, 1-based */
	/* The attempt ended: outcome is a delivery_outcome (DELIVERY_OK,
	 * DELIVERY_RETRYING after retry_delay_us, DELIVERY_DEAD).  At most once,
	 * on a worker or supervisor thread. */
	void (*settle)(es_event_origin *origin, int outcome, uint64_t retry_delay_us, const char *error);
	void (*release)(es_event_origin *origin);
};

/* A redelivery after a restart: the attempts one plugin made of this event
 * before (the database's record), so it continues at attempts + 1. */
typedef struct es_event_prior {
	char plugin[65];
	uint32_t attempts;
} es_event_prior;

/* An attribute keeps the JSON type it came with (CloudEvents String,
 * Integer or Boolean: es_attribute_type, 0 is String) and its canonical
 * text in `value` ("42", "true"), so a plugin that reads text sees what a
 * 1.0 host gave it, and everything that writes the event as JSON (the
 * event's JSON, the database row, the webhook) writes the same type back. */
typedef struct es_event_attribute {
	const char *key;
	const char *value;
	es_attribute_type type;
} es_event_attribute;

/* Decoded non-JSON data (es_event_data_bytes()): len bytes, NUL after. */
typedef struct es_event_bytes {
	size_t len;
	char bytes[];
} es_event_bytes;

struct es_event {
	refcount refs;
	const char *id;
	const char *name;
	const char *source;
	int64_t time_us;     /* event time (from the caller, or when received) */
	/* The time exactly as the client wrote it, or NULL when the client
	 * gave none (time_us is then the receive time, not the client's). */
	const char *time_text;
	int64_t received_us; /* when the host accepted it (monotonic clock) */
	const char *data;    /* JSON text, NUL-terminated */
	size_t data_len;
	bool has_data;       /* false: the client sent no data (data is "null") */
	const es_event_attribute *attributes;
	size_t attribute_count;
	uint32_t depth; /* 0 from outside; emitted from a handler: its event's depth + 1 */
	/* A caller waiting for every outcome (synchronous trigger), or NULL.
	 * The event owns one reference, dropped with watch_unref() when the
	 * event is freed (watches live in the core, above this layer). */
	struct delivery_watch *watch;
	void (*watch_unref)(struct delivery_watch *watch);
	/* The key of its row when a database records it, else 0; and the
	 * deliveries not yet final plus the dispatcher's hold (database.h). */
	uint64_t seq;
	_Atomic uint32_t unsettled;
	bool stored; /* its row was committed before it was dispatched (durable) */
	/* Read back from the database (a redelivery after a restart or a
	 * dead-letter replay): a plugin may have seen it before. */
	bool redelivered;
	es_event_origin *origin; /* the distributed queue's delivery, or NULL (owned) */
	/* Set (malloc'd, owned by the event) by the redelivery before the event
	 * is queued, then read-only: es_event_first_attempt(). */
	es_event_prior *prior;
	size_t prior_count;
	_Atomic(char *) json; /* the whole event as JSON, built on first use */
	/* The data as bytes when it is not JSON (es_event_data_bytes()),
	 * decoded on first use; owned by the event. */
	_Atomic(es_event_bytes *) bytes;
	uint8_t block_class; /* its memory's, for block_cache_free() */
	/* strings follow in the same block */
};

/* What es_event_create() copies.  `id` NULL or "" makes a UUID; `data` NULL
 * means JSON null; without has_time the event time is now (time_us 0 is
 * 1970-01-01T00:00:00Z, a valid time a client may send). */
typedef struct es_event_fields {
	const char *id;
	const char *name;
	const char *source;
	int64_t time_us;
	bool has_time;
	const char *time_text; /* as written, with has_time; NULL: not kept */
	const char *data;
	size_t data_len;
	const es_event_attribute *attributes;
	size_t attribute_count;
	uint32_t depth;
	struct delivery_watch *watch; /* the event takes over one reference (not on failure) */
	void (*watch_unref)(struct delivery_watch *watch); /* drops it: delivery_watch_unref */
	uint64_t seq;                 /* database_next_seq(), or 0 */
	es_event_origin *origin;      /* the event takes it over (not on failure) */
} es_event_fields;

/* NULL only when out of memory.  The caller validates name and id first. */
es_event *es_event_create(const es_event_fields *fields);

static inline void es_event_ref(es_event *event)
{
	refcount_get(&event->refs);
}

/* `n` references for `n` new holders, in one step. */
static inline void es_event_ref_many(es_event *event, unsigned n)
{
	refcount_get_many(&event->refs, n);
}

void es_event_destroy(es_event *event);

/* The attempt number a new delivery of `event` to the plugin `plugin`
 * starts at: the distributed queue's (origin), or one more than the
 * attempts a redelivery says the plugin made before, else 1. */
uint32_t es_event_first_attempt(const es_event *event, const char *plugin);

static inline void es_event_unref(es_event *event)
{
	if (refcount_put(&event->refs))
		es_event_destroy(event);
}

/* Name grammar: dot-separated segments of [A-Za-z0-9_-], each non-empty,
 * at most EVENT_NAME_MAX bytes in all.  Writes why not into err. */
bool es_event_name_valid(const char *name, size_t len, char *err, size_t err_size);
/* Ids: 1..EVENT_ID_MAX printable ASCII characters without spaces, quotes
 * (") or backslashes. */
bool es_event_id_valid(const char *id, size_t len);
/* The same, for answers to a client: NULL when the id is valid, else what
 * is wrong with it, written into why[why_size] (returned), e.g. "has a
 * space at byte 4" (bytes counted from 0). */
const char *es_event_id_refused(const char *id, size_t len, char *why, size_t why_size);
/* The characters a CloudEvents String may not hold, in `len` bytes of
 * UTF-8 (checked by the caller, who refuses what is not): control characters (U+0000-U+001F,
 * U+007F-U+009F) and noncharacters (U+FDD0-U+FDEF, U+xFFFE, U+xFFFF).  A
 * plugin that logs or forwards a source or an attribute value must not get
 * a line break or a terminal escape from a client.  NULL when it holds
 * none; else `why`, naming the first ("holds the control character U+000A
 * at byte 3 of its text"). */
const char *es_event_text_refused(const char *s, size_t len, char *why, size_t why_size);

/* Attribute names, for native events and CloudEvents extensions alike:
 * lowercase a-z and 0-9, 1..EVENT_ATTRIBUTE_NAME_MAX characters (the
 * CloudEvents 1.0 naming convention).  Writes which rule broke into why
 * ("is empty", "has a character other than ..."). */
#define EVENT_ATTRIBUTE_NAME_MAX 64
bool es_event_attribute_name_valid(const char *name, char *why, size_t why_size);
/* Why an attribute name is not for clients, or NULL: `dataencoding` is the
 * daemon's marker of base64 data; the CloudEvents context attributes that
 * are an event's own fields (specversion, id, source, type, time) and
 * `data` would be read as those fields by anyone mapping the event to a
 * CloudEvent. */
const char *es_event_attribute_reserved(const char *name);
/* Why an attribute's value (valid UTF-8) is refused, or NULL: subject,
 * dataschema and datacontenttype are non-empty strings when present, and no
 * value holds what es_event_text_refused() refuses (CloudEvents 1.0),
 * whichever way the event came (a plain trigger, a CloudEvent, emit).  The
 * reason may be written into `why`. */
const char *es_event_attribute_value_refused(const char *name, const char *value, char *why, size_t why_size);
/* Why an attribute's type is refused, or NULL: subject, dataschema and
 * datacontenttype are CloudEvents Strings (a plain trigger's "subject": 5
 * would go out as a CloudEvent no receiver accepts). */
const char *es_event_attribute_type_refused(const char *name, es_attribute_type type);

/* A JSON value (a cJSON item) as an attribute value, by the CloudEvents
 * JSON format: a string is a String, a number an Integer (a whole number
 * from -2147483648 to 2147483647), true/false a Boolean.  Sets out->value
 * (pointing into the item, or into digits[12] for an integer) and
 * out->type and returns NULL; or returns why the value is refused
 * ("must be ...": a fraction, out of range, null, an object or array). */
const char *es_event_attribute_from_json(const void *cjson_item, es_event_attribute *out, char digits[12]);
/* The refusal of a number that is not whole (a parser that has the text
 * also refuses what its double rounded to a whole number). */
#define ES_EVENT_INTEGER_NOT_WHOLE "must be a whole number (CloudEvents Integer has no fraction)"
/* The attribute's value as a new cJSON item of its type (the caller
 * deletes it), or NULL when out of memory. */
void *es_event_attribute_to_json(const es_event_attribute *attribute);

/* The data's media type: the datacontenttype attribute, or NULL when the
 * client gave none (JSON, by the CloudEvents rule). */
const char *es_event_content_type(const es_event *event);
/* The data as bytes when it is not JSON: data the host holds as base64
 * (the dataencoding attribute: binary CloudEvents, data_base64) decoded,
 * or the text of a JSON string whose content type is not JSON (text/plain,
 * XML sent as text).  NULL when the data is JSON (read es_event.data) or
 * when out of memory.  Owned by the event; *len bytes followed by a NUL. */
const char *es_event_data_bytes(es_event *event, size_t *len);
/* Whether the data is held as base64 of bytes (dataencoding=base64). */
bool es_event_data_is_base64(const es_event *event);

/* The whole event as a JSON object; owned by the event. NULL if out of memory. */
const char *es_event_json(es_event *event, size_t *len);

/* RFC 3339 UTC with microseconds ("2026-11-26T10:00:00.000000Z") of a
 * realtime in microseconds, into out[40] (rfc3339_format()). */
void es_event_format_time(int64_t realtime_us, char out[40]);

/* A random (version 4) UUID into out[37]. */
void es_event_make_uuid(char out[37]);


#endif
