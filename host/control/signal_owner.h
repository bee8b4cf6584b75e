/*
 * The daemon's signals (SIGTERM, SIGINT, SIGHUP; SIGUSR1 and SIGUSR2 are
 * logged and ignored in every phase), owned from the first
 * moment of a run to its last.  signal_owner_start() blocks them in the
 * calling thread before any other thread exists, so every thread inherits
 * the blocked mask and no default action (death) can ever run; one thread of
 * its own takes them with sigwaitinfo() and acts by phase:
 *   starting  SIGTERM/SIGINT: stop once started; SIGHUP: reload once
 *             started (both logged when they arrive)
 *   running   SIGTERM/SIGINT: leave the main loop (stop); SIGHUP: reload
 *   stopping  logged and ignored: the drain ends by its own deadline
 * Ownership: the main thread starts it, moves it through the phases and
 * joins it with signal_owner_stop() before run() returns.  Isolated plugins'
 * processes are spawned with an empty mask (core/isolated_plugin.c).
 */
#ifndef ES_SIGNAL_OWNER_H
#define ES_SIGNAL_OWNER_H

#include <stddef.h>

#include "control/daemon.h"

struct event_base;

typedef struct signal_owner signal_owner;

/* Block the signals and start the thread; NULL (with `err`) when it cannot.
 * Call before any other thread is created. */
signal_owner *signal_owner_start(char *err, size_t err_size);
/* Started: from now a stop signal leaves `base`'s loop and SIGHUP asks
 * `daemon` for a reload.  What came while starting is applied now. */
void signal_owner_running(signal_owner *so, es_daemon *daemon, struct event_base *base);
/* Stopping: from now every signal is logged and ignored.  Returns the
 * signal that asked for the stop (0: none, the loop ended otherwise). */
int signal_owner_stopping(signal_owner *so);
/* Join the thread; the signals stay blocked until the process exits.
 * NULL is ignored. */
void signal_owner_stop(signal_owner *so);

#endif
