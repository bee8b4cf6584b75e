/*
 * Crash attribution (see crash_report.h).
 */
#include "config.h"

#include "core/crash_report.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define FATAL_COUNT (sizeof fatal_signals / sizeof fatal_signals[0])
static struct sigaction previous[FATAL_COUNT];

/* What this thread is running; read by the handler on the same thread.
 * initial-exec: the main program's thread-locals need no allocation when
 * first touched, so reading them in a signal handler is safe. */
static _Thread_local const char *current_plugin __attribute__((tls_model("initial-exec")));
static _Thread_local const char *current_event __attribute__((tls_model("initial-exec")));
static _Thread_local uint32_t current_attempt __attribute__((tls_model("initial-exec")));

void crash_report_enter(const char *plugin, const char *event_id, uint32_t attempt)
{
	current_event = event_id;
	current_attempt = attempt;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	current_plugin = plugin;
}

void crash_report_leave(void)
{
	current_plugin = NULL;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	current_event = NULL;
}

/* ---- async-signal-safe line building ---- */

static size_t put(char *buf, size_t len, size_t cap, const char *s)
{
	while (s && *s && len + 1 < cap)
		buf[len++] = *s++;
	return len;
}

static size_t put_uint(char *buf, size_t len, size_t cap, uint64_t v)
{
	char digits[24];
	size_t n = 0;
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < sizeof digits);
	while (n && len + 1 < cap)
		buf[len++] = digits[--n];
	return len;
}

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV:
		return "SIGSEGV";
	case SIGBUS:
		return "SIGBUS";
	case SIGFPE:
		return "SIGFPE";
	case SIGILL:
		return "SIGILL";
	case SIGABRT:
		return "SIGABRT";
	default:
		return "a fatal signal";
	}
}

static void on_fatal_signal(int sig, siginfo_t *info, void *uctx)
{
	int saved_errno = errno;
	const char *plugin = current_plugin;
	if (plugin) {
		char line[512];
		size_t n = 0;
		n = put(line, n, sizeof line, "event-system: fatal ");
		n = put(line, n, sizeof line, signal_name(sig));
		n = put(line, n, sizeof line, " in plugin '");
		n = put(line, n, sizeof line, plugin);
		n = put(line, n, sizeof line, "' handling event ");
		n = put(line, n, sizeof line, current_event ? current_event : "(unknown)");
		n = put(line, n, sizeof line, " (attempt ");
		n = put_uint(line, n, sizeof line, current_attempt);
		n = put(line, n, sizeof line, "): the daemon stops\n");
		ssize_t ignored = write(STDERR_FILENO, line, n);
		(void)ignored;
		current_plugin = NULL; /* one line, even if the signal comes again */
	}
	/* Put back what was there (the default action, or a sanitizer's
	 * report) and let the signal happen again: a fault re-executes the
	 * faulting instruction, a raised signal is raised once more. */
	for (size_t i = 0; i < FATAL_COUNT; i++)
		if (fatal_signals[i] == sig)
			sigaction(sig, &previous[i], NULL);
	if (info->si_code <= 0) /* sent (kill, raise, abort), not a fault */
		raise(sig);
	errno = saved_errno;
	(void)uctx;
}

int crash_report_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fatal_signal;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < FATAL_COUNT; i++) {
		if (sigaction(fatal_signals[i], &sa, &previous[i]) != 0) {
			LOG_ERROR("host", "cannot install the crash report for signal %d: %s", fatal_signals[i],
			          strerror(errno));
			return -1;
		}
	}
	return 0;
}
