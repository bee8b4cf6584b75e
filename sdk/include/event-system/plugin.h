/*
 * event-system plugin SDK: the whole contract between the host and a plugin.
 *
 * A plugin is a shared object that exports exactly one symbol, a constant
 * descriptor named `es_plugin_entry`, defined with ES_PLUGIN_DEFINE().  The host
 * reads the descriptor's size and ABI version *before* it calls any plugin
 * code, and refuses the plugin (one log line, versions named) when it cannot
 * serve it.  The plugin reaches the host only through the es_host_api table it
 * receives in init(); it never links against host symbols, so it builds with
 * this header alone and has no undefined symbols (-Wl,-z,defs works).
 *
 * Compatibility rules (ABI 1.x):
 *   - ES_ABI_MAJOR changes only when an existing field changes meaning or
 *     position.  The host refuses any other major version.
 *   - New fields are only ever appended to es_plugin_descriptor and
 *     es_host_api; ES_ABI_MINOR is bumped with them.  Each struct starts with
 *     its own size: a reader treats fields beyond that size as absent.  A
 *     plugin built against 1.0 loads in every later 1.x host.
 *   - Events and plugin contexts are opaque handles read through accessors,
 *     so their layout is never part of the ABI.
 *
 * No libevent, cJSON or libyaml type appears here; payloads are JSON text.
 *
 * ABI 1.1 appended to es_host_api: attribute enumeration, the data's content
 * type and bytes, the time as written, the call's deadline, the redelivered
 * flag, emit_event(), config_double/map keys/secrets, gauge_set() and
 * log_enabled(), the attribute types (event_attribute_type_at()),
 * delivery_complete(); and to es_plugin_descriptor: handle_batch() and
 * handle_async().  docs/plugin-guide.md has a complete batch sink plugin
 * and an asynchronous one.
 */
#ifndef EVENT_SYSTEM_PLUGIN_H
#define EVENT_SYSTEM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ES_ABI_MAJOR 1
#define ES_ABI_MINOR 1

/* The one symbol a plugin exports. */
#define ES_PLUGIN_ENTRY_SYMBOL "es_plugin_entry"

#if defined(__GNUC__)
#define ES_EXPORT __attribute__((visibility("default")))
#define ES_PRINTF(fmt_idx, args_idx) __attribute__((format(printf, fmt_idx, args_idx)))
#else
#define ES_EXPORT
#define ES_PRINTF(fmt_idx, args_idx)
#endif

/* An event: immutable, reference-counted by the host.  A handler may read it
 * for the duration of the handle() call only; every pointer returned by an
 * accessor is owned by the host and valid until handle() returns (for
 * handle_async(): until the delivery is completed, see there). */
typedef struct es_event es_event;

/* The host's view of one loaded plugin instance.  Owned by the host; valid
 * from init() until shutdown() returns.  Pass it back to host functions. */
typedef struct es_plugin_ctx es_plugin_ctx;

/* One delivery started by handle_async() (ABI 1.1): an opaque handle the
 * plugin completes exactly once with delivery_complete(). */
typedef struct es_delivery es_delivery;

/* What a handler reports for one delivery. */
typedef enum es_result {
	ES_OK = 0,    /* handled; the delivery is done */
	ES_RETRY = 1, /* transient failure: retry with backoff, up to max_attempts */
	ES_FAIL = 2,  /* permanent failure: no retry, the delivery is dead-lettered */
} es_result;

/* Status codes returned by host functions and by init(). */
typedef enum es_status {
	ES_STATUS_OK = 0,
	ES_STATUS_NOT_FOUND = 1,    /* no such key / attribute */
	ES_STATUS_WRONG_TYPE = 2,   /* key exists but has another type */
	ES_STATUS_INVALID = 3,      /* argument refused (e.g. bad event name) */
	ES_STATUS_BUSY = 4,         /* a queue is full; nothing was enqueued */
	ES_STATUS_ERROR = 5,        /* any other failure */
} es_status;

typedef enum es_log_level {
	ES_LOG_ERROR = 0,
	ES_LOG_WARN = 1,
	ES_LOG_INFO = 2,
	ES_LOG_DEBUG = 3,
} es_log_level;

