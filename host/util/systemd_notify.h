/*
 * systemd integration (Type=notify), through libsystemd when the build has
 * it; otherwise every function does nothing.  Outside systemd
 * ($NOTIFY_SOCKET unset) they do nothing either.
 *   READY=1 after the listeners are bound and the plugins loaded;
 *   RELOADING=1 + MONOTONIC_USEC at the start of a reload, READY=1 after;
 *   STOPPING=1 on shutdown; STATUS= a one-line summary;
 *   WATCHDOG=1 from the main loop at half of WatchdogSec.
 * Main thread only.
 */
#ifndef ES_SYSTEMD_NOTIFY_H
#define ES_SYSTEMD_NOTIFY_H

struct event_base;

void systemd_notify_ready(const char *status);
void systemd_notify_reloading(void);
void systemd_notify_stopping(void);
/* Start watchdog pings on `base` when the service manager asks for them. */
void systemd_watchdog_start(struct event_base *base);
void systemd_watchdog_stop(void);

#endif
