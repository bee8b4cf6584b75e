/* Test plugin: writes through an invalid pointer (a real SIGSEGV, not one a
 * sanitizer's null check stops first) when it handles an event named
 * crash.*; crash.overflow instead recurses until its stack overflows;
 * crash.exit calls exit(0); crash.kill sends SIGSEGV to its own process
 * (kill(getpid())) and crash.raise to its own thread (raise());
 * crash.kill_blocked sends it to its process while blocking it in its own
 * thread, so another thread receives it.
 * crash.abort calls abort(); crash.sigkill sends SIGKILL to its own
 * process (nothing of the process runs after it: what an out-of-memory
 * kill looks like).
 * crash.until faults while the delivery's attempt is below
 * config.crash_until_attempt (default 1: never), then records the event
 * with the time as the client wrote it (or "-").  Events named slow.* take
 * 300 ms (so that others queue up behind them).  Other events are handled
 * normally.  With config crash_in_init: true init() faults instead. */
#include "test_plugin.h"

#include <pthread.h>
#include <signal.h>

/* Each frame keeps a page of its own alive, so the guard page comes soon.
 * The depth check never stops it (no stack is that deep); it keeps the
 * compiler from calling the recursion infinite. */
static int __attribute__((noinline)) overflow(volatile char *previous, unsigned long depth)
{
	volatile char page[4096];
	page[0] = previous ? previous[0] : 1;
	if (depth > (1ul << 40))
		return 0;
	return overflow(page, depth + 1) + page[4095];
}

static int64_t crash_until_attempt = 1; /* config, read by init() */

static es_result crash_handle(void *state, const es_event *event, char *err, size_t err_size)
{
	tp_state *st = state;
	const char *name = st->host->event_name(event);
	if (strcmp(name, "crash.until") == 0) {
		if ((int64_t)st->host->delivery_attempt(event) >= crash_until_attempt) {
			const char *when = st->host->event_time_text(event);
			tp_record(st, event, when ? when : "-");
			return ES_OK;
		}
	}
	if (strcmp(name, "crash.overflow") == 0)
		overflow(NULL, 0);
	if (strcmp(name, "crash.exit") == 0)
		exit(0); /* "nothing wrong": a plugin ending its process its own way */
	if (strncmp(name, "slow.", 5) == 0)
		tp_sleep_ms(300);
	if (strcmp(name, "crash.kill") == 0)
		kill(getpid(), SIGSEGV);
	if (strcmp(name, "crash.raise") == 0)
		raise(SIGSEGV);
	if (strcmp(name, "crash.abort") == 0)
		abort();
	if (strcmp(name, "crash.sigkill") == 0)
		kill(getpid(), SIGKILL);
	if (strcmp(name, "crash.kill_blocked") == 0) {
		/* with SIGSEGV blocked here, the kernel must give the process's
		 * signal to another thread */
		sigset_t segv, old;
		sigemptyset(&segv);
		sigaddset(&segv, SIGSEGV);
		pthread_sigmask(SIG_BLOCK, &segv, &old);
		kill(getpid(), SIGSEGV);
		tp_sleep_ms(200);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		tp_sleep_ms(5000); /* the host ends the process meanwhile */
	}
	if (strncmp(name, "crash.", 6) == 0) {
		volatile uintptr_t nowhere = 16; /* the first page is never mapped */
		*(volatile int *)nowhere = 1;
	}
	tp_record(st, event, "ok");
	return ES_OK;
}
static es_status crash_init(es_plugin_ctx *ctx, const es_host_api *host, void **state)
{
	int in_init = 0;
	if (host->config_bool(ctx, "crash_in_init", &in_init) == ES_STATUS_OK && in_init) {
		volatile uintptr_t nowhere = 16;
		*(volatile int *)nowhere = 1;
	}
	host->config_int(ctx, "crash_until_attempt", &crash_until_attempt);
	return tp_init(ctx, host, state);
}
static const char *const subs[] = {"**", NULL};
ES_PLUGIN_DEFINE(.name = "crash", .version = "0.1.0", .default_subscriptions = subs, .init = crash_init,
                 .handle = crash_handle, .shutdown = tp_shutdown);