/* The type of an event attribute's value (ABI 1.1,
 * event_attribute_type_at()): the CloudEvents 1.0 types a JSON event can
 * tell apart.  URI, URI-reference, Timestamp and Binary values are JSON
 * strings in the CloudEvents JSON format and ES_ATTRIBUTE_STRING here.
 * Whatever the type, event_attribute_at() gives the value's canonical text:
 * an Integer in decimal ("-42"), a Boolean as "true" or "false". */
typedef enum es_attribute_type {
	ES_ATTRIBUTE_STRING = 0,
	ES_ATTRIBUTE_INTEGER = 1, /* -2147483648 to 2147483647 (CloudEvents Integer) */
	ES_ATTRIBUTE_BOOLEAN = 2,
} es_attribute_type;

/* An attribute given to emit_event() (ABI 1.1): always a String. */
typedef struct es_attribute {
	const char *key;   /* CloudEvents attribute name: a-z 0-9, 1-64 characters */
	const char *value; /* UTF-8 text */
} es_attribute;

/* What emit_event() emits (ABI 1.1).  Set struct_size to sizeof(es_emit)
 * (ES_EMIT_INIT does); fields a later minor version appends are then
 * absent for the host.  Everything is copied by the host. */
typedef struct es_emit {
	uint32_t struct_size;
	const char *name;      /* required: the event name grammar */
	const char *data_json; /* JSON text of data_len bytes, or NULL for no data */
	size_t data_len;
	const char *source;    /* NULL: "plugin:<instance name>" */
	const es_attribute *attributes; /* attribute_count items, or NULL */
	size_t attribute_count;         /* at most 32 */
} es_emit;

#define ES_EMIT_INIT {.struct_size = sizeof(es_emit)}

/* The attribute an event emitted from inside handle() carries: the id of
 * the event being handled (its parent).  Set by the host; a plugin may not
 * set it itself. */
#define ES_PARENT_ID_ATTRIBUTE "parentid"

/* Descriptor flags. */
#define ES_PLUGIN_SERIAL (1u << 0) /* never call handle() concurrently: one worker */

/*
 * The host function table, handed to init().  The table is owned by the host
 * and stays valid until shutdown() returns; a plugin may keep the pointer.
 * Every function is thread-safe and may be called from any plugin thread.
 * Before using a function added in a later minor version, check that
 * `struct_size` covers it (ES_HOST_HAS(host, field)).
 */
