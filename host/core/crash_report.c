/*
 * Crash attribution (see crash_report.h).
 */
#include "config.h"

#include "core/crash_report.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/crash_file.h"
#include "util/log.h"

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define FATAL_COUNT (sizeof fatal_signals / sizeof fatal_signals[0])
static struct sigaction previous[FATAL_COUNT];

/* Set once at install, before any worker exists; read by the handler. */
static char crash_file_path[4096];

/* The first thread to fault writes the crash file; one faulting at the
 * same time waits for it (up to a second) before dying, so the file is
 * whole. */
static atomic_int recording = 0;   /* 0 free, 1 being written, 2 written */

/* What this thread is running; read by the handler on the same thread.
 * initial-exec: the main program's thread-locals need no allocation when
 * first touched, so reading them in a signal handler is safe. */
static _Thread_local const crash_site *current_site __attribute__((tls_model("initial-exec")));
static _Thread_local const char *current_event __attribute__((tls_model("initial-exec")));
static _Thread_local const char *current_call __attribute__((tls_model("initial-exec")));
static _Thread_local uint64_t current_seq __attribute__((tls_model("initial-exec")));
static _Thread_local uint32_t current_attempt __attribute__((tls_model("initial-exec")));
static _Thread_local void *alt_stack __attribute__((tls_model("initial-exec")));
static _Thread_local stack_t alt_previous __attribute__((tls_model("initial-exec")));

/* Large enough for the handler, backtrace() and a sanitizer's own frames. */
#define ALT_STACK_SIZE ((size_t)128 * 1024)

void crash_report_enter(const crash_site *site, const char *event_id, uint64_t seq, uint32_t attempt)
{
	current_event = event_id;
	current_call = NULL;
	current_seq = seq;
	current_attempt = attempt;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	current_site = site;
}

void crash_report_enter_call(const crash_site *site, const char *call)
{
	current_event = NULL;
	current_call = call;
	current_seq = 0;
	current_attempt = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	current_site = site;
}

void crash_report_leave(void)
{
	current_site = NULL;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	current_event = NULL;
}

void crash_report_thread_start(void)
{
	void *mem = mmap(NULL, ALT_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (mem == MAP_FAILED)
		return;
	stack_t ss = {.ss_sp = mem, .ss_size = ALT_STACK_SIZE, .ss_flags = 0};
	if (sigaltstack(&ss, &alt_previous) != 0) {
		munmap(mem, ALT_STACK_SIZE);
		return;
	}
	alt_stack = mem;
}

void crash_report_thread_end(void)
{
	if (!alt_stack)
		return;
	/* Put back what the thread had (a sanitizer's stack, or none). */
	stack_t none = {.ss_flags = SS_DISABLE};
	sigaltstack(alt_previous.ss_sp ? &alt_previous : &none, NULL);
	munmap(alt_stack, ALT_STACK_SIZE);
	alt_stack = NULL;
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

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* The crash file (format: crash_file.h).  open, write, fsync, close. */
static void record_crash(int sig)
{
	if (!crash_file_path[0])
		return;
	int expected = 0;
	if (!atomic_compare_exchange_strong(&recording, &expected, 1)) {
		/* Another thread faulted first: let it finish its file. */
		struct timespec tick = {0, 10000000L}; /* 10 ms */
		for (int i = 0; i < 100 && atomic_load(&recording) == 1; i++)
			nanosleep(&tick, NULL);
		return;
	}
	char rec[1024];
	size_t n = 0;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	n = put(rec, n, sizeof rec, CRASH_FILE_MAGIC "\nsignal ");
	n = put(rec, n, sizeof rec, crash_signal_name(sig));
	n = put(rec, n, sizeof rec, "\nplugin ");
	n = put(rec, n, sizeof rec, current_site->plugin);
	n = put(rec, n, sizeof rec, "\nfile ");
	n = put(rec, n, sizeof rec, current_site->file_id && *current_site->file_id ? current_site->file_id : "-");
	n = put(rec, n, sizeof rec, "\nevent ");
	n = crash_escape(rec, n, sizeof rec, current_event);
	n = put(rec, n, sizeof rec, "\nseq ");
	n = put_uint(rec, n, sizeof rec, current_seq);
	n = put(rec, n, sizeof rec, "\nattempt ");
	n = put_uint(rec, n, sizeof rec, current_attempt);
	n = put(rec, n, sizeof rec, "\ntime_us ");
	n = put_uint(rec, n, sizeof rec, (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_nsec / 1000u);
	n = put(rec, n, sizeof rec, "\npid ");
	n = put_uint(rec, n, sizeof rec, (uint64_t)getpid());
	n = put(rec, n, sizeof rec, "\n" CRASH_FILE_END "\n");
	int fd = open(crash_file_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd >= 0) {
		write_all(fd, rec, n);
		fsync(fd);
		close(fd);
	}
	atomic_store(&recording, 2);
}

static void on_fatal_signal(int sig, siginfo_t *info, void *uctx)
{
	int saved_errno = errno;
	const crash_site *site = current_site;
	if (site) {
		current_site = NULL; /* once, even if the signal comes again */
		char line[512];
		size_t n = 0;
		n = put(line, n, sizeof line, "event-system: fatal ");
		n = put(line, n, sizeof line, crash_signal_name(sig));
		n = put(line, n, sizeof line, " in plugin '");
		n = put(line, n, sizeof line, site->plugin);
		if (current_call) {
			n = put(line, n, sizeof line, "' in ");
			n = put(line, n, sizeof line, current_call);
		} else {
			n = put(line, n, sizeof line, "' handling event ");
			n = put(line, n, sizeof line, current_event ? current_event : "(unknown)");
			n = put(line, n, sizeof line, " (attempt ");
			n = put_uint(line, n, sizeof line, current_attempt);
			n = put(line, n, sizeof line, ")");
		}
		n = put(line, n, sizeof line, ": the daemon stops; backtrace:\n");
		write_all(STDERR_FILENO, line, n);
		void *frames[64];
		int depth = backtrace(frames, 64);
		backtrace_symbols_fd(frames, depth, STDERR_FILENO);
		current_site = site; /* record_crash() reads it */
		record_crash(sig);
		current_site = NULL;
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

int crash_report_install(const char *crash_file)
{
	snprintf(crash_file_path, sizeof crash_file_path, "%s", crash_file ? crash_file : "");
	/* The first backtrace() loads libgcc's unwinder (dlopen, malloc): do
	 * it now, never for the first time inside the handler. */
	void *warm[2];
	(void)backtrace(warm, 2);
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
