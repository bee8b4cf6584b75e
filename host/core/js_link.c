/*
 * The NATS JetStream link: see js_link.h.
 *
 * Publishing: js_PublishMsgAsync() with the message id and a MaxWait of
 * queue.jetstream.publish_timeout_ms, so the library answers every publish,
 * stored or failed.  Its acknowledgement callback gets the message back:
 * `pending`, a small open-addressing table keyed by the message's address,
 * finds the publish it belongs to.  A publish of N messages (one per
 * plugin) completes when the last answer arrived; its callback runs on the
 * HTTP thread that asked, through an event on that thread's base.
 *
 * While a stream elects a new leader (a NATS server of the cluster died)
 * JetStream answers "no responders": such a message is published again by
 * the es-nats thread every RETRY_DELAY_US until the publish's deadline, so
 * the trigger waits through the election instead of being refused.
 *
 * Locks: `lock` guards the pending table and the state the thread
 * refreshes (ready, why, statistics); nothing else is taken under it.
 */
#include "config.h"

#include "core/js_link.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/prom_text.h"

#ifdef HAVE_NATS


#define PENDING_CAP 16384         /* a power of two, twice the library's in-flight limit */
#define PUBLISH_MAX_PENDING 8192
#define MSG_ID_MAX (EVENT_ID_MAX + 1 + 64 + 1)
#define SUBJECT_MAX 200
#define RETRY_DELAY_US 100000
#define RECONNECT_GRACE_US 2000000

/* One trigger's publish: N messages, one answer. */
typedef struct js_publish {
	struct event *wake; /* on the caller's base */
	js_publish_done done;
	void *arg;
	_Atomic uint32_t remaining;
	int64_t deadline_us; /* monotonic: publish_timeout_ms after it started */
	_Atomic int status; /* the first failure's, or JS_PUBLISH_STORED */
	char why[256];      /* written by whoever set status first */
	/* js_link_publish_wait(): signalled instead of `wake` */
	pthread_mutex_t *wait_lock;
	pthread_cond_t *wait_cond;
	bool *wait_done;
} js_publish;

/* A message to publish again (no responders yet). */
typedef struct retry_entry {
	natsMsg *msg;
	js_publish *publish;
	int64_t due_us;
	struct retry_entry *next;
} retry_entry;

typedef struct pending_slot {
	natsMsg *msg; /* NULL: free */
	js_publish *publish;
} pending_slot;

struct js_link {
	char *stream, *dead_stream, *prefix;
	int64_t max_bytes, max_age_ns, duplicates_ns;
	uint32_t publish_timeout_ms;
	uint32_t replicas;

	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;

	pthread_mutex_t lock;
	pthread_cond_t wake; /* the thread waits here; js_link_stop() signals */
	pthread_t thread;
	_Atomic int64_t disconnected_us; /* monotonic, when the connection went (0: connected) */
	pending_slot pending[PENDING_CAP];
	size_t pending_count;
	retry_entry *retries; /* oldest first (all wait the same delay) */
	retry_entry *retries_tail;
	/* the stream's state, refreshed by the thread (under lock) */
	uint64_t stream_msgs, stream_bytes, dead_msgs;

	_Atomic uint64_t published, publish_failed_unavailable, publish_failed_full, publish_duplicates;
	_Atomic uint64_t disconnects, reconnects, dead_letters;

	char why[256]; /* why not ready (under lock) */
	bool stop;
	bool thread_running;
	atomic_bool connected;
	atomic_bool streams_ready;
	atomic_bool streams_recheck; /* reconnected: ensure the streams again (publishing goes on) */
	atomic_bool closing; /* js_link_stop(): the connection's end is not news */
	bool closed;         /* the library's last callback ran (under lock; `wake` signals it) */
	bool stream_known;   /* under lock */
};

/* ---- pending publishes ---- */

static size_t slot_of(const natsMsg *msg)
{
	uintptr_t h = (uintptr_t)msg;
	h ^= h >> 17;
	h *= 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 20) & (PENDING_CAP - 1);
}

/* Under lock; false when full. */
static bool pending_put(js_link *l, natsMsg *msg, js_publish *p)
{
	if (l->pending_count >= PENDING_CAP / 2)
		return false;
	size_t i = slot_of(msg);
	while (l->pending[i].msg)
		i = (i + 1) & (PENDING_CAP - 1);
	l->pending[i] = (pending_slot){msg, p};
	l->pending_count++;
	return true;
}

/* Under lock: the publish `msg` belongs to (removed), or NULL. */
static js_publish *pending_take(js_link *l, const natsMsg *msg)
{
	size_t i = slot_of(msg);
	while (l->pending[i].msg && l->pending[i].msg != msg)
		i = (i + 1) & (PENDING_CAP - 1);
	if (!l->pending[i].msg)
		return NULL;
	js_publish *p = l->pending[i].publish;
	l->pending[i].msg = NULL;
	l->pending_count--;
	/* backward-shift deletion: no tombstones in linear probing */
	size_t hole = i;
	for (size_t j = (i + 1) & (PENDING_CAP - 1); l->pending[j].msg; j = (j + 1) & (PENDING_CAP - 1)) {
		size_t home = slot_of(l->pending[j].msg);
		bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
		if (movable) {
			l->pending[hole] = l->pending[j];
			l->pending[j].msg = NULL;
			hole = j;
		}
	}
	return p;
}

