/*
 * Delivery watches: see delivery_watch.h.  `lock` guards the outcomes and
 * `closed`; the libevent events belong to the HTTP thread and are only
 * activated (thread-safe) by workers while the watch is open.
 */
#include "config.h"

#include "core/delivery_watch.h"

#include "util/refcount.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct delivery_watch {
	refcount refs;
	pthread_mutex_t lock;
	bool armed, closed, fired;
	size_t expected;    /* plugins armed */
	size_t finished;    /* final outcomes recorded among them */
	size_t count, capacity;
	watch_outcome *outcomes;
	struct event *wake;    /* activated when complete */
	struct event *timeout; /* added by delivery_watch_bind() */
	uint32_t timeout_ms;
	void (*done)(delivery_watch *, bool, void *);
	void *arg;
};

static void fire(delivery_watch *w, bool timed_out)
{
	if (w->fired)
		return;
	w->fired = true;
	w->done(w, timed_out, w->arg);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	fire(arg, false);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	fire(arg, true);
}

delivery_watch *delivery_watch_create(struct event_base *base, uint32_t timeout_ms,
                                      void (*done)(delivery_watch *, bool, void *), void *arg)
{
	delivery_watch *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->wake = event_new(base, -1, 0, on_wake, w);
	w->timeout = evtimer_new(base, on_timeout, w);
	if (!w->wake || !w->timeout) {
		if (w->wake)
			event_free(w->wake);
		if (w->timeout)
			event_free(w->timeout);
		free(w);
		return NULL;
	}
	refcount_init(&w->refs);
	pthread_mutex_init(&w->lock, NULL);
	w->done = done;
	w->arg = arg;
	w->timeout_ms = timeout_ms;
	return w;
}

bool delivery_watch_bind(delivery_watch *w, size_t table_size)
{
	size_t capacity = table_size ? table_size : 1;
	watch_outcome *outcomes = calloc(capacity, sizeof *outcomes);
	if (!outcomes)
		return false;
	/* Before dispatch no worker knows the event yet: nothing recorded. */
	pthread_mutex_lock(&w->lock);
	free(w->outcomes);
	w->outcomes = outcomes;
	w->capacity = capacity;
	w->count = 0;
	pthread_mutex_unlock(&w->lock);
	/* The wait for outcomes starts now: a durable event's store before it
	 * has its own bound (the database's timeouts), and a watch that fired
	 * while its event was still being stored would be freed under it. */
	struct timeval tv = {.tv_sec = w->timeout_ms / 1000, .tv_usec = (suseconds_t)(w->timeout_ms % 1000) * 1000};
	evtimer_add(w->timeout, &tv);
	return true;
}

void delivery_watch_ref(delivery_watch *w)
{
	refcount_get(&w->refs);
}

void delivery_watch_unref(delivery_watch *w)
{
	if (!refcount_put(&w->refs))
		return;
	pthread_mutex_destroy(&w->lock);
	free(w->outcomes);
	free(w);
}

/* The slot for `plugin`, added when new; NULL when full.  Under lock. */
static watch_outcome *slot(delivery_watch *w, const char *plugin)
{
	for (size_t i = 0; i < w->count; i++)
		if (strcmp(w->outcomes[i].plugin, plugin) == 0)
			return &w->outcomes[i];
	if (w->count == w->capacity)
		return NULL;
	watch_outcome *o = &w->outcomes[w->count++];
	snprintf(o->plugin, sizeof o->plugin, "%s", plugin);
	o->status = "pending";
	return o;
}

/* Wake the HTTP thread once everything armed is final.  Under lock. */
static void maybe_complete(delivery_watch *w)
{
	if (w->armed && !w->closed && w->finished >= w->expected)
		event_active(w->wake, EV_READ, 0);
}

void delivery_watch_arm(delivery_watch *w, const char *const *names, size_t count)
{
	pthread_mutex_lock(&w->lock);
	/* Cannot happen when bound to the dispatching table (every target is
	 * one of its plugins); never index past the outcomes if it does. */
	if (count > w->capacity)
		count = w->capacity;
	/* Put the armed plugins first, in dispatch order. */
	for (size_t i = 0; i < count; i++) {
		watch_outcome *o = slot(w, names[i]);
		if (o && o != &w->outcomes[i]) {
			watch_outcome t = w->outcomes[i];
			w->outcomes[i] = *o;
			*o = t;
		}
	}
	w->expected = count;
	w->armed = true;
	maybe_complete(w);
	pthread_mutex_unlock(&w->lock);
}

void delivery_watch_record(delivery_watch *w, const char *plugin, delivery_outcome outcome, uint32_t attempts,
                           bool timed_out, const char *error)
{
	if (outcome == DELIVERY_RETRYING)
		return; /* not final */
	pthread_mutex_lock(&w->lock);
	watch_outcome *o = w->closed ? NULL : slot(w, plugin);
	if (o && strcmp(o->status, "pending") == 0) {
		o->status = outcome == DELIVERY_OK ? "ok" : outcome == DELIVERY_DEAD ? "failed" : "undelivered";
		o->attempts = attempts;
		o->timed_out = timed_out;
		snprintf(o->error, sizeof o->error, "%s", error && outcome != DELIVERY_OK ? error : "");
		w->finished++;
		maybe_complete(w);
	}
	pthread_mutex_unlock(&w->lock);
}

size_t delivery_watch_outcomes(delivery_watch *w, const watch_outcome **outcomes)
{
	pthread_mutex_lock(&w->lock);
	w->closed = true; /* frozen: late outcomes are ignored from now on */
	size_t n = w->expected;
	*outcomes = w->outcomes;
	pthread_mutex_unlock(&w->lock);
	return n;
}

typedef struct watch_list {
	delivery_watch **items;
	size_t count, capacity;
	bool out_of_memory;
} watch_list;

/* event_base_foreach_event() callback: collect the watches (by their
 * timeout event, the one added while a watch waits). */
static int collect_waiting(const struct event_base *base, const struct event *ev, void *arg)
{
	watch_list *l = arg;
	if (event_get_callback(ev) != on_timeout)
		return 0;
	if (l->count == l->capacity) {
		size_t capacity = l->capacity ? l->capacity * 2 : 16;
		delivery_watch **items = realloc(l->items, capacity * sizeof *items);
		if (!items) {
			l->out_of_memory = true;
			return 1; /* stop here; the rest are taken on the next round */
		}
		l->items = items;
		l->capacity = capacity;
	}
	l->items[l->count++] = event_get_callback_arg(ev);
	return 0;
}

size_t delivery_watch_expire_all(struct event_base *base)
{
	size_t answered = 0;
	bool again = true;
	/* Events must not be changed while the base is walked: collect first.
	 * done() closes each watch, which removes its timeout event. */
	while (again) {
		watch_list l = {0};
		event_base_foreach_event(base, collect_waiting, &l);
		for (size_t i = 0; i < l.count; i++) {
			delivery_watch *w = l.items[i];
			pthread_mutex_lock(&w->lock);
			bool complete = w->armed && w->finished >= w->expected;
			pthread_mutex_unlock(&w->lock);
			if (!w->fired) {
				fire(w, !complete);
				answered++;
			}
		}
		again = l.out_of_memory && l.count > 0;
		free(l.items);
	}
	return answered;
}

void delivery_watch_close(delivery_watch *w)
{
	pthread_mutex_lock(&w->lock);
	w->closed = true; /* no worker activates `wake` after this */
	w->fired = true;
	pthread_mutex_unlock(&w->lock);
	event_free(w->wake);
	event_free(w->timeout);
	w->wake = w->timeout = NULL;
	delivery_watch_unref(w);
}
