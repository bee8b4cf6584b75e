/*
 * The child side of an isolated plugin: `event-system --plugin-runner NAME`
 * started by the daemon (isolated_plugin.c) with the channel on file
 * descriptor CHAN_CHILD_FD.
 *
 * It closes every other inherited descriptor, reads CHAN_INIT, applies the
 * limits, loads the plugin file with the daemon's loader and its checks
 * (plugin_image_load: ownership, ELF, ABI), calls init() with a host table
 * whose log, counters and emit go over the channel and whose config getters
 * read a local copy of the plugin's `config:`, then serves one CHAN_EVENTS
 * batch at a time (handle() on each delivery in order; a CHAN_RESULT for
 * each, kept until the batch is done and sent together, the progress page
 * updated as each returns; see isolation_channel.h) until CHAN_SHUTDOWN
 * or the end of the channel, calls
 * shutdown() and exits 0.  Any failure before init() is answered with
 * CHAN_INIT_FAILED.  A plugin that calls exit() inside handle() makes the
 * process exit with PLUGIN_RUNNER_EXIT_IN_HANDLE instead of its status: the
 * daemon counts that as a crash of the delivery.  A fatal signal (SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL, SIGABRT) and exit() inside handle() first send
 * the answers kept so far.
 *
 * Threads: the process's main thread serves the channel.  A plugin's own
 * threads may log and add to counters (their writes are serialised); emit()
 * is served only on the thread running init() or handle(), because only
 * that thread reads the answer.
 */
#ifndef ES_PLUGIN_RUNNER_H
#define ES_PLUGIN_RUNNER_H

/* The child's exit status when the plugin called exit() inside handle(). */
#define PLUGIN_RUNNER_EXIT_IN_HANDLE 70

/* Run the child; returns the process's exit status. */
int plugin_runner_main(void);

#endif