static void publish_free(js_publish *p)
{
	if (p->wake)
		event_free(p->wake);
	free(p);
}

/* On the caller's thread: the answer. */
static void on_publish_done(evutil_socket_t fd, short what, void *arg)
{
	js_publish *p = arg;
	p->done(atomic_load(&p->status), p->why, p->arg);
	publish_free(p);
}

/* One message answered (`status` JS_PUBLISH_*): the publish completes with
 * the last one. */
static void publish_part_done(js_publish *p, int status, const char *why)
{
	if (status != JS_PUBLISH_STORED) {
		int expected = JS_PUBLISH_STORED;
		if (atomic_compare_exchange_strong(&p->status, &expected, status))
			snprintf(p->why, sizeof p->why, "%s", why);
	}
	if (atomic_fetch_sub(&p->remaining, 1) != 1)
		return;
	if (p->wait_lock) {
		pthread_mutex_lock(p->wait_lock);
		*p->wait_done = true;
		pthread_cond_signal(p->wait_cond);
		pthread_mutex_unlock(p->wait_lock);
	} else {
		event_active(p->wake, 0, 0);
	}
}

/* Why JetStream refused a message, and which answer that is. */
static int classify_failure(const jsPubAckErr *pae, char *why, size_t why_size)
{
	if (pae->ErrCode == JSStreamStoreFailedErr || (pae->ErrText && strstr(pae->ErrText, "maximum"))) {
		snprintf(why, why_size, "the JetStream stream is full (queue.jetstream.max_mb, max_age_s: %s)",
		         pae->ErrText ? pae->ErrText : "store failed");
		return JS_PUBLISH_FULL;
	}
	if (pae->Err == NATS_TIMEOUT)
		snprintf(why, why_size, "JetStream did not acknowledge the event within queue.jetstream.publish_timeout_ms; "
		                        "it may still be stored: a retry with the same event id is stored once");
	else
		snprintf(why, why_size, "JetStream did not store the event (%s)",
		         pae->ErrText && *pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
	return JS_PUBLISH_UNAVAILABLE;
}

/* The library's answer to one asynchronous publish (a NATS thread). */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	js_link *l = closure;
	pthread_mutex_lock(&l->lock);
	js_publish *p = pending_take(l, msg);
	retry_entry *again = NULL;
	if (p && !pa && pae && pae->Err == NATS_NO_RESPONDERS && !atomic_load(&l->closing) &&
	    clock_monotonic_us() + RETRY_DELAY_US < p->deadline_us && (again = malloc(sizeof *again))) {
		/* the stream has no leader right now: again, shortly */
		*again = (retry_entry){msg, p, clock_monotonic_us() + RETRY_DELAY_US, NULL};
		if (l->retries_tail)
			l->retries_tail->next = again;
		else
			l->retries = again;
		l->retries_tail = again;
		pthread_cond_signal(&l->wake);
	}
	pthread_mutex_unlock(&l->lock);
	if (again)
		return;
	if (p) {
		char why[256] = "";
		int status = JS_PUBLISH_STORED;
		if (pa) {
			atomic_fetch_add_explicit(&l->published, 1, memory_order_relaxed);
			if (pa->Duplicate)
				atomic_fetch_add_explicit(&l->publish_duplicates, 1, memory_order_relaxed);
		} else {
			status = pae ? classify_failure(pae, why, sizeof why) : JS_PUBLISH_UNAVAILABLE;
			atomic_fetch_add_explicit(status == JS_PUBLISH_FULL ? &l->publish_failed_full
			                                                    : &l->publish_failed_unavailable,
			                          1, memory_order_relaxed);
		}
		publish_part_done(p, status, why);
	}
	natsMsg_Destroy(msg);
}

/* ---- connection ---- */

static void on_disconnected(natsConnection *nc, void *closure)
{
	js_link *l = closure;
	atomic_store(&l->disconnected_us, clock_monotonic_us());
	atomic_store(&l->connected, false);
	if (atomic_load(&l->closing))
		return;
	atomic_fetch_add(&l->disconnects, 1);
	LOG_WARN("jetstream", "NATS connection lost: triggers are answered 503 until it is back");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	js_link *l = closure;
	char url[256] = "";
	natsConnection_GetConnectedUrl(nc, url, sizeof url);
	atomic_fetch_add(&l->reconnects, 1);
	atomic_store(&l->streams_recheck, true); /* the cluster may have lost them */
	atomic_store(&l->disconnected_us, 0);
	atomic_store(&l->connected, true);
	LOG_INFO("jetstream", "NATS connection back (%s)", url);
	pthread_mutex_lock(&l->lock);
	pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->lock);
}

