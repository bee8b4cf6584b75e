/*
 * Crash attribution: when a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGABRT) hits a worker thread inside a plugin's handle(), one line naming
 * the plugin, the event id and the attempt is written to stderr (the log)
 * before the process dies, so the operator knows which plugin and which
 * event took the daemon down.  The handler only uses async-signal-safe
 * calls (write), then puts back the action that was there before (the
 * default, or a sanitizer's) and lets the signal happen again: the process
 * still dies as it would have.
 *
 * Threads: install once from the main thread at start; enter/leave on the
 * worker thread around each handle() (thread-local, no locks).
 */
#ifndef ES_CRASH_REPORT_H
#define ES_CRASH_REPORT_H

#include <stdint.h>

/* Install the handlers.  0, or -1 (logged). */
int crash_report_install(void);
/* The calling thread is about to run `plugin`'s handle() on `event_id`.
 * Both strings must stay valid until crash_report_leave(). */
void crash_report_enter(const char *plugin, const char *event_id, uint32_t attempt);
void crash_report_leave(void);

#endif