typedef struct es_host_api {
	uint32_t struct_size; /* sizeof(es_host_api) as the host was built */
	uint16_t abi_major;   /* the host's ES_ABI_MAJOR */
	uint16_t abi_minor;   /* the host's ES_ABI_MINOR */

	/* Log one line, tagged with the plugin's name, at the host's configured
	 * level and format.  The message is cut at about 2 KiB (2047 bytes
	 * before escaping); newlines and other control bytes are escaped, so a
	 * logged value cannot forge a line.  Never log secrets. */
	void (*log)(es_plugin_ctx *ctx, es_log_level level, const char *fmt, ...) ES_PRINTF(3, 4);

	/* Event accessors.  Strings are NUL-terminated, owned by the host, valid
	 * while the event is being handled.  source is "" when not given.
	 * What the host promises (it refuses requests that break it): every
	 * string is valid UTF-8 without NUL bytes and is exactly what the
	 * client sent; the id is 1-128 printable ASCII characters without
	 * spaces, quotes or backslashes; the name follows the event name
	 * grammar; a source and string attribute values have no control
	 * character (C0, DEL, C1) nor noncharacter, unless an earlier version
	 * stored the event (docs/plugin-guide.md). */
	const char *(*event_id)(const es_event *event);
	const char *(*event_name)(const es_event *event);
	const char *(*event_source)(const es_event *event);
	/* Event time, microseconds since the Unix epoch (UTC), from
	 * 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z; negative before
	 * 1970.  The client's time rounded down to the microsecond, or the
	 * receive time when the client gave none. */
	int64_t (*event_time_us)(const es_event *event);
	/* The event's data as JSON text: exactly *len bytes of strictly valid
	 * JSON (RFC 8259, UTF-8, no NUL byte and no \u0000 escape), followed
	 * by a NUL.  As the client wrote it (numbers are not rounded), possibly
	 * with whitespace around it.  "null" when the event carried no data. */
	const char *(*event_data)(const es_event *event, size_t *len);
	/* A string attribute, or NULL when absent. */
	const char *(*event_attribute)(const es_event *event, const char *key);
	/* The whole event as one JSON object (id, name, source, time, data,
	 * attributes), as the `log` plugin writes it.  NUL-terminated, owned by
	 * the host, valid while the event is being handled. */
	const char *(*event_json)(const es_event *event, size_t *len);
	/* Delivery attempt for this handle() call: 1 on the first try. */
	uint32_t (*delivery_attempt)(const es_event *event);

	/* Read the plugin's `config:` subtree.  `path` is dotted ("http.url").
	 * Strings are owned by the host, valid until shutdown().  On any status
	 * but ES_STATUS_OK, *out is untouched. */
	es_status (*config_string)(es_plugin_ctx *ctx, const char *path, const char **out);
	es_status (*config_int)(es_plugin_ctx *ctx, const char *path, int64_t *out);
	es_status (*config_bool)(es_plugin_ctx *ctx, const char *path, int *out);
	/* Number of items when `path` is a list, for config_list_string(). */
	es_status (*config_list_size)(es_plugin_ctx *ctx, const char *path, size_t *out);
	es_status (*config_list_string)(es_plugin_ctx *ctx, const char *path, size_t index,
	                                const char **out);

	/* Emit a new event into the router, as if it had arrived over HTTP.
	 * Its source is "plugin:<instance name>", its id new, its time now.
	 * `name` follows the event name grammar; `data_json` is JSON text of
	 * `len` bytes (may be NULL for no data), held to the same strict rules
	 * as event_data() promises.  The host copies both.
	 * Returns ES_STATUS_BUSY when a matching queue is full (nothing enqueued),
	 * ES_STATUS_INVALID for a bad name, bad JSON, data larger than the
	 * host's event size limit, or an event chain deeper than 8 (an event
	 * emitted while handling an event emitted while handling ... : a
	 * plugin whose emits route back to itself). */
	es_status (*emit)(es_plugin_ctx *ctx, const char *name, const char *data_json, size_t len);

	/* Add to a plugin-defined counter, reported by the host's plugin status
	 * and metrics (see gauge_set() for names and limits; a 1.0 host kept at
	 * most 16 and did not export them in /metrics). */
	void (*counter_add)(es_plugin_ctx *ctx, const char *name, uint64_t delta);

	/* The plugin's instance name (as configured), owned by the host. */
	const char *(*plugin_name)(es_plugin_ctx *ctx);

	/* ---- ABI 1.1: check ES_HOST_HAS(host, field) before calling ---- */

	/* The event's attributes (extensions and CloudEvents optional
	 * attributes such as subject, dataschema and datacontenttype) in the
	 * order the client sent them: their number, and the one at `index`.
	 * ES_STATUS_NOT_FOUND past the end.  Owned by the host, valid while the
	 * event is being handled. */
	size_t (*event_attribute_count)(const es_event *event);
	es_status (*event_attribute_at)(const es_event *event, size_t index, const char **key,
	                                const char **value);
	/* The data's media type as the client gave it (CloudEvents
	 * datacontenttype, or the Content-Type of a binary-mode request), or
	 * NULL when none was given: the data is then JSON. */
	const char *(*event_content_type)(const es_event *event);
	/* Whether the client sent data at all (event_data() says "null" both
	 * for no data and for a JSON null). */
	int (*event_has_data)(const es_event *event);
	/* The data as bytes when it is not JSON: *len bytes (a NUL follows,
	 * not counted), exactly what the client sent -- the body of a
	 * binary-mode request, the bytes of data_base64, the text of a string
	 * whose content type is not JSON (text/plain, XML).  NULL when the
	 * data is JSON (read it with event_data()) or when there is none. */
	const void *(*event_data_bytes)(const es_event *event, size_t *len);
	/* The event time exactly as the client wrote it (RFC 3339, any offset
	 * and precision), or NULL when the client gave no time: event_time_us()
	 * is then the time the host received the event. */
	const char *(*event_time_text)(const es_event *event);

	/* The deadline of this handle() call on CLOCK_MONOTONIC, in
	 * microseconds (clock_gettime(CLOCK_MONOTONIC) * 1e6): past it the
	 * call counts as timed out.  0 outside handle(). */
	int64_t (*delivery_deadline_us)(const es_event *event);
	/* 1 when the host read this event back from its database (a redelivery
	 * after a restart or a dead-letter replay): the plugin may have seen
	 * it before, so check the id.  After a restart delivery_attempt()
	 * goes on from the attempts earlier runs recorded (a retry or a crash
	 * each); a replayed dead letter starts again at 1. */
	int (*delivery_redelivered)(const es_event *event);

	/* Emit with a source and attributes (see es_emit).  The new event gets
	 * a new id and the current time; emitted from inside handle() it also
	 * carries ES_PARENT_ID_ATTRIBUTE, the id of the event being handled.
	 * ES_STATUS_INVALID for a bad name, bad JSON, a bad attribute (name,
	 * reserved name, more than 32) or an event chain deeper than 8 emits;
	 * ES_STATUS_BUSY when a matching queue is full.  The reason is logged. */
	es_status (*emit_event)(es_plugin_ctx *ctx, const es_emit *emit);

	/* A number (integers too: "3" reads as 3.0). */
	es_status (*config_double)(es_plugin_ctx *ctx, const char *path, double *out);
	/* The keys of a map, in the order written: their number, and the one
	 * at `index` (owned by the host, valid until shutdown()).  Paths may
	 * index lists in every config function of a 1.1 host: "targets.0.url"
	 * is the url of the first map in the list `targets`.  A value written
	 * as null, ~ or nothing is absent (ES_STATUS_NOT_FOUND) everywhere. */
	es_status (*config_map_size)(es_plugin_ctx *ctx, const char *path, size_t *out);
	es_status (*config_map_key)(es_plugin_ctx *ctx, const char *path, size_t index, const char **out);
	/* A secret, copied into out (out_size bytes with its NUL).  The value at
	 * `path` is a map with one key: `env: NAME` (an environment variable)
	 * or `file: PATH` (the file's content, one trailing newline removed).
	 * ES_STATUS_NOT_FOUND when the key is absent; ES_STATUS_INVALID when the
	 * variable is unset or empty, the file cannot be read, or the secret
	 * does not fit (the reason is logged, never the value);
	 * ES_STATUS_WRONG_TYPE for any other shape.  Wipe the copy when done. */
	es_status (*config_secret)(es_plugin_ctx *ctx, const char *path, char *out, size_t out_size);

	/* Set a plugin-defined gauge.  Counters (counter_add) and gauges are
	 * exported in /metrics as eventsys_plugin_custom_total and
	 * eventsys_plugin_custom_value with labels plugin="<instance>" and
	 * name="<name>".  A name is 1-31 characters of a-z, 0-9 and _,
	 * starting with a letter; a plugin has at most ES_PLUGIN_MAX_METRICS
	 * counters and gauges together.  A refused name (invalid, or past the
	 * limit) is logged once per plugin and counted in
	 * eventsys_plugin_metric_refused_total; nothing else happens. */
	void (*gauge_set)(es_plugin_ctx *ctx, const char *name, int64_t value);
	/* Whether log() at `level` writes anything: skip building an expensive
	 * message. */
	int (*log_enabled)(es_plugin_ctx *ctx, es_log_level level);

	/* The type of the attribute at `index` (as event_attribute_at()
	 * counts): an extension sent in JSON as 42 or true is
	 * ES_ATTRIBUTE_INTEGER or ES_ATTRIBUTE_BOOLEAN, its text "42" or
	 * "true"; a value that came as a string (and every ce-* header of a
	 * binary-mode request: the HTTP binding carries text) is
	 * ES_ATTRIBUTE_STRING.  ES_STATUS_NOT_FOUND past the end, *type then
	 * untouched. */
	es_status (*event_attribute_type_at)(const es_event *event, size_t index, es_attribute_type *type);

	/* Complete a delivery that handle_async() started (see there), exactly
	 * once, from any thread, with the result handle() would have returned
	 * and, on ES_RETRY or ES_FAIL, an optional reason (NULL or a string;
	 * the host copies at most 255 bytes of it and writes bytes that are
	 * not UTF-8 as '?').  Never blocks on the plugin's other deliveries.
	 *   ES_STATUS_OK        the result decides the delivery (retry, dead
	 *                       letter, metrics) as handle()'s would;
	 *   ES_STATUS_NOT_FOUND the delivery had already ended without it: its
	 *                       deadline passed (it counted as a timeout) or
	 *                       the plugin was stopped.  Ignored, counted as a
	 *                       late completion and logged once per plugin.
	 *                       Also for NULL or what is not a handle;
	 *   ES_STATUS_INVALID   completed before (ignored, counted, logged
	 *                       once; NOT_FOUND once the host has reused the
	 *                       handle, long after), or `result` is not an
	 *                       es_result (the delivery then fails, as
	 *                       handle() returning it would).
	 * A late or second completion is always harmless: the handle is a
	 * token the host checks, never memory the plugin could outlive. */
	es_status (*delivery_complete)(es_delivery *delivery, es_result result, const char *reason);
} es_host_api;

