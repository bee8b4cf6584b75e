/*
 * The isolated plugin's child process; see the header.  One plugin per
 * process, so its state lives in one static struct.
 */
#define _GNU_SOURCE
#include "config.h"

#include "core/plugin_runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/host_api.h"
#include "core/isolation_channel.h"
#include "core/plugin_instance.h"
#include "core/plugin_loader.h"
#include "core/refusal_summary.h"
#include "model/es_event.h"
#include "util/log.h"

/* Frames from the daemon carry an event of at most event.max_event_size
 * and its attributes; the daemon says how large in CHAN_INIT. */
#define INIT_FRAME_MAX (16u << 20)
/* Room for the answers kept until a batch is done; a fuller buffer is sent
 * before the next answer goes in.  Fixed (never reallocated), so the
 * fatal-signal handler can send it whatever the thread it interrupted. */
#define ANSWER_SPACE (64u << 10)
/* How long the fatal-signal handler waits for a send in progress on
 * another thread, and for room in the socket. */
#define FLUSH_ON_SIGNAL_WAIT_MS 1000

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define FATAL_COUNT (sizeof fatal_signals / sizeof fatal_signals[0])
static struct sigaction previous_actions[FATAL_COUNT];

static struct runner {
	int fd;
	chan_in in;
	pthread_mutex_t send_lock; /* the plugin's own threads may log */
	pthread_t serving;         /* the thread that reads the channel */
	char *name;
	ynode *config;
	plugin_image *image;
	const es_plugin_descriptor *desc; /* the image's checked copy */
	/* An instance of the plugin in this process, never started: it holds
	 * the plugin's config for the host table's config getters, which read
	 * it through the context (ctx.instance). */
	plugin_instance *local;
	void *state;
	uint32_t attempt; /* of the delivery being handled */
	size_t max_event_size; /* event.max_event_size, from CHAN_INIT */
	atomic_bool in_handle; /* the serving thread is inside handle() */
	/* A handle_batch() call: its events and their attempts (serving thread) */
	const es_event *const *call_events;
	const uint32_t *call_attempts;
	uint32_t call_count;
	struct es_plugin_ctx ctx;
	es_host_api table;
	/* The answers not sent yet (under send_lock): whole frames up to
	 * `answers_ready` bytes, which the fatal-signal handler reads. */
	chan_msg answers;
	_Atomic size_t answers_ready;
	/* Someone writes to the channel now: a sender (under send_lock) or the
	 * fatal-signal handler, which takes no lock; whoever sets it first
	 * writes, so frames never interleave. */
	atomic_bool writing;
	chan_progress *progress; /* shared with the daemon; NULL when not mapped */
} runner = {.fd = CHAN_CHILD_FD, .send_lock = PTHREAD_MUTEX_INITIALIZER};

static unsigned char answer_space[ANSWER_SPACE];

static void claim_writing(void)
{
	bool expected = false;
	while (!atomic_compare_exchange_weak(&runner.writing, &expected, true)) {
		expected = false;
		sched_yield();
	}
}

/* Send the kept answers.  Under send_lock, with `writing` claimed. */
static void flush_answers_locked(void)
{
	if (runner.answers.len == 0)
		return;
	(void)chan_send(runner.fd, &runner.answers, -1);
	runner.answers.len = 0;
	runner.answers.frame_at = 0;
	atomic_store(&runner.answers_ready, 0);
}

static void flush_answers(void)
{
	pthread_mutex_lock(&runner.send_lock);
	claim_writing();
	flush_answers_locked();
	atomic_store(&runner.writing, false);
	pthread_mutex_unlock(&runner.send_lock);
}

/* Send under the lock, after the kept answers (the daemon reads them in
 * order, and serves an emit for the first delivery without an answer); a
 * failure means the daemon is gone: nothing to do but end, which the
 * serving loop does when its next read fails. */