/* The library's last callback for the connection: after it, none touches
 * the link (js_link_stop() waits for it before freeing). */
static void on_closed(natsConnection *nc, void *closure)
{
	js_link *l = closure;
	pthread_mutex_lock(&l->lock);
	l->closed = true;
	pthread_cond_broadcast(&l->wake);
	pthread_mutex_unlock(&l->lock);
}

/* The first connection, made in the background when the servers were not
 * reachable at start. */
static void on_connected(natsConnection *nc, void *closure)
{
	js_link *l = closure;
	char url[256] = "";
	natsConnection_GetConnectedUrl(nc, url, sizeof url);
	atomic_store(&l->connected, true);
	LOG_INFO("jetstream", "NATS connected (%s)", url);
	pthread_mutex_lock(&l->lock);
	pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->lock);
}

static void set_why(js_link *l, const char *why)
{
	pthread_mutex_lock(&l->lock);
	snprintf(l->why, sizeof l->why, "%s", why);
	pthread_mutex_unlock(&l->lock);
}

/* Create `name` over `subject`, or bring it to the config.  0 or -1 (why set). */
static int ensure_stream(js_link *l, const char *name, const char *subject, jsRetentionPolicy retention)
{
	jsStreamConfig cfg;
	jsStreamConfig_Init(&cfg);
	cfg.Name = name;
	const char *subjects[] = {subject};
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.Retention = retention;
	cfg.Storage = js_FileStorage;
	cfg.Discard = js_DiscardNew; /* full: the trigger is refused, nothing accepted is dropped */
	cfg.MaxBytes = l->max_bytes ? l->max_bytes : -1;
	cfg.MaxAge = l->max_age_ns;
	cfg.Replicas = l->replicas;
	cfg.Duplicates = l->duplicates_ns;
	jsErrCode jerr = 0;
	jsStreamInfo *si = NULL;
	natsStatus s = js_AddStream(&si, l->js, &cfg, NULL, &jerr);
	if (s != NATS_OK && jerr == JSStreamNameExistErr)
		s = js_UpdateStream(&si, l->js, &cfg, NULL, &jerr);
	jsStreamInfo_Destroy(si);
	if (s != NATS_OK) {
		const char *text = nats_GetLastError(NULL);
		char why[256];
		snprintf(why, sizeof why,
		         "the JetStream streams are not ready (cannot create or update the stream %s: %s; JetStream "
		         "error %d)",
		         name, text && *text ? text : natsStatus_GetText(s), (int)jerr);
		set_why(l, why);
		return -1;
	}
	return 0;
}

static void refresh_state(js_link *l)
{
	jsStreamInfo *si = NULL, *dead = NULL;
	jsOptions o;
	jsOptions_Init(&o);
	o.Wait = 2000;
	natsStatus s = js_GetStreamInfo(&si, l->js, l->stream, &o, NULL);
	natsStatus d = js_GetStreamInfo(&dead, l->js, l->dead_stream, &o, NULL);
	pthread_mutex_lock(&l->lock);
	l->stream_known = s == NATS_OK;
	if (s == NATS_OK) {
		l->stream_msgs = si->State.Msgs;
		l->stream_bytes = si->State.Bytes;
	}
	if (d == NATS_OK)
		l->dead_msgs = dead->State.Msgs;
	pthread_mutex_unlock(&l->lock);
	jsStreamInfo_Destroy(si);
	jsStreamInfo_Destroy(dead);
}

/* Publish the due retries again.  Called without the lock. */
/* Disconnected: the messages held for the reconnection whose publish ran
 * out of time are refused (never handed to the library, they cannot be
 * stored later); the others wait.  Under lock. */
static void expire_held(js_link *l, int64_t now)
{
	retry_entry **link = &l->retries, *last = NULL;
	while (*link) {
		retry_entry *e = *link;
		if (e->publish->deadline_us > now) {
			last = e;
			link = &e->next;
			continue;
		}
		*link = e->next;
		atomic_fetch_add(&l->publish_failed_unavailable, 1);
		publish_part_done(e->publish, JS_PUBLISH_UNAVAILABLE,
		                  "NATS was unreachable for queue.jetstream.publish_timeout_ms: the event was not stored");
		natsMsg_Destroy(e->msg);
		free(e);
	}
	l->retries_tail = last;
}

