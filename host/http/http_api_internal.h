/*
 * Shared between the HTTP API files (http_api.c: routing, replies, auth,
 * status endpoints; http_events.c: the event endpoints).  Everything here
 * runs on an HTTP loop thread.
 */
#ifndef ES_HTTP_API_INTERNAL_H
#define ES_HTTP_API_INTERNAL_H

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http_api.h"
#include "core/router.h"

/* One request being answered.  Lives on the handler's stack, or on the heap
 * while a synchronous trigger waits (see http_events.c). */
typedef struct api_request {
	struct evhttp_request *req; /* NULL once the client went away */
	http_api_thread *thread;
	es_daemon *daemon;
	int64_t start_us;       /* monotonic, when the handler was entered */
	/* The routing table and config this request is served with, borrowed
	 * (router_borrow()) when it arrived and returned when its handler
	 * returns: valid only inside the handler (NULL in a request kept for
	 * later). */
	routing_table *table;
	const es_config *config;
	bool access_log;        /* copied from the config: valid for later too */
	bool details_allowed;   /* api_may_see_details(), decided when kept: valid for later */
	int route;              /* index in the route table, for metrics; -1: none */
	char token_name[64];    /* who, for the access log ("-" when none) */
	const char *query;      /* after '?', or NULL */
	const char *path_rest;  /* a prefix route: the path after the prefix (not NUL-terminated) */
	size_t path_rest_len;
	/* The input headers the handlers read, found in one pass when the
	 * request arrived (the first of each, as evhttp_find_header() gives;
	 * NULL when absent): valid only inside the handler, like `table`. */
	const char *content_type;
	const char *transfer_encoding;
	const char *authorization;
	bool has_ce_specversion;
} api_request;

/* A request answered after its handler returned (admin reloads,
 * synchronous triggers, durable stores, history queries) lives in its
 * waiter as a copy made by api_request_keep(): table and config are cleared,
 * they are only valid inside the handler.  api_request_watch() makes
 * kept->req NULL when the client goes away (libevent then frees the
 * request: answer nobody); api_request_unwatch() before answering or
 * freeing the waiter.  A connection has one watcher at a time. */
void api_request_keep(api_request *kept, const api_request *r);
void api_request_watch(api_request *kept);
void api_request_unwatch(api_request *kept);

/* The most of a path an access log line shows. */
#define ACCESS_LOG_PATH_MAX 200
/* Add one access log line to the thread's batch ("-" for an empty token);
 * the caller checked that the access log is on (logging.access_log and
 * log_enabled(LOG_LEVEL_INFO)).  The handlers' answers and the request
 * gate's refusals alike. */
void api_access_line(http_api_thread *api, const char *method, const char *path, size_t path_len, int status,
                     size_t bytes, double ms, const char *client, const char *token);

/* Count an answer the request-head gate gave itself (a refusal, a 408) in
 * eventsys_http_requests_total by the route of `method` and `target` (the
 * request line's, as read, method_len and target_len bytes; "other" when
 * it is none or did not arrive), as the handlers' answers are.  Not in the
 * duration histogram: its time would be the refusal's (about 0), not the
 * request's. */
void api_count_refusal(const char *method, int method_len, const char *target, size_t target_len, int status);

/* Answer with `body` (JSON, len bytes), then write the access log line. */
void api_reply(api_request *r, int status, const char *body, size_t len);
/* Answer with the JSON in the request's output buffer already. */
void api_reply_buffer(api_request *r, int status);
/* {"error": code, "message": message} */
void api_error(api_request *r, int status, const char *code, const char *message);
/* Add a response header. */
void api_header(api_request *r, const char *name, const char *value);
/* The value of query parameter `key`, copied into out; false when absent. */
bool api_query(const api_request *r, const char *key, char *out, size_t out_size);
/* Whether the request may see the database driver's and the host's details
 * (security.md): an admin token, or any request when no tokens are set.  A
 * kept request (no config) answers what was decided when it was kept. */
bool api_may_see_details(const api_request *r);
/* How much of `why`, a reason written "summary (details)", `r` may see: all
 * of it for api_may_see_details(), else the summary before the first " ("
 * (the details name hosts, users, streams and servers' error texts).  The
 * length to print (%.*s); *cut tells whether details were left out. */
int api_visible_reason(const api_request *r, const char *why, bool *cut);

/* The reason phrase of an HTTP status ("Unknown" for one the API does
 * not answer); the handlers' and the request-head gate's answers alike. */
const char *api_reason_phrase(int status);

/* The 501 to a Transfer-Encoding other than "chunked" (its value for %s),
 * from the gate right after the head or, on a connection it does not
 * watch, from the handlers. */
#define API_CODING_UNSUPPORTED                                                                                         \
	"Transfer-Encoding '%.64s' is not supported: send the body as is (Content-Length) or with "                     \
	"'Transfer-Encoding: chunked' alone"

/* Compare a secret without an early exit, so timing does not reveal a
 * prefix. */
bool api_secret_equal(const char *given, size_t given_len, const char *secret);

/* API counters (http_api.c). */
extern _Atomic uint64_t api_accepted, api_bad_request, api_too_large, api_media_type, api_busy,
        api_unavailable, api_unauthorized;

/* Admin endpoints (http_admin.c). */
void api_admin_reload(api_request *r);
void api_admin_free_waits(http_api_thread *t);

/* Quarantined plugins (http_quarantine.c). */
struct cJSON;
/* The quarantined plugins as one line for /health (empty when none), with
 * their last crash when `detailed` (event ids: admin only); returns how
 * many there are. */
size_t api_quarantine_reason(es_daemon *daemon, bool detailed, char *why, size_t why_size);
/* Append an entry per quarantined plugin to GET /api/plugins' list. */
void api_quarantine_add_plugins(es_daemon *daemon, struct cJSON *list);
void api_plugin_release(api_request *r);

/* Event history endpoints (http_history.c). */
void api_events_list(api_request *r);
void api_event_get(api_request *r);
void api_dead_letters_list(api_request *r);
void api_dead_letter_replay(api_request *r);

/* Event endpoints (http_events.c). */
void api_trigger(api_request *r);
void api_batch(api_request *r);
void api_test(api_request *r);

#endif
