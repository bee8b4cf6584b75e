/*
 * systemd integration (Type=notify), through libsystemd when the build has
 * it; otherwise every function does nothing.  Outside systemd
 * ($NOTIFY_SOCKET unset) they do nothing either.
 *   READY=1 after the listeners are bound and the plugins loaded;
 *   RELOADING=1 + MONOTONIC_USEC at the start of a reload, READY=1 after;
 *   STOPPING=1 on shutdown; STATUS= a one-line summary;
 *   WATCHDOG=1 at half of WatchdogSec, from a thread of its own, while the
 *   main loop's heartbeat is recent or the main thread is in a wait with a
 *   deadline of its own (systemd_watchdog_busy_until()).
 * Main thread only (the ping thread is started and joined by
 * systemd_watchdog_start() / _stop()).
 */
#ifndef ES_SYSTEMD_NOTIFY_H
#define ES_SYSTEMD_NOTIFY_H

#include <stdint.h>

struct event_base;

void systemd_notify_ready(const char *status);
void systemd_notify_reloading(void);
void systemd_notify_stopping(void);
/* Start watchdog pings on `base` when the service manager asks for them. */
void systemd_watchdog_start(struct event_base *base);
/* The main thread is about to wait, at most until `deadline_us`
 * (monotonic), without running its loop (a reload waiting for handlers, a
 * retired plugin's drain): the pings go on until then.  0: the wait ended. */
void systemd_watchdog_busy_until(int64_t deadline_us);
/* Stop the pings and join their thread. */
void systemd_watchdog_stop(void);

#endif