static void run_retries(js_link *l)
{
	int64_t now = clock_monotonic_us();
	if (!atomic_load(&l->connected)) {
		pthread_mutex_lock(&l->lock);
		expire_held(l, now);
		pthread_mutex_unlock(&l->lock);
		return;
	}
	for (;;) {
		pthread_mutex_lock(&l->lock);
		retry_entry *e = l->retries;
		if (!e || e->due_us > now) {
			pthread_mutex_unlock(&l->lock);
			return;
		}
		l->retries = e->next;
		if (!l->retries)
			l->retries_tail = NULL;
		natsMsg *msg = e->msg;
		js_publish *p = e->publish;
		free(e);
		bool kept = pending_put(l, msg, p);
		pthread_mutex_unlock(&l->lock);
		jsPubOptions po;
		jsPubOptions_Init(&po);
		po.MaxWait = (p->deadline_us - now) / 1000 > 1 ? (p->deadline_us - now) / 1000 : 1;
		natsMsg *sent = msg;
		natsStatus s = kept ? js_PublishMsgAsync(l->js, &sent, &po) : NATS_INSUFFICIENT_BUFFER;
		if (s == NATS_OK)
			continue;
		pthread_mutex_lock(&l->lock);
		bool ours = !kept || pending_take(l, msg) != NULL;
		pthread_mutex_unlock(&l->lock);
		if (ours) {
			natsMsg_Destroy(sent);
			atomic_fetch_add(&l->publish_failed_unavailable, 1);
			publish_part_done(p, JS_PUBLISH_UNAVAILABLE, "JetStream had no leader for the stream within queue.jetstream.publish_timeout_ms");
		}
	}
}

