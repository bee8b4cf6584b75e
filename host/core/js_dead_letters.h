/*
 * The dead letters of the JetStream backend, for the admin API: listing
 * the stream `<stream>_DEAD` and replaying one of its messages, the same
 * endpoints (GET /api/dead-letters, POST /api/dead-letters/{id}/replay) the
 * database gives the local mode.  A dead letter's id is its sequence in
 * that stream.
 *
 * A replay publishes the message's event again to its plugin's subject
 * (`<prefix>.deliver.<plugin>`), then removes the dead letter from the
 * stream: what the list shows is what still waits for an operator; a
 * replay that fails again comes back as a new dead letter.  Each replay is
 * written to the audit log.
 *
 * The NATS requests run on this module's own thread (`es-js-dead`), never
 * on an HTTP thread; the answer runs on the asking thread's base, like the
 * database's history requests.  At most JS_DEAD_QUEUE_MAX requests wait;
 * more are refused at once (503).
 *
 * Ownership: main.c starts it after the link and stops it (answering what
 * still waits) before the HTTP threads stop; the link outlives it.
 */
#ifndef ES_JS_DEAD_LETTERS_H
#define ES_JS_DEAD_LETTERS_H

#include <stddef.h>
#include <stdint.h>

#include "core/js_link.h"
#include "db/database.h"

struct event_base;

#define JS_DEAD_QUEUE_MAX 16

typedef struct js_dead_letters js_dead_letters;

typedef enum js_dead_kind { JS_DEAD_LIST, JS_DEAD_REPLAY } js_dead_kind;

typedef struct js_dead_request {
	js_dead_kind kind;
	char plugin[65];   /* list: only this plugin's ("" all) */
	uint32_t limit;    /* list: at most this many, newest first */
	uint64_t before;   /* list: ids below this one (0: from the newest) */
	uint64_t id;       /* replay: the dead letter */
	char actor[64];    /* who asked (audited) */
} js_dead_request;

/* `done(status, body_json, arg)` runs on the base's thread; body is valid
 * during the call. */
typedef void (*js_dead_done)(int status, const char *body, void *arg);

/* `db`: where replays are audited besides the log (NULL: the log only). */
js_dead_letters *js_dead_letters_start(js_link *link, database *db);
/* Join the thread; requests still waiting are answered 503. */
void js_dead_letters_stop(js_dead_letters *set);

/* 0 queued; -1 refused now (queue full, out of memory, stopping) with
 * why: a 503. */
int js_dead_letters_request(js_dead_letters *set, const js_dead_request *request, struct event_base *base,
                            js_dead_done done, void *arg, char *why, size_t why_size);

#endif
