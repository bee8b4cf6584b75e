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
#include <sys/syscall.h>
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

/* What a thread is running: its own handler reads it, and so does the
 * handler of another thread that received a signal this process sent to
 * itself (kill(getpid(), ...) lands on any thread), hence the atomics.
 * initial-exec: the main program's thread-locals need no allocation when
 * first touched, so reading them in a signal handler is safe. */
typedef struct thread_report {
	_Atomic(const crash_site *) site;
	_Atomic(const char *) event;
	_Atomic(const char *) call;
	_Atomic uint64_t seq;
	_Atomic uint32_t attempt;
	pid_t tid;
} thread_report;
static _Thread_local thread_report me __attribute__((tls_model("initial-exec")));
static _Thread_local int my_slot __attribute__((tls_model("initial-exec"))); /* 1-based; 0: none */
static _Thread_local void *alt_stack __attribute__((tls_model("initial-exec")));
static _Thread_local stack_t alt_previous __attribute__((tls_model("initial-exec")));

/* The worker threads (crash_report_thread_start), so a signal the process
 * sent itself can be handed to the one that is in a plugin call. */
#define THREAD_SLOTS 1024
static _Atomic(thread_report *) threads[THREAD_SLOTS];
/* Set once a sent signal was handed to a worker: whoever gets it next
 * without being in a plugin call dies of it, no second hand-over. */
static atomic_int handed_over = 0;
/* Threads writing a report now: a thread about to die of a signal it
 * cannot attribute waits (a second at most) for them, or the process would
 * die with their crash file half written. */
static atomic_int reports_running = 0;

/* Large enough for the handler, backtrace() and a sanitizer's own frames. */
#define ALT_STACK_SIZE ((size_t)128 * 1024)

void crash_report_enter(const crash_site *site, const char *event_id, uint64_t seq, uint32_t attempt)
{
	atomic_store_explicit(&me.event, event_id, memory_order_relaxed);
	atomic_store_explicit(&me.call, NULL, memory_order_relaxed);
	atomic_store_explicit(&me.seq, seq, memory_order_relaxed);
	atomic_store_explicit(&me.attempt, attempt, memory_order_relaxed);
	atomic_store_explicit(&me.site, site, memory_order_release);
}

void crash_report_enter_call(const crash_site *site, const char *call)
{
	atomic_store_explicit(&me.event, NULL, memory_order_relaxed);
	atomic_store_explicit(&me.call, call, memory_order_relaxed);
	atomic_store_explicit(&me.seq, 0, memory_order_relaxed);
	atomic_store_explicit(&me.attempt, 0, memory_order_relaxed);
	atomic_store_explicit(&me.site, site, memory_order_release);
}

void crash_report_leave(void)
{
	atomic_store_explicit(&me.site, NULL, memory_order_release);
	atomic_store_explicit(&me.event, NULL, memory_order_relaxed);
}

