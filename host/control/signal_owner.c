/*
 * The daemon's signals: see signal_owner.h and docs/configuration.md
 * ("Signals").
 */
#include "config.h"

#include "control/signal_owner.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/reload.h"
#include "util/log.h"

enum phase { PHASE_STARTING, PHASE_RUNNING, PHASE_STOPPING, PHASE_DONE };

struct signal_owner {
	pthread_t thread;
	sigset_t set;          /* SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 */
	pthread_mutex_t lock;  /* guards the fields below */
	enum phase phase;
	es_daemon *daemon;     /* running only */
	struct event_base *base; /* running only */
	int stop_signal;       /* the first SIGTERM/SIGINT; 0: none yet */
	bool reload_pending;   /* a SIGHUP came while starting */
};

static bool is_stop(int sig)
{
	return sig == SIGTERM || sig == SIGINT;
}

/* SIGUSR1/SIGUSR2 mean nothing here, and their default action would end
 * the daemon: a `kill -USR1` meant for another daemon (a logrotate
 * postrotate line copied from one) must not stop a production one. */
static bool is_unused(int sig)
{
	return sig == SIGUSR1 || sig == SIGUSR2;
}

/* With the lock held. */
static void act(signal_owner *so, int sig)
{
	if (is_unused(sig)) {
		if (so->phase != PHASE_DONE)
			LOG_WARN("main", "%s (SIG%s) received: ignored; SIGHUP reloads and reopens, SIGTERM stops",
			         strsignal(sig), sig == SIGUSR1 ? "USR1" : "USR2");
		return;
	}
	switch (so->phase) {
	case PHASE_STARTING:
		if (is_stop(sig) && !so->stop_signal) {
			so->stop_signal = sig;
			LOG_INFO("main", "%s received while starting: stopping once started", strsignal(sig));
		} else if (sig == SIGHUP && !so->stop_signal) {
			so->reload_pending = true;
			LOG_INFO("main", "%s received while starting: reloading once started", strsignal(sig));
		} else {
			LOG_INFO("main", "%s received while starting: ignored, a stop is already asked for", strsignal(sig));
		}
		break;
	case PHASE_RUNNING:
		if (is_stop(sig)) {
			if (!so->stop_signal)
				so->stop_signal = sig;
			event_base_loopexit(so->base, NULL); /* thread-safe: evthread_use_pthreads() came first */
		} else {
			reload_request(so->daemon, "signal SIGHUP");
		}
		break;
	case PHASE_STOPPING:
		LOG_WARN("main", "%s received while stopping: ignored; the queues drain until the shutdown deadline",
		         strsignal(sig));
		break;
	case PHASE_DONE:
		break;
	}
}

static void *take_signals(void *arg)
{
	signal_owner *so = arg;
	for (;;) {
		int sig = sigwaitinfo(&so->set, NULL);
		if (sig < 0)
			continue; /* EINTR */
		pthread_mutex_lock(&so->lock);
		bool done = so->phase == PHASE_DONE;
		if (!done)
			act(so, sig);
		pthread_mutex_unlock(&so->lock);
		if (done)
			return NULL;
	}
}

signal_owner *signal_owner_start(char *err, size_t err_size)
{
	signal_owner *so = calloc(1, sizeof *so);
	if (!so) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	sigemptyset(&so->set);
	sigaddset(&so->set, SIGTERM);
	sigaddset(&so->set, SIGINT);
	sigaddset(&so->set, SIGHUP);
	sigaddset(&so->set, SIGUSR1);
	sigaddset(&so->set, SIGUSR2);
	int rc = pthread_sigmask(SIG_BLOCK, &so->set, NULL);
	if (rc == 0) {
		pthread_mutex_init(&so->lock, NULL);
		so->phase = PHASE_STARTING;
		rc = pthread_create(&so->thread, NULL, take_signals, so);
		if (rc != 0)
			pthread_mutex_destroy(&so->lock);
	}
	if (rc != 0) {
		snprintf(err, err_size, "cannot start the signal thread: %s", strerror(rc));
		free(so);
		return NULL;
	}
	return so;
}

void signal_owner_running(signal_owner *so, es_daemon *daemon, struct event_base *base)
{
	pthread_mutex_lock(&so->lock);
	so->daemon = daemon;
	so->base = base;
	so->phase = PHASE_RUNNING;
	if (so->stop_signal)
		event_base_loopexit(base, NULL);
	else if (so->reload_pending)
		reload_request(daemon, "signal SIGHUP (received while starting)");
	so->reload_pending = false;
	pthread_mutex_unlock(&so->lock);
}

int signal_owner_stopping(signal_owner *so)
{
	pthread_mutex_lock(&so->lock);
	so->phase = PHASE_STOPPING;
	so->daemon = NULL;
	so->base = NULL;
	int sig = so->stop_signal;
	pthread_mutex_unlock(&so->lock);
	return sig;
}

void signal_owner_stop(signal_owner *so)
{
	if (!so)
		return;
	pthread_mutex_lock(&so->lock);
	so->phase = PHASE_DONE;
	pthread_mutex_unlock(&so->lock);
	/* Directed at the thread, which has it blocked: sigwaitinfo() returns. */
	pthread_kill(so->thread, SIGHUP);
	pthread_join(so->thread, NULL);
	pthread_mutex_destroy(&so->lock);
	free(so);
}