static void send_msg(chan_msg *m)
{
	pthread_mutex_lock(&runner.send_lock);
	claim_writing();
	flush_answers_locked();
	(void)chan_send(runner.fd, m, -1);
	atomic_store(&runner.writing, false);
	pthread_mutex_unlock(&runner.send_lock);
}

/* ---- dying with answers kept ---- */

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
	nanosleep(&ts, NULL);
}

/* Async-signal-safe: send the kept answers, waiting (bounded) for a send
 * on another thread to end and for room in the socket. */
static void flush_answers_from_signal(void)
{
	bool expected = false;
	int waited_ms = 0;
	while (!atomic_compare_exchange_strong(&runner.writing, &expected, true)) {
		expected = false;
		if (waited_ms++ >= FLUSH_ON_SIGNAL_WAIT_MS)
			return; /* lost: the daemon reads the progress page instead */
		sleep_ms(1);
	}
	size_t len = atomic_load(&runner.answers_ready), off = 0;
	int waits = 0;
	while (off < len) {
		ssize_t n = send(runner.fd, answer_space + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		struct pollfd pfd = {.fd = runner.fd, .events = POLLOUT};
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && waits++ < FLUSH_ON_SIGNAL_WAIT_MS / 10 &&
		    poll(&pfd, 1, 10) >= 0)
			continue;
		break;
	}
	atomic_store(&runner.answers_ready, 0);
	/* `writing` stays claimed: nothing else is sent by a dying process */
}

/* A fatal signal: the answers kept for the daemon go out first (it names
 * the crash's event by the first delivery without an answer), then the
 * signal happens as it would have (the default action or a sanitizer's
 * report), so the daemon sees how the process ended. */
static void on_fatal_signal(int sig, siginfo_t *info, void *uctx)
{
	(void)uctx;
	int saved_errno = errno;
	flush_answers_from_signal();
	for (size_t i = 0; i < FATAL_COUNT; i++)
		if (fatal_signals[i] == sig)
			sigaction(sig, &previous_actions[i], NULL);
	if (info->si_code <= 0) /* sent (kill, raise, abort), not a fault: send it again */
		raise(sig);
	errno = saved_errno;
}

/* The handlers run on a stack of their own, so a plugin that overflows
 * its stack still gets its answers sent. */
static void install_fatal_signal_handlers(void)
{
	static unsigned char alt_stack[64u << 10];
	stack_t ss = {.ss_sp = alt_stack, .ss_size = sizeof alt_stack};
	(void)sigaltstack(&ss, NULL);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fatal_signal;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < FATAL_COUNT; i++)
		(void)sigaction(fatal_signals[i], &sa, &previous_actions[i]);
}

/* The daemon's progress page (isolation_channel.h), or NULL. */
static chan_progress *map_progress(void)
{
	if (fcntl(CHAN_CHILD_PROGRESS_FD, F_GETFD) < 0)
		return NULL;
	void *p = mmap(NULL, sizeof(chan_progress), PROT_READ | PROT_WRITE, MAP_SHARED, CHAN_CHILD_PROGRESS_FD, 0);
	close(CHAN_CHILD_PROGRESS_FD);
	return p == MAP_FAILED ? NULL : p;
}

/* handle() of the delivery with request id `tag` (or the batch call that
 * held it, the last) returned: before its answer is even kept. */
static void note_returned(uint64_t tag)
{
	if (runner.progress)
		atomic_store_explicit(&runner.progress->returned_tag, tag, memory_order_release);
}

static void child_log(es_plugin_ctx *ctx, es_log_level level, const char *fmt, ...)
{
	(void)ctx;
	log_level l = level <= ES_LOG_DEBUG ? (log_level)level : LOG_LEVEL_DEBUG;
	if (!log_enabled(l))
		return;
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	chan_msg m = {0};
	chan_msg_begin(&m, CHAN_LOG);
	chan_put_u8(&m, (uint8_t)l);
	chan_put_cstr(&m, line);
	send_msg(&m);
	chan_msg_free(&m);
}

