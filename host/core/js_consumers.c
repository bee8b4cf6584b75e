/*
 * JetStream consumers and their pullers: see js_consumers.h.
 *
 * Locks: `set.lock` guards the list of pullers (the main thread changes
 * it, /metrics reads it); `puller.lock` guards one puller's deliveries in
 * flight (the in-progress list) and its cached consumer state.  A puller's
 * lock is never held while the set's is taken.
 */
#include "config.h"

#include "core/js_consumers.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/plugin_instance.h"
#include "core/worker_pool.h"
#include "model/delivery_outcome.h"
#include "model/trigger_parse.h"
#include "util/log.h"
#include "util/prom_text.h"

#ifdef HAVE_NATS


#define FETCH_MAX 64
#define FETCH_WAIT_MS 500
#define STATE_REFRESH_US 2000000
#define PREPARE_WAIT_MS 5000 /* one JetStream API call of a reload */

typedef struct puller puller;

/* One message handed to the pool: the event's origin. */
typedef struct js_delivery {
	es_event_origin origin;
	natsMsg *msg;
	puller *owner; /* a reference */
	bool settled;  /* under owner->lock */
	struct js_delivery *prev, *next; /* in flight, under owner->lock */
} js_delivery;

struct puller {
	atomic_uint refs; /* the set's, and one per delivery in flight */
	js_link *link;
	plugin_instance *instance; /* a reference */
	char name[65];
	char subject[200];
	uint32_t max_attempts;
	int64_t ack_wait_us;
	pthread_t thread;
	atomic_bool stop;

	pthread_mutex_t lock;
	js_delivery *inflight; /* unsettled deliveries, for in-progress */
	int64_t pending, ack_pending, redelivered; /* the consumer's, cached */
	bool state_known;

	_Atomic uint64_t fetched, acked, naked, terminated;
	puller *next_in_set;

	/* A message is acknowledged through the subscription it came from
	 * (the NATS client reads msg->sub when it acks), so a subscription
	 * must outlive every delivery pulled through it: the one in use, and
	 * those given up after a lost binding (`retired`), are destroyed only
	 * once no delivery is left (the last reference, or the puller thread
	 * seeing none in flight).  The puller thread owns them while it runs,
	 * the last reference after. */
	natsSubscription *sub;
	natsSubscription *retired[4];
	size_t retired_count;
};

static void destroy_retired(puller *p)
{
	for (size_t i = 0; i < p->retired_count; i++)
		natsSubscription_Destroy(p->retired[i]);
	p->retired_count = 0;
}

struct js_consumers {
	js_link *link;
	pthread_mutex_t lock;
	puller *pullers;
};