/* Counters and gauges a plugin may define, together (ABI 1.1 hosts). */
#define ES_PLUGIN_MAX_METRICS 32

#define ES_HOST_HAS(host, field) \
	((host)->struct_size >= offsetof(es_host_api, field) + sizeof((host)->field))

/*
 * The descriptor a plugin exports as `es_plugin_entry`.  The host copies
 * what it needs; the plugin owns the storage (a constant in its image).
 *
 * Thread-safety: handle() may be called from several worker threads at once
 * for different events (one plugin state shared by all), unless the plugin
 * sets ES_PLUGIN_SERIAL.  init(), reopen() and shutdown() are never called
 * concurrently with each other or with handle().
 */
typedef struct es_plugin_descriptor {
	uint32_t struct_size; /* sizeof(es_plugin_descriptor); set by ES_PLUGIN_DEFINE */
	uint16_t abi_major;   /* ES_ABI_MAJOR the plugin was built against */
	uint16_t abi_minor;   /* ES_ABI_MINOR the plugin was built against */

	const char *name;        /* required; [a-z0-9_-], unique among loaded plugins */
	const char *version;     /* required; the plugin's own version, e.g. "1.2.0" */
	const char *description; /* optional, one line */

	/* Subscriptions used when the config gives none: NULL-terminated array
	 * of patterns (see docs/plugin-guide.md for the grammar), or NULL for
	 * none (the plugin receives nothing until configured). */
	const char *const *default_subscriptions;
	uint32_t flags; /* ES_PLUGIN_* */

	/*
	 * Called once, before any handle().  Read config through `host`; set
	 * *state to the plugin's private state (owned by the plugin; passed back
	 * to every callback).  Return ES_STATUS_OK, or anything else to refuse
	 * to start (log why first); shutdown() is then not called.
	 * Required.
	 */
	es_status (*init)(es_plugin_ctx *ctx, const es_host_api *host, void **state);

	/*
	 * Handle one event.  Runs on a worker thread of this plugin, never on a
	 * network thread, under the configured deadline: a handler that overruns
	 * it is counted as timed out and its worker is replaced (the call itself
	 * is not interrupted; its result is then ignored).  On ES_RETRY or
	 * ES_FAIL it may write a NUL-terminated reason into `err` (capacity
	 * `err_size` bytes), which the host logs and records: it reads at most
	 * err_size - 1 bytes and writes bytes that are not UTF-8 as '?'.
	 * Required.
	 */
	es_result (*handle)(void *state, const es_event *event, char *err, size_t err_size);

	/* Called once after the last handle() has returned; frees `state`.
	 * A handler still running when the plugin is stopped for a reload is
	 * waited for until its own deadline (timeout_ms), then shutdown() runs.
	 * Not called while a handler is stuck past its deadline (the plugin then
	 * stays loaded).  It has a deadline: what is left of
	 * event.shutdown_timeout_ms, at least 1 s; past it the host logs it,
	 * leaves the call running on its thread, keeps the plugin mapped and
	 * goes on (the daemon exits, a reload completes).  Optional (NULL). */
	void (*shutdown)(void *state);

	/* Called on SIGHUP for plugins whose config did not change, so they can
	 * reopen files (logrotate).  No handle() starts meanwhile; the host
	 * waits for the running ones up to the plugin's timeout_ms and skips
	 * reopen() (logged) when one is still running then.  Optional (NULL). */
	void (*reopen)(void *state);

	/*
	 * ABI 1.1.  Handle several events in one call (a sink that writes a
	 * batch at once: one request, one transaction).  Optional (NULL); when
	 * set the host calls it instead of handle() (which stays required, for
	 * 1.0 hosts).  `events[0..count)` are in queue order, 1 to the
	 * plugin's `batch_max` of them: what was queued when a worker looked,
	 * after waiting up to `batch_linger_ms` for more.  Write a result per
	 * event into `results[i]` (the host sets each to ES_RETRY before the
	 * call) and, on ES_RETRY or ES_FAIL, optionally a NUL-terminated reason
	 * into `errs[i]` (capacity `err_size` bytes each).  Results are per
	 * event: an ES_RETRY event is retried on its own (in a later batch) and
	 * dead-lettered on its own; the others are not delivered again.  The
	 * deadline (timeout_ms) covers the whole call: a call that overruns it
	 * times out every event in it.  delivery_attempt() and the other
	 * per-event accessors answer for each event; emit() from inside the
	 * call links the child to events[0].  Concurrency as for handle().
	 * A crash inside a call of several events is counted for none of
	 * them (any may have caused it); each is then handed over alone, where
	 * a crash names its event (in-process: events redelivered after the
	 * restart come one per call).
	 */
	void (*handle_batch)(void *state, const es_event *const *events, size_t count, es_result *results,
	                     char *const *errs, size_t err_size);

	/*
	 * ABI 1.1.  Start one delivery and return at once; finish it later,
	 * from any thread (the plugin's own included), with
	 * host->delivery_complete(delivery, result, reason).  Optional (NULL);
	 * when set the host calls it instead of handle() (which stays
	 * required, for 1.0 hosts).  A plugin may not set both handle_async
	 * and handle_batch, nor run with `isolation: process`: the host
	 * refuses to load it, saying why.
	 *
	 *   - Ownership: `event` stays valid, with every pointer its accessors
	 *     return, until the plugin completes the delivery -- even after the
	 *     deadline -- or at the latest until shutdown() returns.  The
	 *     handle may be passed to delivery_complete() until then; it is
	 *     "dead" once completed or once shutdown() has returned.
	 *   - Deadline: timeout_ms runs from the call.  A delivery not
	 *     completed by then is a timeout, exactly as a handle() that
	 *     overran (retry with backoff, dead letter, metrics); completing
	 *     it later is harmless: ignored, counted as a late completion
	 *     (eventsys_plugin_async_late_completions_total) and logged once.
	 *     Read delivery_attempt() and delivery_deadline_us() inside
	 *     handle_async(): on the plugin's own threads they answer 0.
	 *   - Bound: every delivery started and not yet completed -- before
	 *     or after its deadline -- counts against the plugin's
	 *     queue_size.  A plugin that stops completing fills its queue and
	 *     new events are refused (HTTP 503), nothing is lost silently.
	 *   - Concurrency: handle_async() is called like handle() (from
	 *     several workers at once unless ES_PLUGIN_SERIAL); any number of
	 *     deliveries may be outstanding, completed in any order.  A call
	 *     that blocks past the deadline is treated like a stuck handle().
	 *   - Reload and stop: the host stops starting deliveries, waits for
	 *     the outstanding ones until the deadline or the shutdown
	 *     deadline, whichever is first, and counts the rest as timeouts;
	 *     only then is shutdown() called.  shutdown() must stop and join
	 *     the plugin's threads; completing from inside it is allowed (late
	 *     completions, ignored).  After shutdown() returns the plugin must
	 *     not call the host again.  reopen() may run while deliveries are
	 *     outstanding.
	 *   - emit() from the plugin's own thread does not link the child to
	 *     the event (no ES_PARENT_ID_ATTRIBUTE); emit from handle_async()
	 *     does.
	 */
	void (*handle_async)(void *state, const es_event *event, es_delivery *delivery);
} es_plugin_descriptor;

/*
 * Define the plugin's descriptor.  Use designated initialisers for the rest:
 *
 *   ES_PLUGIN_DEFINE(
 *       .name = "example", .version = "1.0.0",
 *       .init = ex_init, .handle = ex_handle, .shutdown = ex_shutdown);
 */
#define ES_PLUGIN_DEFINE(...)                                                 \
	ES_EXPORT extern const es_plugin_descriptor es_plugin_entry;          \
	const es_plugin_descriptor es_plugin_entry = {                        \
		.struct_size = sizeof(es_plugin_descriptor),                  \
		.abi_major = ES_ABI_MAJOR,                                    \
		.abi_minor = ES_ABI_MINOR,                                    \
		__VA_ARGS__}

#ifdef __cplusplus
}
#endif

#endif /* EVENT_SYSTEM_PLUGIN_H */