/* es-nats: the streams whenever the connection comes up, the statistics. */
static void *link_main(void *arg)
{
	js_link *l = arg;
	char subject[SUBJECT_MAX], dead_subject[SUBJECT_MAX];
	snprintf(subject, sizeof subject, "%s.deliver.*", l->prefix);
	snprintf(dead_subject, sizeof dead_subject, "%s.dead.*", l->prefix);
	bool logged_failure = false;
	int64_t next_refresh = 0;
	pthread_mutex_lock(&l->lock);
	while (!l->stop) {
		pthread_mutex_unlock(&l->lock);
		/* after a reconnect the streams are ensured again, while
		 * publishing goes on: with a NATS server lost, the cluster's
		 * API may take seconds to answer while the streams still work */
		bool recheck = atomic_load(&l->connected) && atomic_load(&l->streams_ready) &&
		               atomic_exchange(&l->streams_recheck, false);
		if (recheck && (ensure_stream(l, l->stream, subject, js_WorkQueuePolicy) != 0 ||
		                ensure_stream(l, l->dead_stream, dead_subject, js_LimitsPolicy) != 0)) {
			pthread_mutex_lock(&l->lock);
			LOG_WARN("jetstream", "%s (after reconnecting; publishing goes on)", l->why);
			pthread_mutex_unlock(&l->lock);
		}
		if (atomic_load(&l->connected) && !atomic_load(&l->streams_ready)) {
			if (ensure_stream(l, l->stream, subject, js_WorkQueuePolicy) == 0 &&
			    ensure_stream(l, l->dead_stream, dead_subject, js_LimitsPolicy) == 0) {
				atomic_store(&l->streams_ready, true);
				LOG_INFO("jetstream", "streams %s and %s ready (%u replica%s)", l->stream, l->dead_stream,
				         l->replicas, l->replicas == 1 ? "" : "s");
				logged_failure = false;
			} else if (!logged_failure) {
				pthread_mutex_lock(&l->lock);
				LOG_ERROR("jetstream", "%s; retrying", l->why);
				pthread_mutex_unlock(&l->lock);
				logged_failure = true;
			}
		}
		int64_t now = clock_monotonic_us();
		if (now >= next_refresh && atomic_load(&l->connected) && atomic_load(&l->streams_ready)) {
			refresh_state(l);
			next_refresh = now + 1000000;
		}
		run_retries(l);
		pthread_mutex_lock(&l->lock);
		if (l->stop)
			break;
		/* a retry due soon: wake for it; otherwise once a second */
		clock_cond_wait_us(&l->wake, &l->lock, l->retries ? RETRY_DELAY_US / 2 : 1000000);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

static void link_free(js_link *l)
{
	while (l->retries) { /* only when quiesce did not run: a failed start */
		retry_entry *e = l->retries;
		l->retries = e->next;
		natsMsg_Destroy(e->msg);
		free(e);
	}
	if (l->js)
		jsCtx_Destroy(l->js);
	if (l->nc) {
		natsConnection_Close(l->nc);
		/* its callbacks run on the library's thread, after Close returns:
		 * wait for the last one (bounded; the link is leaked rather than
		 * freed under a late callback) */
		pthread_mutex_lock(&l->lock);
		int64_t deadline = clock_monotonic_us() + 5000000;
		while (!l->closed && clock_monotonic_us() < deadline)
			clock_cond_wait_us(&l->wake, &l->lock, deadline - clock_monotonic_us());
		bool closed = l->closed;
		pthread_mutex_unlock(&l->lock);
		natsConnection_Destroy(l->nc);
		if (!closed) {
			LOG_WARN("jetstream", "the NATS client did not confirm the close within 5 s");
			return;
		}
	}
	natsOptions_Destroy(l->opts);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->wake);
	free(l->stream);
	free(l->dead_stream);
	free(l->prefix);
	free(l);
}

/* The connection options from the config; secrets go to the library only. */
static natsStatus make_options(js_link *l, const jetstream_config *j, char *err, size_t err_size)
{
	natsStatus s = natsOptions_Create(&l->opts);
	if (s != NATS_OK)
		return s;
	const char *servers[16];
	int n = 0;
	char *copy = strdup(j->servers);
	if (!copy)
		return NATS_NO_MEMORY;
	for (char *save = NULL, *t = strtok_r(copy, ", ", &save); t && n < 16; t = strtok_r(NULL, ", ", &save))
		servers[n++] = t;
	if (n == 0) {
		snprintf(err, err_size, "queue.jetstream.servers names no server");
		free(copy);
		return NATS_INVALID_ARG;
	}
	s = natsOptions_SetServers(l->opts, servers, n);
	free(copy);
	if (s == NATS_OK)
		s = natsOptions_SetName(l->opts, "event-system");
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(l->opts, j->connect_timeout_ms);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(l->opts, -1); /* for ever: recovery without a restart */
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(l->opts, 500);
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(l->opts, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(l->opts, 2);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(l->opts, true, on_connected, l);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(l->opts, on_disconnected, l);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(l->opts, on_reconnected, l);
	if (s == NATS_OK)
		s = natsOptions_SetClosedCB(l->opts, on_closed, l);
	if (s == NATS_OK && j->user)
		s = natsOptions_SetUserInfo(l->opts, j->user, j->password);
	if (s == NATS_OK && j->token)
		s = natsOptions_SetToken(l->opts, j->token);
	if (s == NATS_OK && j->creds_file)
		s = natsOptions_SetUserCredentialsFromFiles(l->opts, j->creds_file, NULL);
	if (s == NATS_OK && j->tls_ca_file) {
		s = natsOptions_SetSecure(l->opts, true);
		if (s == NATS_OK)
			s = natsOptions_LoadCATrustedCertificates(l->opts, j->tls_ca_file);
		if (s != NATS_OK)
			snprintf(err, err_size, "queue.jetstream.tls_ca_file %s cannot be used: %s", j->tls_ca_file,
			         natsStatus_GetText(s));
	}
	return s;
}

js_link *js_link_start(const es_config *config, char *err, size_t err_size)
{
	const jetstream_config *j = &config->jetstream;
	js_link *l = calloc(1, sizeof *l);
	if (!l) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&l->lock, NULL);
	clock_cond_init(&l->wake);
	l->stream = strdup(j->stream);
	size_t dead_len = strlen(j->stream) + 6;
	l->dead_stream = malloc(dead_len);
	l->prefix = strdup(j->subject_prefix);
	l->publish_timeout_ms = j->publish_timeout_ms;
	l->max_bytes = (int64_t)j->max_mb * 1048576;
	l->max_age_ns = (int64_t)j->max_age_s * 1000000000;
	l->duplicates_ns = (int64_t)j->duplicate_window_s * 1000000000;
	l->replicas = j->replicas;
	snprintf(l->why, sizeof l->why, "not connected to NATS yet (%s)", j->servers);
	if (!l->stream || !l->dead_stream || !l->prefix) {
		snprintf(err, err_size, "out of memory");
		link_free(l);
		return NULL;
	}
	snprintf(l->dead_stream, dead_len, "%s_DEAD", j->stream);
	err[0] = '\0';
	natsStatus s = make_options(l, j, err, err_size);
	if (s == NATS_OK) {
		s = natsConnection_Connect(&l->nc, l->opts);
		if (s == NATS_OK)
			atomic_store(&l->connected, true);
		else if (s == NATS_NOT_YET_CONNECTED)
			s = NATS_OK; /* connecting in the background; on_connected() says when */
	}
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = j->publish_timeout_ms;
	jo.PublishAsync.MaxPending = PUBLISH_MAX_PENDING;
	jo.PublishAsync.AckHandler = on_ack;
	jo.PublishAsync.AckHandlerClosure = l;
	jo.PublishAsync.StallWait = 1; /* an HTTP thread never waits: a full pipe is a 503 */
	if (s == NATS_OK)
		s = natsConnection_JetStream(&l->js, l->nc, &jo);
	if (s != NATS_OK) {
		if (!err[0])
			snprintf(err, err_size, "cannot use NATS (%s): %s", j->servers, natsStatus_GetText(s));
		link_free(l);
		return NULL;
	}
	if (atomic_load(&l->connected)) {
		char url[256] = "";
		natsConnection_GetConnectedUrl(l->nc, url, sizeof url);
		LOG_INFO("jetstream", "NATS connected (%s)", url);
	} else {
		LOG_WARN("jetstream", "NATS not reachable at %s: triggers are answered 503 until it is", j->servers);
	}
	if (pthread_create(&l->thread, NULL, link_main, l) != 0) {
		snprintf(err, err_size, "cannot start the NATS thread");
		link_free(l);
		return NULL;
	}
	pthread_setname_np(l->thread, "es-nats");
	l->thread_running = true;
	return l;
}

void js_link_quiesce(js_link *l, int64_t deadline_us)
{
	if (!l)
		return;
	/* Every publish has a MaxWait: the library answers each by then. */
	for (;;) {
		pthread_mutex_lock(&l->lock);
		size_t n = l->pending_count + (l->retries != NULL);
		pthread_mutex_unlock(&l->lock);
		if (n == 0 || clock_monotonic_us() >= deadline_us)
			break;
		struct timespec ts = {0, 10L * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	/* Past the deadline: answer the rest ourselves; a late answer from the
	 * library finds nothing. */
	pthread_mutex_lock(&l->lock);
	while (l->retries) {
		retry_entry *e = l->retries;
		l->retries = e->next;
		publish_part_done(e->publish, JS_PUBLISH_UNAVAILABLE, "the server is shutting down");
		natsMsg_Destroy(e->msg);
		free(e);
	}
	l->retries_tail = NULL;
	for (size_t i = 0; i < PENDING_CAP; i++) {
		if (!l->pending[i].msg)
			continue;
		js_publish *p = l->pending[i].publish;
		l->pending[i].msg = NULL;
		l->pending_count--;
		publish_part_done(p, JS_PUBLISH_UNAVAILABLE, "the server is shutting down");
	}
	pthread_mutex_unlock(&l->lock);
}

void js_link_stop(js_link *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_cond_signal(&l->wake);
	pthread_mutex_unlock(&l->lock);
	if (l->thread_running)
		pthread_join(l->thread, NULL);
	atomic_store(&l->closing, true);
	link_free(l);
}

bool js_link_ready(js_link *l, char *why, size_t why_size)
{
	if (!atomic_load(&l->connected)) {
		snprintf(why, why_size, "NATS is unreachable (reconnecting)");
		return false;
	}
	if (!atomic_load(&l->streams_ready)) {
		pthread_mutex_lock(&l->lock);
		snprintf(why, why_size, "%s", l->why);
		pthread_mutex_unlock(&l->lock);
		return false;
	}
	why[0] = '\0';
	return true;
}

jsCtx *js_link_context(js_link *l)
{
	return atomic_load(&l->connected) && atomic_load(&l->streams_ready) ? l->js : NULL;
}

const char *js_link_stream(const js_link *l)
{
	return l->stream;
}

const char *js_link_dead_stream(const js_link *l)
{
	return l->dead_stream;
}

void js_link_subject(const js_link *l, const char *plugin, char *out, size_t out_size)
{
	snprintf(out, out_size, "%s.deliver.%s", l->prefix, plugin);
}

/* One message for `plugin` carrying `event` (its JSON), or NULL. */
static natsMsg *event_message(js_link *l, es_event *event, const char *plugin)
{
	size_t len;
	const char *json = es_event_json(event, &len);
	char subject[SUBJECT_MAX];
	js_link_subject(l, plugin, subject, sizeof subject);
	natsMsg *msg = NULL;
	if (!json || natsMsg_Create(&msg, subject, NULL, json, (int)len) != NATS_OK)
		return NULL;
	char depth[16];
	snprintf(depth, sizeof depth, "%u", event->depth);
	natsStatus s = natsMsgHeader_Set(msg, "Es-Depth", depth);
	if (s == NATS_OK && event->seq) {
		/* its history key: the node that handles it records against it */
		char seq[24];
		snprintf(seq, sizeof seq, "%" PRIu64, event->seq);
		s = natsMsgHeader_Set(msg, "Es-Seq", seq);
	}
	if (s != NATS_OK) {
		natsMsg_Destroy(msg);
		return NULL;
	}
	return msg;
}

/* Whether to publish now: connected with the streams ready, or
 * reconnecting for less than RECONNECT_GRACE_US (the messages are held by
 * the link until the connection is back, publish_timeout_ms at most: a NATS
 * server that died costs a short delay, not refusals). */
static bool publishable(js_link *l, char *why, size_t why_size)
{
	if (js_link_ready(l, why, why_size))
		return true;
	int64_t since = atomic_load(&l->disconnected_us);
	return since && atomic_load(&l->streams_ready) && clock_monotonic_us() - since < RECONNECT_GRACE_US;
}

static int publish_parts(js_link *l, js_publish *p, es_event *event, const char *const *plugins, size_t count,
                         char *why, size_t why_size)
{
	if (!publishable(l, why, why_size))
		return JS_PUBLISH_UNAVAILABLE;
	atomic_init(&p->remaining, (uint32_t)count + 1); /* +1: ours, until every part is out */
	p->deadline_us = clock_monotonic_us() + (int64_t)l->publish_timeout_ms * 1000;
	atomic_init(&p->status, JS_PUBLISH_STORED);
	for (size_t i = 0; i < count; i++) {
		natsMsg *msg = event_message(l, event, plugins[i]);
		char msg_id[MSG_ID_MAX];
		snprintf(msg_id, sizeof msg_id, "%s.%s", event->id, plugins[i]);
		jsPubOptions po;
		jsPubOptions_Init(&po);
		po.MsgId = msg_id;
		po.MaxWait = l->publish_timeout_ms;
		if (!msg) {
			publish_part_done(p, JS_PUBLISH_UNAVAILABLE, "out of memory");
			continue;
		}
		pthread_mutex_lock(&l->lock);
		if (!atomic_load(&l->connected)) {
			/* Reconnecting: held here, not in the library's reconnect
			 * buffer, so that a publish refused at its deadline is never
			 * stored afterwards (run_retries() sends it once connected). */
			retry_entry *held = malloc(sizeof *held);
			if (held) {
				*held = (retry_entry){msg, p, clock_monotonic_us(), NULL};
				if (l->retries_tail)
					l->retries_tail->next = held;
				else
					l->retries = held;
				l->retries_tail = held;
				pthread_cond_signal(&l->wake);
			}
			pthread_mutex_unlock(&l->lock);
			if (!held) {
				natsMsg_Destroy(msg);
				publish_part_done(p, JS_PUBLISH_UNAVAILABLE, "out of memory");
			}
			continue;
		}
		bool kept = pending_put(l, msg, p);
		pthread_mutex_unlock(&l->lock);
		if (!kept) {
			natsMsg_Destroy(msg);
			atomic_fetch_add(&l->publish_failed_unavailable, 1);
			publish_part_done(p, JS_PUBLISH_UNAVAILABLE, "too many events are waiting for JetStream");
			continue;
		}
		natsMsg *sent = msg;
		natsStatus s = js_PublishMsgAsync(l->js, &sent, &po);
		if (s != NATS_OK) {
			/* not taken: our entry is still there unless the library
			 * answered already */
			pthread_mutex_lock(&l->lock);
			bool ours = pending_take(l, msg) != NULL;
			pthread_mutex_unlock(&l->lock);
			if (ours) {
				natsMsg_Destroy(sent);
				atomic_fetch_add(&l->publish_failed_unavailable, 1);
				char text[200];
				snprintf(text, sizeof text, "JetStream is not taking events (%s)", natsStatus_GetText(s));
				publish_part_done(p, JS_PUBLISH_UNAVAILABLE, text);
			}
		}
	}
	publish_part_done(p, JS_PUBLISH_STORED, ""); /* our own part */
	return JS_PUBLISH_STORED;
}

int js_link_publish(js_link *l, es_event *event, const char *const *plugins, size_t count, struct event_base *base,
                    js_publish_done done, void *arg, char *why, size_t why_size)
{
	js_publish *p = calloc(1, sizeof *p);
	if (p)
		p->wake = event_new(base, -1, 0, on_publish_done, p);
	if (!p || !p->wake) {
		if (p)
			free(p);
		snprintf(why, why_size, "out of memory");
		return JS_PUBLISH_UNAVAILABLE;
	}
	p->done = done;
	p->arg = arg;
	int st = publish_parts(l, p, event, plugins, count, why, why_size);
	if (st != JS_PUBLISH_STORED) {
		atomic_fetch_add(&l->publish_failed_unavailable, 1);
		publish_free(p);
	}
	return st;
}

int js_link_publish_wait(js_link *l, es_event *event, const char *const *plugins, size_t count, char *why,
                         size_t why_size)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond;
	clock_cond_init(&cond);
	bool done = false;
	js_publish *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(why, why_size, "out of memory");
		return JS_PUBLISH_UNAVAILABLE;
	}
	p->wait_lock = &lock;
	p->wait_cond = &cond;
	p->wait_done = &done;
	int st = publish_parts(l, p, event, plugins, count, why, why_size);
	if (st == JS_PUBLISH_STORED) {
		/* Bounded without a deadline of its own: every part has a MaxWait
		 * (the library answers each by then) and js_link_quiesce() answers
		 * whatever is left at a stop.  p cannot be freed before that: a
		 * late answer would find it. */
		pthread_mutex_lock(&lock);
		while (!done)
			clock_cond_wait_us(&cond, &lock, 1000000);
		pthread_mutex_unlock(&lock);
		st = atomic_load(&p->status);
		snprintf(why, why_size, "%s", p->why);
	} else {
		atomic_fetch_add(&l->publish_failed_unavailable, 1);
	}
	free(p);
	pthread_mutex_destroy(&lock);
	pthread_cond_destroy(&cond);
	return st;
}

int js_link_dead_letter(js_link *l, natsMsg *msg, const char *plugin, uint32_t attempts, const char *error)
{
	jsCtx *js = js_link_context(l);
	if (!js)
		return -1;
	char subject[SUBJECT_MAX];
	snprintf(subject, sizeof subject, "%s.dead.%s", l->prefix, plugin);
	natsMsg *dead = NULL;
	if (natsMsg_Create(&dead, subject, NULL, natsMsg_GetData(msg), natsMsg_GetDataLength(msg)) != NATS_OK)
		return -1;
	char n[16];
	snprintf(n, sizeof n, "%u", attempts);
	const char *depth = NULL, *seq = NULL;
	natsMsgHeader_Get(msg, "Es-Depth", &depth);
	natsMsgHeader_Get(msg, "Es-Seq", &seq); /* kept for a replay's outcome */
	natsStatus s = natsMsgHeader_Set(dead, "Es-Plugin", plugin);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(dead, "Es-Attempts", n);
	if (s == NATS_OK && depth)
		s = natsMsgHeader_Set(dead, "Es-Depth", depth);
	if (s == NATS_OK && seq)
		s = natsMsgHeader_Set(dead, "Es-Seq", seq);
	if (s == NATS_OK)
		s = natsMsgHeader_Set(dead, "Es-Error", error && *error ? error : "failed");
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.MaxWait = l->publish_timeout_ms;
	if (s == NATS_OK)
		s = js_PublishMsg(NULL, js, dead, &po, NULL);
	natsMsg_Destroy(dead);
	if (s != NATS_OK)
		return -1;
	atomic_fetch_add(&l->dead_letters, 1);
	return 0;
}

void js_link_metrics_render(js_link *l, struct evbuffer *out)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	bool known = l->stream_known;
	uint64_t msgs = l->stream_msgs, bytes = l->stream_bytes, dead = l->dead_msgs;
	pthread_mutex_unlock(&l->lock);
	prom_text_header(out, "eventsys_jetstream_connected", "gauge",
	                 "Whether the NATS connection is up and the streams ready.");
	evbuffer_add_printf(out, "eventsys_jetstream_connected %d\n",
	                    atomic_load(&l->connected) && atomic_load(&l->streams_ready) ? 1 : 0);
	prom_text_header(out, "eventsys_jetstream_publishes_total", "counter",
	                 "Messages JetStream acknowledged (one per matched plugin).");
	evbuffer_add_printf(out, "eventsys_jetstream_publishes_total %" PRIu64 "\n", atomic_load(&l->published));
	prom_text_header(out, "eventsys_jetstream_publish_duplicates_total", "counter",
	                 "Publishes JetStream had stored already (same event id within the duplicate window).");
	evbuffer_add_printf(out, "eventsys_jetstream_publish_duplicates_total %" PRIu64 "\n",
	                    atomic_load(&l->publish_duplicates));
	prom_text_header(out, "eventsys_jetstream_publish_failures_total", "counter",
	                 "Publishes refused (answered 503), by reason.");
	evbuffer_add_printf(out,
	                    "eventsys_jetstream_publish_failures_total{reason=\"unavailable\"} %" PRIu64 "\n"
	                    "eventsys_jetstream_publish_failures_total{reason=\"full\"} %" PRIu64 "\n",
	                    atomic_load(&l->publish_failed_unavailable), atomic_load(&l->publish_failed_full));
	prom_text_header(out, "eventsys_jetstream_disconnects_total", "counter", "Times the NATS connection was lost.");
	evbuffer_add_printf(out, "eventsys_jetstream_disconnects_total %" PRIu64 "\n", atomic_load(&l->disconnects));
	prom_text_header(out, "eventsys_jetstream_dead_letters_total", "counter",
	                 "Deliveries this node put in the dead-letter stream.");
	evbuffer_add_printf(out, "eventsys_jetstream_dead_letters_total %" PRIu64 "\n", atomic_load(&l->dead_letters));
	if (!known)
		return;
	prom_text_header(out, "eventsys_jetstream_stream_messages", "gauge",
	                 "Messages in the stream (deliveries not yet acknowledged).");
	evbuffer_add_printf(out, "eventsys_jetstream_stream_messages %" PRIu64 "\n", msgs);
	prom_text_header(out, "eventsys_jetstream_stream_bytes", "gauge", "Bytes in the stream.");
	evbuffer_add_printf(out, "eventsys_jetstream_stream_bytes %" PRIu64 "\n", bytes);
	prom_text_header(out, "eventsys_jetstream_dead_letter_messages", "gauge", "Messages in the dead-letter stream.");
	evbuffer_add_printf(out, "eventsys_jetstream_dead_letter_messages %" PRIu64 "\n", dead);
}

#else /* without the NATS client: the config refuses queue.backend jetstream */

js_link *js_link_start(const es_config *config, char *err, size_t err_size)
{
	snprintf(err, err_size, "this build has no NATS client (configure --with-nats)");
	return NULL;
}
void js_link_quiesce(js_link *link, int64_t deadline_us) {}
void js_link_stop(js_link *link) {}
bool js_link_ready(js_link *link, char *why, size_t why_size)
{
	snprintf(why, why_size, "this build has no NATS client");
	return false;
}
int js_link_publish(js_link *link, es_event *event, const char *const *plugins, size_t count,
                    struct event_base *base, js_publish_done done, void *arg, char *why, size_t why_size)
{
	snprintf(why, why_size, "this build has no NATS client");
	return JS_PUBLISH_UNAVAILABLE;
}
int js_link_publish_wait(js_link *link, es_event *event, const char *const *plugins, size_t count, char *why,
                         size_t why_size)
{
	snprintf(why, why_size, "this build has no NATS client");
	return JS_PUBLISH_UNAVAILABLE;
}
void js_link_metrics_render(js_link *link, struct evbuffer *out) {}

#endif
