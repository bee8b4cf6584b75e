/*
 * Crash attribution: when a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGABRT) hits a worker thread inside a plugin's handle(), the host
 *   - writes one line naming the signal, the plugin, the event id and the
 *     attempt to stderr (the log), followed by a backtrace;
 *   - records the crash in the crash file (crash_file.h) with open(),
 *     write() and fsync() only, so the next start knows which plugin and
 *     which event took the daemon down (crash_ledger.h reads it).
 * The handler uses async-signal-safe calls only (backtrace() is warmed up
 * at install, so libgcc is loaded before any fault), then puts back the
 * action that was there before (the default, or a sanitizer's) and lets the
 * signal happen again: the process still dies as it would have.
 *
 * Worker threads run with an alternate signal stack of their own
 * (crash_report_thread_start), so a plugin that overflows its stack is
 * attributed too.
 *
 * A signal is attributed whatever its origin: a fault, raise() on the
 * worker's own thread, or kill(getpid(), ...), which the kernel may hand to
 * any thread.  A thread that receives a signal this process sent itself
 * while it is in no plugin call hands it to the worker that is (with
 * tgkill, so the report has that worker's backtrace) when exactly one is;
 * when several are, which one sent it is unknown: the log names them and
 * nothing is recorded.  A signal sent by another process is not a plugin's.
 * A thread that dies of a signal it cannot attribute first waits (up to a
 * second) for a report another thread is writing.
 *
 * Threads: install once from the main thread at start; thread_start/end on
 * each worker thread (it registers the thread for hand-overs); enter/leave
 * on the worker thread around each handle() (thread-local atomics, no
 * locks).
 */
#ifndef ES_CRASH_REPORT_H
#define ES_CRASH_REPORT_H

#include <stdint.h>

/* What the handler says about the plugin a thread runs.  Owned by the
 * plugin instance; must outlive every enter/leave pair that names it. */
typedef struct crash_site {
	const char *plugin;  /* its name */
	const char *file_id; /* the identity of its file (crash_file_identity()) */
} crash_site;

/* Install the handlers.  `crash_file`: where a crash is recorded (copied;
 * NULL or "": only the log line).  0, or -1 (logged). */
int crash_report_install(const char *crash_file);

/* On a worker thread, before its first handle() and before it returns:
 * give it (and take back) an alternate signal stack of its own.  A thread
 * that could not get one is still attributed, except for a stack overflow. */
void crash_report_thread_start(void);
void crash_report_thread_end(void);

/* The calling thread is about to run `site`'s handle() on the event with
 * `event_id` (its database key `seq`, 0 when none).  `site` and `event_id`
 * must stay valid until crash_report_leave(). */
void crash_report_enter(const crash_site *site, const char *event_id, uint64_t seq, uint32_t attempt);
void crash_report_leave(void);
/* The calling thread is about to run `site`'s `call` ("init()",
 * "reopen()", "shutdown()", "handle_batch() of several events": a literal)
 * with no event; crash_report_leave()
 * after it.  A crash is recorded with event "-" and attempt 0. */
void crash_report_enter_call(const crash_site *site, const char *call);

#endif
