/*
 * sd_notify(3) calls; see systemd_notify.h.
 */
#include "config.h"

#include "util/systemd_notify.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/clock.h"
#include "util/log.h"

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

void systemd_notify_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void systemd_notify_reloading(void)
{
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lld\nSTATUS=reloading", (long long)clock_monotonic_us());
}

void systemd_notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping: draining queues");
}

/* The watchdog: a thread of its own sends WATCHDOG=1 every half interval
 * while the main loop proves it runs (its heartbeat timer, every quarter
 * interval, is recent) or while the main thread is inside a wait with a
 * deadline of its own (systemd_watchdog_busy_until(): a reload waiting for
 * handlers or a drain).  A main loop that hangs anywhere else stops the
 * pings within three quarters of an interval (one late heartbeat under
 * load is no hang), and systemd restarts the daemon. */
static struct {
	bool running;
	int64_t interval_us;        /* WATCHDOG_USEC */
	struct event *heartbeat;    /* on the main base */
	_Atomic int64_t last_beat_us; /* monotonic; the main loop's last heartbeat */
	_Atomic int64_t busy_until_us; /* monotonic; 0: no bounded wait in progress */
	pthread_t thread;
	pthread_mutex_t lock;       /* guards stop */
	pthread_cond_t wake;
	bool stop;
} watchdog;

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	atomic_store(&watchdog.last_beat_us, clock_monotonic_us());
}

static bool main_loop_alive(int64_t now)
{
	return now - atomic_load(&watchdog.last_beat_us) <= watchdog.interval_us * 3 / 4 ||
	       now <= atomic_load(&watchdog.busy_until_us);
}

static void *ping(void *arg)
{
	pthread_mutex_lock(&watchdog.lock);
	while (!watchdog.stop) {
		if (main_loop_alive(clock_monotonic_us()))
			sd_notify(0, "WATCHDOG=1");
		clock_cond_wait_us(&watchdog.wake, &watchdog.lock, watchdog.interval_us / 2);
	}
	pthread_mutex_unlock(&watchdog.lock);
	return NULL;
}

void systemd_watchdog_start(struct event_base *base)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return;
	watchdog.interval_us = (int64_t)usec;
	atomic_store(&watchdog.last_beat_us, clock_monotonic_us());
	atomic_store(&watchdog.busy_until_us, 0);
	watchdog.heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat, NULL);
	if (!watchdog.heartbeat)
		return;
	struct timeval quarter = {.tv_sec = (time_t)(usec / 4 / 1000000), .tv_usec = (suseconds_t)(usec / 4 % 1000000)};
	event_add(watchdog.heartbeat, &quarter);
	pthread_mutex_init(&watchdog.lock, NULL);
	clock_cond_init(&watchdog.wake);
	watchdog.stop = false;
	if (pthread_create(&watchdog.thread, NULL, ping, NULL) != 0) {
		LOG_ERROR("main", "cannot start the watchdog thread: no WATCHDOG=1 pings (systemd will restart the daemon)");
		pthread_cond_destroy(&watchdog.wake);
		pthread_mutex_destroy(&watchdog.lock);
		return;
	}
	watchdog.running = true;
}

void systemd_watchdog_busy_until(int64_t deadline_us)
{
	atomic_store(&watchdog.busy_until_us, deadline_us);
}

void systemd_watchdog_stop(void)
{
	if (watchdog.running) {
		pthread_mutex_lock(&watchdog.lock);
		watchdog.stop = true;
		pthread_cond_signal(&watchdog.wake);
		pthread_mutex_unlock(&watchdog.lock);
		pthread_join(watchdog.thread, NULL);
		pthread_cond_destroy(&watchdog.wake);
		pthread_mutex_destroy(&watchdog.lock);
		watchdog.running = false;
	}
	if (watchdog.heartbeat)
		event_free(watchdog.heartbeat);
	watchdog.heartbeat = NULL;
}

#else

void systemd_notify_ready(const char *status)
{
	(void)status;
}

void systemd_notify_reloading(void)
{
}

void systemd_notify_stopping(void)
{
}

void systemd_watchdog_start(struct event_base *base)
{
	(void)base;
}

void systemd_watchdog_busy_until(int64_t deadline_us)
{
	(void)deadline_us;
}

void systemd_watchdog_stop(void)
{
}

#endif
