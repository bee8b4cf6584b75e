/*
 * sd_notify(3) calls; see systemd_notify.h.
 */
#include "config.h"

#include "util/systemd_notify.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>

#include "util/clock.h"

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static struct event *watchdog_timer;

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

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

void systemd_watchdog_start(struct event_base *base)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return;
	watchdog_timer = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
	if (!watchdog_timer)
		return;
	struct timeval half = {.tv_sec = (time_t)(usec / 2 / 1000000), .tv_usec = (suseconds_t)(usec / 2 % 1000000)};
	event_add(watchdog_timer, &half);
}

void systemd_watchdog_stop(void)
{
	if (watchdog_timer)
		event_free(watchdog_timer);
	watchdog_timer = NULL;
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

void systemd_watchdog_stop(void)
{
}

#endif