static void puller_unref(puller *p)
{
	if (atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	/* no delivery is left: their subscriptions can go */
	destroy_retired(p);
	natsSubscription_Destroy(p->sub);
	plugin_instance_unref(p->instance);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* ---- a delivery's origin ---- */

static void unlink_delivery(puller *p, js_delivery *d)
{
	if (d->prev)
		d->prev->next = d->next;
	else
		p->inflight = d->next;
	if (d->next)
		d->next->prev = d->prev;
	d->prev = d->next = NULL;
}

static void delivery_settle(es_event_origin *origin, int outcome, uint64_t retry_delay_us, const char *error)
{
	js_delivery *d = (js_delivery *)origin;
	puller *p = d->owner;
	pthread_mutex_lock(&p->lock);
	bool first = !d->settled;
	if (first) {
		d->settled = true;
		unlink_delivery(p, d);
	}
	pthread_mutex_unlock(&p->lock);
	if (!first)
		return;
	switch ((delivery_outcome)outcome) {
	case DELIVERY_OK:
		natsMsg_Ack(d->msg, NULL);
		atomic_fetch_add_explicit(&p->acked, 1, memory_order_relaxed);
		break;
	case DELIVERY_RETRYING:
		/* the next attempt, on whichever node pulls it after the delay */
		natsMsg_NakWithDelay(d->msg, (int64_t)(retry_delay_us / 1000), NULL);
		atomic_fetch_add_explicit(&p->naked, 1, memory_order_relaxed);
		break;
	default:
		if (js_link_dead_letter(p->link, d->msg, p->name, d->origin.attempt, error) == 0) {
			natsMsg_Term(d->msg, NULL);
			atomic_fetch_add_explicit(&p->terminated, 1, memory_order_relaxed);
		} else {
			LOG_ERROR(p->name, "cannot store a dead letter in JetStream: the delivery is given back to be tried again");
			natsMsg_NakWithDelay(d->msg, 1000, NULL);
			atomic_fetch_add_explicit(&p->naked, 1, memory_order_relaxed);
		}
		break;
	}
}

/* The event is freed: a delivery never settled (the pool stopped, or the
 * event was refused) is given back at once. */
static void delivery_release(es_event_origin *origin)
{
	js_delivery *d = (js_delivery *)origin;
	puller *p = d->owner;
	pthread_mutex_lock(&p->lock);
	bool unsettled = !d->settled;
	if (unsettled) {
		d->settled = true;
		unlink_delivery(p, d);
	}
	pthread_mutex_unlock(&p->lock);
	if (unsettled) {
		natsMsg_Nak(d->msg, NULL);
		atomic_fetch_add_explicit(&p->naked, 1, memory_order_relaxed);
	}
	natsMsg_Destroy(d->msg);
	free(d);
	puller_unref(p);
}

/* ---- pulling ---- */

/* A message that cannot become an event, or that was delivered more often
 * than the plugin's attempts (its handlers died with their nodes): into
 * the dead letters. */
static void dead_letter_now(puller *p, natsMsg *msg, uint32_t attempt, const char *why)
{
	LOG_WARN(p->name, "delivery %u of a message dead-lettered without running: %s", attempt, why);
	if (js_link_dead_letter(p->link, msg, p->name, attempt, why) == 0) {
		natsMsg_Term(msg, NULL);
		atomic_fetch_add_explicit(&p->terminated, 1, memory_order_relaxed);
	} else {
		natsMsg_NakWithDelay(msg, 1000, NULL);
	}
	natsMsg_Destroy(msg);
}

/* Hand `msg` to the pool in a slot already reserved; false when the slot
 * was not used (the caller gives it back). */
static bool take_message(puller *p, natsMsg *msg)
{
	atomic_fetch_add_explicit(&p->fetched, 1, memory_order_relaxed);
	jsMsgMetaData *meta = NULL;
	uint32_t attempt = 1;
	if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
		attempt = meta->NumDelivered > UINT32_MAX ? UINT32_MAX : (uint32_t)meta->NumDelivered;
		jsMsgMetaData_Destroy(meta);
	}
	if (attempt > p->max_attempts) {
		char why[120];
		snprintf(why, sizeof why, "delivered %u times without a final outcome (the nodes handling it stopped)",
		         attempt);
		dead_letter_now(p, msg, attempt, why);
		return false;
	}
	trigger_parsed parsed;
	memset(&parsed, 0, sizeof parsed);
	char err[256];
	if (trigger_parse_host_written(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &parsed, err,
	                               sizeof err) != 0) {
		trigger_parsed_free(&parsed);
		dead_letter_now(p, msg, attempt, err);
		return false;
	}
	const char *depth = NULL;
	if (natsMsgHeader_Get(msg, "Es-Depth", &depth) == NATS_OK && depth)
		parsed.fields.depth = (uint32_t)strtoul(depth, NULL, 10);
	/* The accepting node's history key (none when it records no history):
	 * this node's outcomes are recorded against it. */
	const char *seq = NULL;
	if (natsMsgHeader_Get(msg, "Es-Seq", &seq) == NATS_OK && seq)
		parsed.fields.seq = strtoull(seq, NULL, 10);
	js_delivery *d = calloc(1, sizeof *d);
	if (!d) {
		trigger_parsed_free(&parsed);
		natsMsg_Nak(msg, NULL);
		natsMsg_Destroy(msg);
		return false;
	}
	d->origin = (es_event_origin){.attempt = attempt, .settle = delivery_settle, .release = delivery_release};
	d->msg = msg;
	d->owner = p;
	parsed.fields.origin = &d->origin;
	es_event *event = es_event_create(&parsed.fields);
	trigger_parsed_free(&parsed);
	if (!event) {
		free(d);
		natsMsg_Nak(msg, NULL);
		natsMsg_Destroy(msg);
		return false;
	}
	event->stored = event->seq != 0; /* its row is the accepting node's: outcomes only */
	atomic_fetch_add(&p->refs, 1); /* the delivery's */
	pthread_mutex_lock(&p->lock);
	d->next = p->inflight;
	if (d->next)
		d->next->prev = d;
	p->inflight = d;
	pthread_mutex_unlock(&p->lock);
	worker_pool_push_reserved_adopt(plugin_instance_pool(p->instance), &event, 1); /* our reference */
	plugin_instance_note_accepted(p->instance);
	return true;
}

/* Long handlers and deliveries waiting for a worker keep their messages. */
static void keep_alive(puller *p)
{
	pthread_mutex_lock(&p->lock);
	for (js_delivery *d = p->inflight; d; d = d->next)
		natsMsg_InProgress(d->msg, NULL);
	pthread_mutex_unlock(&p->lock);
}

static void refresh_state(puller *p, jsCtx *js)
{
	jsConsumerInfo *ci = NULL;
	jsOptions o;
	jsOptions_Init(&o);
	o.Wait = 2000;
	if (js_GetConsumerInfo(&ci, js, js_link_stream(p->link), p->name, &o, NULL) != NATS_OK)
		return;
	pthread_mutex_lock(&p->lock);
	p->pending = (int64_t)ci->NumPending;
	p->ack_pending = ci->NumAckPending;
	p->redelivered = ci->NumRedelivered;
	p->state_known = true;
	pthread_mutex_unlock(&p->lock);
	jsConsumerInfo_Destroy(ci);
}

/* The durable consumer for this plugin, created or brought to the
 * plugin's policy, and a pull subscription bound to it.  NULL (logged once
 * per failure streak by the caller) when JetStream refuses. */
/* A plugin's consumer settings: the ack wait twice its timeout_ms (at
 * least 2 s), max deliver max_attempts + 1 (js_consumers.h). */
static int64_t ack_wait_us_of(const plugin_policy *policy)
{
	int64_t us = (int64_t)policy->timeout_ms * 2000;
	return us < 2000000 ? 2000000 : us;
}

static void consumer_config(jsConsumerConfig *cc, const char *name, const char *subject, const plugin_policy *policy)
{
	jsConsumerConfig_Init(cc);
	cc->Durable = name;
	cc->Description = "event-system deliveries of one plugin";
	cc->AckPolicy = js_AckExplicit;
	cc->AckWait = ack_wait_us_of(policy) * 1000;
	cc->MaxDeliver = (int64_t)policy->max_attempts + 1;
	cc->MaxAckPending = -1;
	cc->FilterSubject = subject;
	cc->DeliverPolicy = js_DeliverAll;
}

/* Create the durable consumer, or bring an existing one to `cc`. */
static natsStatus ensure_consumer(jsCtx *js, const char *stream, jsConsumerConfig *cc, jsOptions *opts,
                                  char *why, size_t why_size)
{
	jsErrCode jerr = 0;
	jsConsumerInfo *ci = NULL;
	natsStatus s = js_AddConsumer(&ci, js, stream, cc, opts, &jerr);
	if (s != NATS_OK)
		s = js_UpdateConsumer(&ci, js, stream, cc, opts, &jerr);
	jsConsumerInfo_Destroy(ci);
	if (s != NATS_OK)
		snprintf(why, why_size, "cannot create or update the JetStream consumer %s: %s (error %d)", cc->Durable,
		         nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(s), (int)jerr);
	return s;
}

static natsSubscription *bind_consumer(puller *p, jsCtx *js, const plugin_policy *policy, char *why, size_t why_size)
{
	jsConsumerConfig cc;
	consumer_config(&cc, p->name, p->subject, policy);
	jsErrCode jerr = 0;
	natsStatus s = ensure_consumer(js, js_link_stream(p->link), &cc, NULL, why, why_size);
	if (s != NATS_OK)
		return NULL;
	jsSubOptions so;
	jsSubOptions_Init(&so);
	so.Stream = js_link_stream(p->link);
	so.Consumer = p->name; /* bind: the subscription never deletes the shared consumer */
	so.ManualAck = true;
	natsSubscription *sub = NULL;
	s = js_PullSubscribe(&sub, js, p->subject, p->name, NULL, &so, &jerr);
	if (s != NATS_OK) {
		snprintf(why, why_size, "cannot pull from the JetStream consumer %s: %s", p->name, natsStatus_GetText(s));
		return NULL;
	}
	return sub;
}

static void *puller_main(void *arg)
{
	puller *p = arg;
	worker_pool *pool = plugin_instance_pool(p->instance);
	const plugin_policy *policy = plugin_instance_policy(p->instance);
	bool failing = false;
	int64_t next_keep_alive = 0, next_refresh = 0;
	while (!atomic_load(&p->stop)) {
		jsCtx *js = js_link_context(p->link);
		int64_t now = clock_monotonic_us();
		/* only the set's reference left: no delivery of a retired
		 * subscription is alive any more */
		if (p->retired_count && atomic_load(&p->refs) == 1)
			destroy_retired(p);
		if (!js) {
			struct timespec ts = {0, 100L * 1000 * 1000};
			nanosleep(&ts, NULL);
			continue;
		}
		if (!p->sub) {
			char why[300];
			p->sub = bind_consumer(p, js, policy, why, sizeof why);
			if (!p->sub) {
				if (!failing)
					LOG_ERROR(p->name, "%s; retrying", why);
				failing = true;
				struct timespec ts = {0, 500L * 1000 * 1000};
				nanosleep(&ts, NULL);
				continue;
			}
			if (failing)
				LOG_INFO(p->name, "pulling from the JetStream consumer %s again", p->name);
			failing = false;
		}
		if (now >= next_keep_alive) {
			keep_alive(p);
			next_keep_alive = now + p->ack_wait_us / 3;
		}
		if (now >= next_refresh) {
			refresh_state(p, js);
			next_refresh = now + STATE_REFRESH_US;
		}
		/* Pull only what the pool has room for: the backlog stays in JetStream. */
		int room = 0;
		while (room < FETCH_MAX && worker_pool_try_reserve(pool, false))
			room++;
		if (room == 0) {
			struct timespec ts = {0, 5L * 1000 * 1000};
			nanosleep(&ts, NULL);
			continue;
		}
		natsMsgList list = {0};
		natsStatus s = natsSubscription_Fetch(&list, p->sub, room, FETCH_WAIT_MS, NULL);
		int used = 0;
		if (s == NATS_OK) {
			for (int i = 0; i < list.Count; i++) {
				natsMsg *msg = list.Msgs[i];
				list.Msgs[i] = NULL; /* ours now */
				if (take_message(p, msg))
					used++;
			}
		}
		natsMsgList_Destroy(&list);
		for (int i = used; i < room; i++)
			worker_pool_unreserve(pool);
		if (s != NATS_OK && s != NATS_TIMEOUT && !atomic_load(&p->stop)) {
			/* the connection went, or the consumer was deleted: bind
			 * again, keeping the old subscription for the deliveries
			 * still holding its messages (with no room to keep it, the
			 * binding is tried again once they are settled) */
			if (p->retired_count < sizeof p->retired / sizeof p->retired[0]) {
				p->retired[p->retired_count++] = p->sub;
				p->sub = NULL;
			}
			struct timespec ts = {0, 100L * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	/* p->sub and the retired ones go with the last reference */
	return NULL;
}

static puller *puller_start(js_link *link, plugin_instance *instance)
{
	puller *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	atomic_init(&p->refs, 1);
	p->link = link;
	plugin_instance_ref(instance);
	p->instance = instance;
	snprintf(p->name, sizeof p->name, "%s", plugin_instance_name(instance));
	js_link_subject(link, p->name, p->subject, sizeof p->subject);
	const plugin_policy *policy = plugin_instance_policy(instance);
	p->max_attempts = policy->max_attempts;
	p->ack_wait_us = ack_wait_us_of(policy);
	pthread_mutex_init(&p->lock, NULL);
	if (pthread_create(&p->thread, NULL, puller_main, p) != 0) {
		LOG_ERROR(p->name, "cannot start the JetStream puller thread");
		puller_unref(p);
		return NULL;
	}
	char thread_name[16];
	snprintf(thread_name, sizeof thread_name, "es-js-%.9s", p->name);
	pthread_setname_np(p->thread, thread_name);
	return p;
}

static void puller_stop(puller *p)
{
	atomic_store(&p->stop, true);
	pthread_join(p->thread, NULL); /* a fetch waits FETCH_WAIT_MS at most */
	puller_unref(p);
}

js_consumers *js_consumers_create(js_link *link)
{
	js_consumers *set = calloc(1, sizeof *set);
	if (!set)
		return NULL;
	set->link = link;
	pthread_mutex_init(&set->lock, NULL);
	return set;
}

/* What js_consumers_prepare() did to one consumer, to undo it. */
typedef struct prepared {
	char name[65];
	bool created;                /* it did not exist: delete it */
	jsConsumerInfo *before;      /* it existed: these were its settings */
} prepared;

/* Whether a puller of this node has the consumer of `inst`'s plugin with
 * `inst`'s settings already (the same instance, or one replaced for another
 * reason than its timeout_ms or max_attempts: a subscription change). */
static bool consumer_current(js_consumers *set, const plugin_instance *inst)
{
	const plugin_policy *policy = plugin_instance_policy(inst);
	const char *name = plugin_instance_name(inst);
	pthread_mutex_lock(&set->lock);
	bool have = false;
	for (puller *p = set->pullers; p && !have; p = p->next_in_set)
		have = p->instance == inst || (strcmp(p->name, name) == 0 && p->max_attempts == policy->max_attempts &&
		                               p->ack_wait_us == ack_wait_us_of(policy));
	pthread_mutex_unlock(&set->lock);
	return have;
}

static void undo_prepared(jsCtx *js, const char *stream, prepared *done, size_t n, jsOptions *opts)
{
	for (size_t i = 0; i < n; i++) {
		jsErrCode jerr = 0;
		if (done[i].created) {
			if (js_DeleteConsumer(js, stream, done[i].name, opts, &jerr) != NATS_OK)
				LOG_WARN("reload", "the JetStream consumer %s created for the failed reload could not be deleted",
				         done[i].name);
		} else if (done[i].before) {
			jsConsumerInfo *ci = NULL;
			if (js_UpdateConsumer(&ci, js, stream, done[i].before->Config, opts, &jerr) != NATS_OK)
				LOG_WARN("reload", "the JetStream consumer %s keeps the settings of the failed reload",
				         done[i].name);
			jsConsumerInfo_Destroy(ci);
		}
		jsConsumerInfo_Destroy(done[i].before);
	}
}

int js_consumers_prepare(js_consumers *set, plugin_instance *const *instances, size_t count, char *why,
                         size_t why_size)
{
	if (!set || count == 0)
		return 0;
	prepared *done = calloc(count, sizeof *done);
	if (!done) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	const char *stream = js_link_stream(set->link);
	jsOptions opts;
	jsOptions_Init(&opts);
	opts.Wait = PREPARE_WAIT_MS;
	size_t n = 0;
	int rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		if (consumer_current(set, instances[i]))
			continue;
		jsCtx *js = js_link_context(set->link);
		const char *name = plugin_instance_name(instances[i]);
		if (!js) {
			char link_why[256];
			js_link_ready(set->link, link_why, sizeof link_why);
			snprintf(why, why_size, "the JetStream consumer of plugin '%s' cannot be created or updated: %s", name,
			         link_why);
			rc = -1;
			break;
		}
		prepared *d = &done[n];
		snprintf(d->name, sizeof d->name, "%s", name);
		jsErrCode jerr = 0;
		natsStatus s = js_GetConsumerInfo(&d->before, js, stream, name, &opts, &jerr);
		if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr) {
			d->created = true;
		} else if (s != NATS_OK) {
			snprintf(why, why_size, "the JetStream consumer of plugin '%s' cannot be read: %s", name,
			         nats_GetLastError(NULL) ? nats_GetLastError(NULL) : natsStatus_GetText(s));
			rc = -1;
			break;
		}
		char subject[200];
		js_link_subject(set->link, name, subject, sizeof subject);
		jsConsumerConfig cc;
		consumer_config(&cc, name, subject, plugin_instance_policy(instances[i]));
		if (ensure_consumer(js, stream, &cc, &opts, why, why_size) != NATS_OK) {
			/* nothing was changed for this one */
			jsConsumerInfo_Destroy(d->before);
			d->before = NULL;
			rc = -1;
			break;
		}
		n++;
	}
	jsCtx *js = js_link_context(set->link);
	if (rc != 0 && js)
		undo_prepared(js, stream, done, n, &opts);
	else
		for (size_t i = 0; i < n; i++)
			jsConsumerInfo_Destroy(done[i].before);
	free(done);
	return rc;
}

void js_consumers_follow(js_consumers *set, const routing_table *table)
{
	if (!set)
		return;
	size_t n = routing_table_size(table);
	/* Stop the pullers whose instance left the table. */
	pthread_mutex_lock(&set->lock);
	puller **link = &set->pullers, *gone = NULL;
	while (*link) {
		puller *p = *link;
		bool kept = false;
		for (size_t i = 0; i < n && !kept; i++)
			kept = routing_table_instance(table, i) == p->instance;
		if (kept) {
			link = &p->next_in_set;
		} else {
			*link = p->next_in_set;
			p->next_in_set = gone;
			gone = p;
		}
	}
	pthread_mutex_unlock(&set->lock);
	while (gone) {
		puller *next = gone->next_in_set;
		LOG_INFO(gone->name, "no longer pulling from JetStream on this node");
		puller_stop(gone);
		gone = next;
	}
	/* Start one for each new instance. */
	for (size_t i = 0; i < n; i++) {
		plugin_instance *inst = routing_table_instance(table, i);
		pthread_mutex_lock(&set->lock);
		bool have = false;
		for (puller *p = set->pullers; p && !have; p = p->next_in_set)
			have = p->instance == inst;
		pthread_mutex_unlock(&set->lock);
		if (have)
			continue;
		puller *p = puller_start(set->link, inst);
		if (!p)
			continue;
		pthread_mutex_lock(&set->lock);
		p->next_in_set = set->pullers;
		set->pullers = p;
		pthread_mutex_unlock(&set->lock);
	}
}

void js_consumers_stop(js_consumers *set)
{
	if (!set)
		return;
	pthread_mutex_lock(&set->lock);
	puller *p = set->pullers;
	set->pullers = NULL;
	pthread_mutex_unlock(&set->lock);
	for (puller *q = p; q; q = q->next_in_set)
		atomic_store(&q->stop, true); /* all at once: each join then waits one fetch at most */
	while (p) {
		puller *next = p->next_in_set;
		puller_stop(p);
		p = next;
	}
	pthread_mutex_destroy(&set->lock);
	free(set);
}

void js_consumers_metrics_render(js_consumers *set, struct evbuffer *out)
{
	if (!set)
		return;
	static const struct {
		const char *name, *type, *help;
	} families[] = {
		{"eventsys_jetstream_consumer_pending", "gauge", "Deliveries of the plugin waiting in JetStream (its lag)."},
		{"eventsys_jetstream_consumer_ack_pending", "gauge",
		 "Deliveries of the plugin handed out and not yet acknowledged (every node)."},
		{"eventsys_jetstream_consumer_redelivered", "gauge", "Deliveries of the plugin handed out more than once."},
		{"eventsys_jetstream_pulled_total", "counter", "Messages this node pulled for the plugin."},
		{"eventsys_jetstream_acks_total", "counter", "Acknowledgements this node sent, by kind.",},
	};
	pthread_mutex_lock(&set->lock);
	for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
		prom_text_header(out, families[f].name, families[f].type, families[f].help);
		for (puller *p = set->pullers; p; p = p->next_in_set) {
			pthread_mutex_lock(&p->lock);
			bool known = p->state_known;
			int64_t v[3] = {p->pending, p->ack_pending, p->redelivered};
			pthread_mutex_unlock(&p->lock);
			char plugin[160];
			prom_text_label(plugin, sizeof plugin, "plugin", p->name);
			const char *name = families[f].name;
			if (f < 3 && known)
				evbuffer_add_printf(out, "%s{%s} %" PRId64 "\n", name, plugin, v[f]);
			else if (f == 3)
				evbuffer_add_printf(out, "%s{%s} %" PRIu64 "\n", name, plugin, atomic_load(&p->fetched));
			else if (f == 4)
				evbuffer_add_printf(out,
				                    "%s{%s,kind=\"ack\"} %" PRIu64 "\n%s{%s,kind=\"nak\"} %" PRIu64
				                    "\n%s{%s,kind=\"term\"} %" PRIu64 "\n",
				                    name, plugin, atomic_load(&p->acked), name, plugin, atomic_load(&p->naked), name,
				                    plugin, atomic_load(&p->terminated));
		}
	}
	pthread_mutex_unlock(&set->lock);
}

#else /* without the NATS client */

js_consumers *js_consumers_create(js_link *link) { return NULL; }
int js_consumers_prepare(js_consumers *set, plugin_instance *const *instances, size_t count, char *why,
                         size_t why_size)
{
	return 0;
}
void js_consumers_follow(js_consumers *set, const routing_table *table) {}
void js_consumers_stop(js_consumers *set) {}
void js_consumers_metrics_render(js_consumers *set, struct evbuffer *out) {}

#endif