/* The plugin's own message for one line of ours (setup failures). */
static void runner_log(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void runner_log(log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	chan_msg m = {0};
	chan_msg_begin(&m, CHAN_LOG);
	chan_put_u8(&m, (uint8_t)level);
	chan_put_cstr(&m, line);
	send_msg(&m);
	chan_msg_free(&m);
}

static uint32_t child_delivery_attempt(const es_event *event)
{
	for (uint32_t i = 0; i < runner.call_count; i++)
		if (runner.call_events[i] == event)
			return runner.call_attempts[i];
	return runner.attempt;
}

static const char *child_plugin_name(es_plugin_ctx *ctx)
{
	(void)ctx;
	return runner.name;
}

/* The 1.1 functions that need the daemon, past the child's struct_size: a
 * plugin that calls them without ES_HOST_HAS() gets a refusal (and one log
 * line each), not the in-process function with no daemon behind it (whose
 * emit_event() faulted on the child's missing router).  `said`: the
 * caller's once-flag, set by the first call. */
static void child_needs_daemon(es_plugin_ctx *ctx, const char *function, atomic_bool *said)
{
	if (!atomic_exchange(said, true))
		child_log(ctx, ES_LOG_ERROR,
		          "%s() is not offered to an isolated plugin (its host table is ABI 1.0: check ES_HOST_HAS()); "
		          "refused",
		          function);
}

static es_status child_emit_event(es_plugin_ctx *ctx, const es_emit *emit)
{
	(void)emit;
	static atomic_bool said;
	child_needs_daemon(ctx, "emit_event", &said);
	return ES_STATUS_ERROR;
}

static void child_gauge_set(es_plugin_ctx *ctx, const char *name, int64_t value)
{
	(void)name;
	(void)value;
	static atomic_bool said;
	child_needs_daemon(ctx, "gauge_set", &said);
}

static es_status child_delivery_complete(es_delivery *delivery, es_result result, const char *reason)
{
	(void)delivery;
	(void)result;
	(void)reason;
	static atomic_bool said;
	child_needs_daemon(&runner.ctx, "delivery_complete", &said);
	return ES_STATUS_ERROR;
}

static void child_counter_add(es_plugin_ctx *ctx, const char *name, uint64_t delta)
{
	(void)ctx;
	/* a name that long is no counter name (the daemon refuses it) and the
	 * frame must fit what the daemon reads from a child */
	if (!name || !*name || strlen(name) > CHAN_CHILD_FRAME_SLACK / 2)
		return;
	chan_msg m = {0};
	chan_msg_begin(&m, CHAN_COUNTER);
	chan_put_cstr(&m, name);
	chan_put_u64(&m, delta);
	send_msg(&m);
	chan_msg_free(&m);
}

/* Emits refused because they came from one of the plugin's own threads,
 * summarised as refusal_summary.h does for full queues: a thread emitting
 * in a loop would otherwise send the daemon a log line for each.  The
 * first refusal of an episode is logged with its name, later ones are
 * counted and written as one line per REFUSAL_SUMMARY_INTERVAL_S; the
 * count still unwritten is written when the serving thread next takes
 * events after the interval, and at stop.  Any thread; atomics only. */
static refusal_summary thread_emit_refusals;

static void note_thread_emit_refused(es_plugin_ctx *ctx, const char *name)
{
	uint64_t n;
	int64_t last, now;
	if (!refusal_summary_count(&thread_emit_refusals, &n, &last, &now))
		return;
	if (last == 0)
		child_log(ctx, ES_LOG_WARN,
		          "emit of '%s' refused: an isolated plugin emits from init() or handle() only (%llu refused); "
		          "further refusals from its own threads are counted and logged every %d s",
		          name, (unsigned long long)n, REFUSAL_SUMMARY_INTERVAL_S);
	else
		child_log(ctx, ES_LOG_WARN,
		          "%llu more emits from the plugin's own threads refused in the last %.1f s (latest '%s')",
		          (unsigned long long)n, (double)(now - last) / 1e6, name);
}

/* End the episode, writing the count not written yet: when the interval
 * has passed since the last line, or always (`at_stop`). */
static void settle_thread_emit_refusals(bool at_stop)
{
	uint64_t n;
	if (refusal_summary_settle(&thread_emit_refusals, at_stop, &n) && n)
		child_log(&runner.ctx, ES_LOG_WARN, "%llu more emits from the plugin's own threads refused since the last line",
		          (unsigned long long)n);
}

/* The daemon validates and admits the event (host_emit_event) and answers
 * with the status; only the serving thread reads the channel. */
static es_status child_emit(es_plugin_ctx *ctx, const char *name, const char *data_json, size_t len)
{
	(void)ctx;
	if (!pthread_equal(pthread_self(), runner.serving)) {
		note_thread_emit_refused(ctx, name ? name : "(null)");
		return ES_STATUS_ERROR;
	}
	/* Refused here as the daemon would (host_emit_event), and before the
	 * frame could outgrow what the daemon reads from a child (a protocol
	 * error that would end this process). */
	if (data_json && len > runner.max_event_size) {
		child_log(ctx, ES_LOG_WARN, "emit of '%s' refused: data is %zu bytes, more than the %zu allowed",
		          name ? name : "(null)", len, runner.max_event_size);
		return ES_STATUS_INVALID;
	}
	if (name && strlen(name) > CHAN_CHILD_FRAME_SLACK / 2) {
		child_log(ctx, ES_LOG_WARN, "emit refused: the event name is %zu bytes long", strlen(name));
		return ES_STATUS_INVALID;
	}
	chan_msg m = {0};
	chan_msg_begin(&m, CHAN_EMIT);
	chan_put_cstr(&m, name);
	chan_put_u8(&m, data_json != NULL);
	chan_put_str(&m, data_json ? data_json : "", data_json ? len : 0);
	send_msg(&m);
	bool built = !m.failed;
	chan_msg_free(&m);
	if (!built)
		return ES_STATUS_ERROR;
	uint8_t type;
	chan_cursor c;
	if (chan_recv(&runner.in, -1, &type, &c) != CHAN_RECV_OK || type != CHAN_EMIT_STATUS)
		_exit(3); /* the daemon is gone or out of step: nothing sensible is left */
	return (es_status)chan_get_u32(&c);
}

static void send_simple(chan_type type, const char *reason)
{
	chan_msg m = {0};
	chan_msg_begin(&m, type);
	if (reason)
		chan_put_cstr(&m, reason);
	send_msg(&m);
	chan_msg_free(&m);
}

static bool apply_limit(int resource, const char *what, uint64_t value)
{
	if (!value)
		return true;
	struct rlimit rl = {.rlim_cur = value, .rlim_max = value};
	if (setrlimit(resource, &rl) != 0) {
		runner_log(LOG_LEVEL_ERROR, "cannot set the %s limit: %s", what, strerror(errno));
		return false;
	}
	return true;
}

/* CHAN_INIT: set up and call init().  0, or -1 with CHAN_INIT_FAILED sent. */
static int start_plugin(chan_cursor *c)
{
	uint32_t proto = chan_get_u32(c);
	const char *path = chan_get_str(c, NULL);
	uid_t uid = (uid_t)chan_get_u32(c);
	const char *name = chan_get_str(c, NULL);
	uint8_t level = chan_get_u8(c);
	uint8_t format = chan_get_u8(c);
	uint64_t max_frame = chan_get_u64(c);
	uint32_t memory_mb = chan_get_u32(c);
	uint32_t open_files = chan_get_u32(c);
	runner.max_event_size = (size_t)chan_get_u64(c);
	runner.config = chan_get_tree(c);
	if (c->bad || proto != CHAN_PROTOCOL_VERSION) {
		send_simple(CHAN_INIT_FAILED, "the plugin runner could not read its start message");
		return -1;
	}
	log_configure((log_level)level, (log_format)format);
	runner.name = strdup(name);
	runner.in.max_frame = max_frame;
	char *path_copy = strdup(path);
	if (!runner.name || !path_copy) {
		free(path_copy);
		send_simple(CHAN_INIT_FAILED, "out of memory");
		return -1;
	}
	/* RLIMIT_DATA counts brk and private writable mappings: what malloc
	 * hands out.  (A sanitizer's shadow memory counts too: under one, the
	 * daemon's RSS watch is the only memory limit.) */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
	if (!apply_limit(RLIMIT_DATA, "memory", (uint64_t)memory_mb << 20)) {
		free(path_copy);
		send_simple(CHAN_INIT_FAILED, "cannot set the memory limit");
		return -1;
	}
#else
	(void)memory_mb;
#endif
	if (!apply_limit(RLIMIT_NOFILE, "open files", open_files)) {
		free(path_copy);
		send_simple(CHAN_INIT_FAILED, "cannot set the open files limit");
		return -1;
	}
	char err[512];
	runner.image = plugin_image_load(path_copy, uid, err, sizeof err);
	free(path_copy);
	if (!runner.image) {
		send_simple(CHAN_INIT_FAILED, err);
		return -1;
	}
	runner.desc = plugin_image_descriptor(runner.image);
	plugin_settings settings = {.name = runner.name, .enabled = true, .config = runner.config,
	                            .policy = {.workers = 1, .queue_size = 1, .timeout_ms = 1000, .max_attempts = 1,
	                                       .backoff_multiplier = 2.0}};
	host_services local_services = {.api = host_api_table(), .check_only = true};
	runner.local = plugin_instance_create(runner.image, &settings, &settings.policy, NULL, 0, &local_services, err,
	                                      sizeof err);
	if (!runner.local) {
		send_simple(CHAN_INIT_FAILED, err);
		return -1;
	}
	runner.ctx.instance = runner.local;
	/* The ABI 1.0 part of the host table: the 1.1 functions that need the
	 * daemon (emit_event, gauge_set, the deadline) are not forwarded over
	 * the channel yet, so a child offers what a 1.0 host offers (a 1.1
	 * plugin checks ES_HOST_HAS()).  Past struct_size, the functions that
	 * only read the event or the config are the in-process ones; those
	 * that need the daemon refuse (child_needs_daemon()). */
	runner.table = *host_api_table();
	runner.table.struct_size = (uint32_t)offsetof(es_host_api, event_attribute_count);
	runner.table.abi_minor = 0;
	runner.table.log = child_log;
	runner.table.emit = child_emit;
	runner.table.counter_add = child_counter_add;
	runner.table.delivery_attempt = child_delivery_attempt;
	runner.table.plugin_name = child_plugin_name;
	runner.table.emit_event = child_emit_event;
	runner.table.gauge_set = child_gauge_set;
	runner.table.delivery_complete = child_delivery_complete;
	es_status st = runner.desc->init(&runner.ctx, &runner.table, &runner.state);
	if (st != ES_STATUS_OK) {
		snprintf(err, sizeof err, "init() failed with status %d (see the plugin's log lines above)", (int)st);
		send_simple(CHAN_INIT_FAILED, err);
		plugin_image_unref(runner.image);
		runner.image = NULL;
		return -1;
	}
	/* The daemon checks that this is the plugin it loaded itself. */
	chan_msg m = {0};
	chan_msg_begin(&m, CHAN_READY);
	chan_put_cstr(&m, runner.desc->name);
	chan_put_cstr(&m, runner.desc->version);
	send_msg(&m);
	chan_msg_free(&m);
	return 0;
}

/* One delivery of CHAN_EVENTS, rebuilt (a copy: the channel's buffer is
 * reused by emit() during handle()); NULL when it cannot be read. */
static es_event *read_event(chan_cursor *c, uint32_t *attempt, uint64_t *tag)
{
	es_event_fields f = {0};
	*tag = chan_get_u64(c);
	size_t id_len, name_len;
	f.id = chan_get_str(c, &id_len);
	f.name = chan_get_str(c, &name_len);
	f.source = chan_get_str(c, NULL);
	f.time_us = chan_get_i64(c);
	f.has_time = true;
	bool has_time_text = chan_get_u8(c) != 0;
	const char *time_text = chan_get_str(c, NULL);
	f.time_text = has_time_text ? time_text : NULL;
	bool has_data = chan_get_u8(c) != 0;
	f.data = chan_get_str(c, &f.data_len);
	if (!has_data) {
		f.data = NULL;
		f.data_len = 0;
	}
	bool redelivered = chan_get_u8(c) != 0;
	uint32_t nattr = chan_get_u32(c);
	es_event_attribute *attrs = NULL;
	if (!c->bad && nattr <= (size_t)(c->end - c->p) && nattr)
		attrs = calloc(nattr, sizeof *attrs);
	for (uint32_t i = 0; attrs && i < nattr; i++) {
		attrs[i].key = chan_get_str(c, NULL);
		attrs[i].value = chan_get_str(c, NULL);
		uint8_t type = chan_get_u8(c);
		attrs[i].type = type <= ES_ATTRIBUTE_BOOLEAN ? (es_attribute_type)type : ES_ATTRIBUTE_STRING;
	}
	f.attributes = attrs;
	f.attribute_count = attrs ? nattr : 0;
	*attempt = chan_get_u32(c);
	(void)chan_get_i64(c); /* the deadline: the daemon enforces it */
	f.depth = chan_get_u32(c);
	es_event *event = c->bad || (nattr && !attrs) ? NULL : es_event_create(&f);
	free(attrs);
	if (event)
		event->redelivered = redelivered;
	return event;
}

/* Keep the answer to one delivery with the others of its batch (sent when
 * the batch is done, or before anything else is sent). */
static void keep_result(uint64_t tag, es_result r, char *err, size_t err_size)
{
	err[err_size - 1] = '\0';
	pthread_mutex_lock(&runner.send_lock);
	for (int tries = 0; tries < 2; tries++) {
		size_t before = runner.answers.len, frame_before = runner.answers.frame_at;
		if (chan_msg_append(&runner.answers, CHAN_RESULT)) {
			chan_put_u64(&runner.answers, tag);
			chan_put_u32(&runner.answers, (uint32_t)r);
			chan_put_cstr(&runner.answers, err);
			if (!runner.answers.failed) {
				chan_msg_seal(&runner.answers);
				atomic_store(&runner.answers_ready, runner.answers.len);
				break;
			}
		}
		/* full: take the partial frame back, send what is kept, again */
		runner.answers.len = before;
		runner.answers.frame_at = frame_before;
		runner.answers.failed = false;
		claim_writing();
		flush_answers_locked();
		atomic_store(&runner.writing, false);
	}
	pthread_mutex_unlock(&runner.send_lock);
}

static void serve_one_by_one(es_event **events, const uint32_t *attempts, const uint64_t *tags, uint32_t count);
static void serve_batch_call(es_event **events, const uint32_t *attempts, const uint64_t *tags, uint32_t count);

/* CHAN_EVENTS: rebuild the deliveries, run handle() on each in order and
 * answer its CHAN_RESULT as soon as it returned: the daemon learns from the
 * answers which delivery this process has in its hands. */
static void serve_events(chan_cursor *c)
{
	uint32_t count = chan_get_u32(c);
	uint8_t level = chan_get_u8(c);
	if (c->bad || count == 0 || count > (size_t)(c->end - c->p))
		_exit(3); /* out of step with the daemon: nothing sensible is left */
	if (level <= LOG_LEVEL_DEBUG && (log_level)level != log_current_level())
		log_configure((log_level)level, log_current_format());
	es_event **events = calloc(count, sizeof *events);
	uint32_t *attempts = calloc(count, sizeof *attempts);
	uint64_t *tags = calloc(count, sizeof *tags);
	if (!events || !attempts || !tags)
		_exit(3);
	for (uint32_t i = 0; i < count; i++)
		events[i] = read_event(c, &attempts[i], &tags[i]);
	if (runner.desc->handle_batch) {
		serve_batch_call(events, attempts, tags, count);
	} else {
		serve_one_by_one(events, attempts, tags, count);
	}
	flush_answers(); /* the batch is done: its answers in one send() */
	free(events);
	free(attempts);
	free(tags);
}

/* handle() on each delivery in order, each answered as it returns. */
static void serve_one_by_one(es_event **events, const uint32_t *attempts, const uint64_t *tags, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		char err[256] = "";
		es_result r;
		if (!events[i]) {
			snprintf(err, sizeof err, "the plugin runner could not rebuild the event");
			r = ES_RETRY;
		} else {
			runner.attempt = attempts[i];
			atomic_store(&runner.in_handle, true);
			r = runner.desc->handle(runner.state, events[i], err, sizeof err);
			atomic_store(&runner.in_handle, false);
			es_event_unref(events[i]);
		}
		note_returned(tags[i]);
		keep_result(tags[i], r, err, sizeof err);
	}
}