void crash_report_thread_start(void)
{
	me.tid = gettid();
	for (int i = 0; i < THREAD_SLOTS && !my_slot; i++) {
		thread_report *none = NULL;
		if (atomic_compare_exchange_strong(&threads[i], &none, &me))
			my_slot = i + 1;
	}
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
	if (my_slot) {
		atomic_store(&threads[my_slot - 1], NULL);
		my_slot = 0;
	}
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

/* A snapshot of what a thread ran when the signal came. */
typedef struct report_site {
	const crash_site *site;
	const char *event, *call;
	uint64_t seq;
	uint32_t attempt;
} report_site;

static report_site snapshot(thread_report *t)
{
	report_site s;
	s.site = atomic_load_explicit(&t->site, memory_order_acquire);
	s.event = atomic_load_explicit(&t->event, memory_order_relaxed);
	s.call = atomic_load_explicit(&t->call, memory_order_relaxed);
	s.seq = atomic_load_explicit(&t->seq, memory_order_relaxed);
	s.attempt = atomic_load_explicit(&t->attempt, memory_order_relaxed);
	return s;
}

/* The crash file (format: crash_file.h).  open, write, fsync, close. */
static void record_crash(int sig, const report_site *s)
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
	char rec[CRASH_FILE_MAX];
	size_t n = 0;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	n = put(rec, n, sizeof rec, CRASH_FILE_MAGIC "\nsignal ");
	n = crash_escape(rec, n, sizeof rec, crash_signal_name(sig));
	n = put(rec, n, sizeof rec, "\nplugin ");
	n = put(rec, n, sizeof rec, s->site->plugin);
	n = put(rec, n, sizeof rec, "\nfile ");
	n = crash_escape(rec, n, sizeof rec, s->site->file_id);
	n = put(rec, n, sizeof rec, "\nevent ");
	n = crash_escape(rec, n, sizeof rec, s->event);
	n = put(rec, n, sizeof rec, "\nseq ");
	n = put_uint(rec, n, sizeof rec, s->seq);
	n = put(rec, n, sizeof rec, "\nattempt ");
	n = put_uint(rec, n, sizeof rec, s->attempt);
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

/* The log line and the crash file for a fatal signal in `s`. */
static void report(int sig, const report_site *s)
{
	char line[1024];
	size_t n = 0;
	n = put(line, n, sizeof line, "event-system: fatal ");
	n = put(line, n, sizeof line, crash_signal_name(sig));
	n = put(line, n, sizeof line, " in plugin '");
	n = put(line, n, sizeof line, s->site->plugin);
	if (s->call) {
		n = put(line, n, sizeof line, "' in ");
		n = put(line, n, sizeof line, s->call);
	} else {
		n = put(line, n, sizeof line, "' handling event ");
		/* the client's id, escaped: a newline in it must not forge log lines */
		n = s->event ? crash_escape(line, n, sizeof line, s->event) : put(line, n, sizeof line, "(unknown)");
		n = put(line, n, sizeof line, " (attempt ");
		n = put_uint(line, n, sizeof line, s->attempt);
		n = put(line, n, sizeof line, ")");
	}
	n = put(line, n, sizeof line, ": the daemon stops; backtrace:\n");
	write_all(STDERR_FILENO, line, n);
	void *frames[64];
	int depth = backtrace(frames, 64);
	backtrace_symbols_fd(frames, depth, STDERR_FILENO);
	record_crash(sig, s);
	atomic_fetch_sub(&reports_running, 1);
}

/* A signal this process sent itself (kill(getpid(), ...)) reached a thread
 * that is not in a plugin call: the kernel picks any thread for it.  When
 * exactly one worker is in a plugin call, that call sent it: hand the
 * signal to its thread, which reports it with its own backtrace.  true when
 * handed over (this thread goes on until that one ends the process).  With
 * several in plugin calls, which one sent it is unknown: they are named in
 * the log, nothing is recorded. */
static bool hand_over(int sig)
{
	if (atomic_load(&handed_over))
		return false;
	thread_report *in_plugin = NULL;
	size_t count = 0;
	for (int i = 0; i < THREAD_SLOTS; i++) {
		thread_report *t = atomic_load(&threads[i]);
		if (t && t != &me && atomic_load_explicit(&t->site, memory_order_acquire)) {
			in_plugin = t;
			count++;
		}
	}
	if (count == 1) {
		atomic_store(&handed_over, 1);
		if (syscall(SYS_tgkill, getpid(), in_plugin->tid, sig) == 0)
			return true;
		return false;
	}
	if (count == 0)
		return false;
	char line[1024];
	size_t n = put(line, 0, sizeof line, "event-system: fatal ");
	n = put(line, n, sizeof line, crash_signal_name(sig));
	n = put(line, n, sizeof line, " sent by the process itself while several plugins were in a call, not attributed:");
	for (int i = 0; i < THREAD_SLOTS; i++) {
		thread_report *t = atomic_load(&threads[i]);
		if (!t || t == &me)
			continue;
		report_site s = snapshot(t);
		if (!s.site)
			continue;
		n = put(line, n, sizeof line, " '");
		n = put(line, n, sizeof line, s.site->plugin);
		n = put(line, n, sizeof line, "'");
	}
	n = put(line, n, sizeof line, "\n");
	write_all(STDERR_FILENO, line, n);
	return false;
}

static void on_fatal_signal(int sig, siginfo_t *info, void *uctx)
{
	int saved_errno = errno;
	report_site s = snapshot(&me);
	/* sent (kill, raise, abort), not a fault */
	bool sent = info->si_code <= 0;
	if (s.site) {
		atomic_fetch_add(&reports_running, 1); /* before the site goes: hand_over() sees one or the other */
		atomic_store(&me.site, NULL);          /* once, even if the signal comes again */
		report(sig, &s);
	} else if (sent && info->si_pid == getpid() && hand_over(sig)) {
		errno = saved_errno;
		return;
	} else {
		struct timespec tick = {0, 10000000L}; /* 10 ms */
		for (int i = 0; i < 100 && atomic_load(&reports_running) > 0; i++)
			nanosleep(&tick, NULL);
	}
	/* Put back what was there (the default action, or a sanitizer's
	 * report) and let the signal happen again: a fault re-executes the
	 * faulting instruction, a raised signal is raised once more. */
	for (size_t i = 0; i < FATAL_COUNT; i++)
		if (fatal_signals[i] == sig)
			sigaction(sig, &previous[i], NULL);
	if (sent)
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