/* A plugin with handle_batch(): one call for the message's events (those
 * rebuilt), then the answers in order. */
static void serve_batch_call(es_event **events, const uint32_t *attempts, const uint64_t *tags, uint32_t count)
{
	const es_event **call = calloc(count, sizeof *call);
	es_result *results = calloc(count, sizeof *results);
	char (*errs)[256] = calloc(count, sizeof *errs);
	char **err_ptrs = calloc(count, sizeof *err_ptrs);
	uint32_t *index = calloc(count, sizeof *index);
	uint32_t *call_attempts = calloc(count, sizeof *call_attempts);
	if (!call || !results || !errs || !err_ptrs || !index || !call_attempts)
		_exit(3);
	uint32_t n = 0;
	for (uint32_t i = 0; i < count; i++) {
		results[i] = ES_RETRY;
		if (!events[i]) {
			snprintf(errs[i], sizeof errs[i], "the plugin runner could not rebuild the event");
			continue;
		}
		call[n] = events[i];
		call_attempts[n] = attempts[i];
		err_ptrs[n] = errs[i];
		index[n++] = i;
	}
	es_result *call_results = calloc(n ? n : 1, sizeof *call_results);
	if (!call_results)
		_exit(3);
	for (uint32_t k = 0; k < n; k++)
		call_results[k] = ES_RETRY;
	if (n) {
		runner.attempt = attempts[index[0]];
		runner.call_events = call;
		runner.call_attempts = call_attempts;
		runner.call_count = n;
		atomic_store(&runner.in_handle, true);
		runner.desc->handle_batch(runner.state, call, n, call_results, err_ptrs, sizeof errs[0]);
		atomic_store(&runner.in_handle, false);
		runner.call_count = 0;
	}
	note_returned(tags[count - 1]);
	for (uint32_t k = 0; k < n; k++)
		results[index[k]] = call_results[k];
	for (uint32_t i = 0; i < count; i++) {
		keep_result(tags[i], results[i], errs[i], sizeof errs[i]);
		if (events[i])
			es_event_unref(events[i]);
	}
	free(call_results);
	free(call);
	free(results);
	free(errs);
	free(err_ptrs);
	free(index);
	free(call_attempts);
}

/* exit() called by the plugin inside handle() would end this process with
 * the plugin's status (0 looks like an orderly stop): make it a failure
 * of the delivery in its hands, as a crash is. */
static void exit_inside_handle(void)
{
	if (!atomic_load(&runner.in_handle))
		return;
	flush_answers(); /* the answers before this delivery are theirs */
	runner_log(LOG_LEVEL_ERROR, "handle() called exit(): the plugin's process ends as crashed");
	_exit(PLUGIN_RUNNER_EXIT_IN_HANDLE);
}

int plugin_runner_main(void)
{
	/* Nothing of the daemon's but the channel and stdio: no listening
	 * sockets, database connections or plugin copies. */
	if (close_range(CHAN_CHILD_PROGRESS_FD + 1, ~0u, 0) != 0) {
		for (int fd = CHAN_CHILD_PROGRESS_FD + 1; fd < 1024; fd++)
			close(fd);
	}
	if (fcntl(CHAN_CHILD_FD, F_GETFD) < 0) {
		fprintf(stderr, "event-system: --plugin-runner is started by the daemon for an isolated plugin\n");
		return 2;
	}
	/* The channel moves off the number everyone knows, close-on-exec (a
	 * program the plugin runs does not get it), and that number is kept
	 * open on /dev/null: a plugin writing to file descriptor 3 writes
	 * nowhere.  (A plugin that finds the channel anyway and writes to it
	 * is caught by the request ids of the answers: isolation_channel.h.) */
	runner.fd = fcntl(CHAN_CHILD_FD, F_DUPFD_CLOEXEC, CHAN_CHILD_MOVED_FD);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (runner.fd < 0 || devnull < 0 || dup2(devnull, CHAN_CHILD_FD) < 0) {
		fprintf(stderr, "event-system: --plugin-runner cannot set up its channel: %s\n", strerror(errno));
		return 2;
	}
	close(devnull);
	runner.progress = map_progress();
	runner.answers = (chan_msg){.buf = answer_space, .cap = sizeof answer_space, .fixed = true};
	install_fatal_signal_handlers();
	/* As in the daemon (control/signal_owner.h), SIGUSR1/SIGUSR2 do not end
	 * the process: `systemctl kill -s USR1` reaches the children too, and
	 * a child killed by it would count as the plugin's crash.  A plugin may
	 * set a handler of its own in init(). */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	runner.serving = pthread_self();
	chan_in_init(&runner.in, runner.fd, INIT_FRAME_MAX);
	runner.in.spin_us = 50; /* as the daemon's side: see chan_in.spin_us */
	uint8_t type;
	chan_cursor c;
	int exit_code = 1;
	if (chan_recv(&runner.in, -1, &type, &c) != CHAN_RECV_OK || type != CHAN_INIT || start_plugin(&c) != 0)
		goto out;
	atexit(exit_inside_handle);
	for (;;) {
		chan_recv_status st = chan_recv(&runner.in, -1, &type, &c);
		if (st != CHAN_RECV_OK || type == CHAN_SHUTDOWN)
			break;
		if (type == CHAN_EVENTS) {
			settle_thread_emit_refusals(false);
			serve_events(&c);
		} else if (type == CHAN_REOPEN) {
			if (runner.desc->reopen)
				runner.desc->reopen(runner.state);
			send_simple(CHAN_REOPENED, NULL);
		}
	}
	if (runner.desc->shutdown)
		runner.desc->shutdown(runner.state);
	settle_thread_emit_refusals(true); /* the plugin's threads are done */
	exit_code = 0;
out:
	if (runner.local) {
		plugin_instance_stop(runner.local, clock_monotonic_us()); /* never started: nothing runs */
		plugin_instance_unref(runner.local);
	}
	if (runner.image)
		plugin_image_unref(runner.image);
	ynode_free(runner.config);
	free(runner.name);
	chan_in_free(&runner.in);
	close(runner.fd);
	return exit_code;
}
