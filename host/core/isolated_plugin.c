/*
 * Isolated plugins, the daemon's side: spawning, serving, supervising and
 * reaping the children.  See the header for the ownership rules.
 */
#define _GNU_SOURCE
#include "config.h"

#include "core/isolated_plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/isolation_channel.h"
#include "util/clock.h"
#include "util/log.h"

extern char **environ;

/* A child has this long to load the plugin and return from init(). */
#define INIT_TIMEOUT_MS 10000
/* Restart back-off: doubles from the first to the last after each death in
 * a row; a child that answers a delivery resets it. */
#define RESTART_BACKOFF_FIRST_MS 100
#define RESTART_BACKOFF_MAX_MS 5000
/* How often the supervisor looks at restarts and memory. */
#define SUPERVISOR_TICK_MS 50
/* A child asked to exit, or one whose channel ended, gets this long before
 * SIGKILL. */
#define EXIT_GRACE_MS 1000
/* A worker waiting for its child's answer tries again for this long before
 * sleeping (chan_in.spin_us); the child does the same for its next event. */
#define CHANNEL_SPIN_US 50
#define SUSPECTS_MAX 64
/* While waiting for a child's message, whether the child has ended is
 * looked at this often (a process it forked may keep the channel open). */
#define CHILD_EXIT_CHECK_US 20000
/* A batch message's buffer is kept for the next batch up to this size. */
#define KEEP_OUT_BUFFER (256u << 10)

typedef struct child_slot {
	pid_t pid;           /* 0: none; reaped (and cleared) only under lock */
	uint64_t generation; /* counts the children this slot had */
	int fd;              /* the daemon's end of the channel; -1 */
	chan_in in;
	bool borrowed;         /* a worker, the supervisor or stop() uses it now */
	int64_t not_before_us; /* restart back-off (monotonic) */
	uint32_t backoff_ms;
	bool ever_started;
	/* The request id of the next delivery sent to this child (random at
	 * each start): each answer must carry the id of the delivery it
	 * answers, so a frame the plugin wrote to the channel itself is a
	 * protocol error, never taken for an answer. */
	uint64_t next_tag;
	/* The progress page shared with the slot's children
	 * (isolation_channel.h: chan_progress), made at the first start and
	 * kept with the slot; each child gets the descriptor. */
	int progress_fd; /* -1: none yet */
	chan_progress *progress;
	chan_msg out; /* the CHAN_EVENTS being built (its buffer is kept) */
} child_slot;

struct isolated_plugin {
	isolated_host host;
	char *name, *path, *expect_name, *expect_version;
	const ynode *config; /* the instance's; lives as long as the instance */
	plugin_policy policy;

	pthread_mutex_t lock;
	pthread_cond_t changed; /* a slot was given back, died or got a child */
	child_slot *slots;
	size_t slot_count;
	bool stopping;
	bool quarantined; /* the crash rules quarantined it: no restarts */
	pthread_t supervisor;
	bool supervisor_running;

	_Atomic uint64_t restarts, deaths, memory_kills, deadline_kills;
	/* Time a delivery takes in a child (moving average, µs): batches are
	 * sized by it so that one finishes well within the deadline. */
	_Atomic int64_t per_event_us;
	/* With handle_batch(): events (hashes of their ids) that were in a
	 * batch call when its child died, sent alone from then on so that a
	 * crash names its event.  A ring of the latest; under `lock`. */
	uint64_t suspects[SUSPECTS_MAX];
	size_t suspect_next;
};

/* "killed by SIGSEGV", "exited with status 3" */
static void describe_status(int status, char *out, size_t out_size)
{
	if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));
		snprintf(out, out_size, "killed by SIG%s", abbrev ? abbrev : "?");
	} else if (WIFEXITED(status)) {
		snprintf(out, out_size, "exited with status %d", WEXITSTATUS(status));
	} else {
		snprintf(out, out_size, "ended (status %#x)", status);
	}
}

/* ---- the host API, served for the child ---- */

/* A call from the child met while waiting for an answer.  False: a
 * protocol error (the child is then killed). */
static bool serve_call(isolated_plugin *ip, child_slot *s, uint8_t type, chan_cursor *c)
{
	switch (type) {
	case CHAN_LOG: {
		uint8_t level = chan_get_u8(c);
		const char *line = chan_get_str(c, NULL);
		if (c->bad || level > LOG_LEVEL_DEBUG)
			return false;
		ip->host.api->log(ip->host.ctx, (es_log_level)level, "%s", line);
		return true;
	}
	case CHAN_COUNTER: {
		const char *name = chan_get_str(c, NULL);
		uint64_t delta = chan_get_u64(c);
		if (c->bad)
			return false;
		ip->host.api->counter_add(ip->host.ctx, name, delta);
		return true;
	}
	case CHAN_EMIT: {
		size_t data_len;
		const char *name = chan_get_str(c, NULL);
		bool has_data = chan_get_u8(c) != 0;
		const char *data = chan_get_str(c, &data_len);
		if (c->bad)
			return false;
		/* the table finds the event being handled through isolated_host.handling */
		/* The table validates, admits and logs a refusal. */
		es_status st = ip->host.api->emit(ip->host.ctx, name, has_data ? data : NULL, has_data ? data_len : 0);
		chan_msg m = {0};
		chan_msg_begin(&m, CHAN_EMIT_STATUS);
		chan_put_u32(&m, (uint32_t)st);
		int rc = chan_send(s->fd, &m, clock_monotonic_us() + (int64_t)INIT_TIMEOUT_MS * 1000);
		chan_msg_free(&m);
		return rc == 0;
	}
	default:
		return false;
	}
}

/* ---- children ---- */

/* Wait for the slot's child to end (SIGKILL after `grace_ms`), then reap it
 * and clear the slot under the lock.  The slot is the caller's (borrowed).
 * Writes how it ended into why; returns its wait status. */
static int reap_child(isolated_plugin *ip, child_slot *s, int64_t grace_ms, char *why, size_t why_size)
{
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	chan_in_free(&s->in);
	pid_t pid = s->pid;
	if (pid <= 0) {
		snprintf(why, why_size, "not running");
		return 0;
	}
	/* Wait without reaping: until reaped, the pid stays this child's, so
	 * the supervisor may still signal it under the lock. */
	siginfo_t info;
	int64_t until = clock_monotonic_us() + grace_ms * 1000;
	bool exited = false;
	while (!exited) {
		memset(&info, 0, sizeof info);
		if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) {
			exited = true;
			break;
		}
		if (clock_monotonic_us() >= until)
			break;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 5000000};
		nanosleep(&ts, NULL);
	}
	if (!exited)
		kill(pid, SIGKILL);
	int status = 0;
	pthread_mutex_lock(&ip->lock);
	/* The child leads its own process group: whatever the plugin forked
	 * is in it and ends with it.  Until reaped the child holds its pid,
	 * so the group's id cannot name anything else. */
	kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	s->pid = 0;
	pthread_mutex_unlock(&ip->lock);
	describe_status(status, why, why_size);
	if (!exited)
		snprintf(why + strlen(why), why_size - strlen(why), " (did not exit within %lld ms)", (long long)grace_ms);
	return status;
}

/* Whether the slot's child (the caller holds the slot) has ended; not
 * reaped. */
static bool child_ended(const child_slot *s)
{
	siginfo_t info = {0};
	return s->pid > 0 && waitid(P_PID, (id_t)s->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	       info.si_pid == s->pid;
}

/* One message from the child by `deadline_us`.  The end of the stream is
 * not the only sign of the child's end: a process the plugin forked may
 * hold the channel open, so the child's exit is looked at every
 * CHILD_EXIT_CHECK_US; once it has ended, what it sent is still read, then
 * the channel counts as closed. */
static chan_recv_status recv_from_child(child_slot *s, int64_t deadline_us, uint8_t *type, chan_cursor *c)
{
	for (;;) {
		int64_t slice = clock_monotonic_us() + CHILD_EXIT_CHECK_US;
		bool last = slice >= deadline_us;
		chan_recv_status st = chan_recv(&s->in, last ? deadline_us : slice, type, c);
		if (st != CHAN_RECV_TIMEOUT || last)
			return st;
		if (child_ended(s)) {
			st = chan_recv(&s->in, clock_monotonic_us(), type, c);
			return st == CHAN_RECV_TIMEOUT ? CHAN_RECV_CLOSED : st;
		}
	}
}

/* Read until a message that is not a call to the host; serve the calls. */
static chan_recv_status recv_answer(isolated_plugin *ip, child_slot *s, int64_t deadline_us, uint8_t *type,
                                    chan_cursor *c)
{
	for (;;) {
		chan_recv_status st = recv_from_child(s, deadline_us, type, c);
		if (st != CHAN_RECV_OK)
			return st;
		if (*type != CHAN_LOG && *type != CHAN_COUNTER && *type != CHAN_EMIT)
			return CHAN_RECV_OK;
		if (!serve_call(ip, s, *type, c))
			return CHAN_RECV_TOO_BIG; /* a protocol error */
	}
}

/* The slot's progress page: a memfd of one page, mapped shared. */
static int make_progress_page(child_slot *s, char *err, size_t err_size)
{
	int fd = memfd_create("es-iso-progress", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)sizeof(chan_progress)) != 0) {
		snprintf(err, err_size, "cannot create the progress page: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	void *p = mmap(NULL, sizeof(chan_progress), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, err_size, "cannot map the progress page: %s", strerror(errno));
		close(fd);
		return -1;
	}
	s->progress_fd = fd;
	s->progress = p;
	return 0;
}

/* Start a child in slot s (borrowed by the caller) and wait for init().
 * 0, or -1 with the reason in err (nothing left running); *died_status
 * (NULL: not wanted) is the wait status of a child that ended on its own
 * during start (a crash in init()), -1 otherwise. */
static int spawn_child(isolated_plugin *ip, child_slot *s, int *died_status, char *err, size_t err_size)
{
	if (died_status)
		*died_status = -1;
	if (!s->progress && make_progress_page(s, err, err_size) != 0)
		return -1;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(err, err_size, "cannot create the channel: %s", strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	/* dup2 onto the fixed numbers clears close-on-exec on the copies only.
	 * The sources are copies above both numbers first: a source that is
	 * one of them would be overwritten by the other's dup2, or keep
	 * close-on-exec (a dup2 onto itself changes nothing). */
	int chan_src = fcntl(sv[1], F_DUPFD_CLOEXEC, CHAN_CHILD_PROGRESS_FD + 1);
	int progress_src = fcntl(s->progress_fd, F_DUPFD_CLOEXEC, CHAN_CHILD_PROGRESS_FD + 1);
	posix_spawn_file_actions_adddup2(&fa, chan_src, CHAN_CHILD_FD);
	posix_spawn_file_actions_adddup2(&fa, progress_src, CHAN_CHILD_PROGRESS_FD);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	/* Its own process group: a Ctrl+C at a terminal reaches the daemon,
	 * which stops its children in order, not the children directly. */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
	char *argv[] = {"event-system", "--plugin-runner", ip->name, NULL};
	pid_t pid = 0;
	int rc = chan_src >= 0 && progress_src >= 0 ? posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, environ)
	                                            : (errno ? errno : EBADF);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (chan_src >= 0)
		close(chan_src);
	if (progress_src >= 0)
		close(progress_src);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		snprintf(err, err_size, "cannot start the plugin's process: %s", strerror(rc));
		return -1;
	}
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	pthread_mutex_lock(&ip->lock);
	s->pid = pid;
	s->generation++;
	pthread_mutex_unlock(&ip->lock);
	s->fd = sv[0];
	if (getrandom(&s->next_tag, sizeof s->next_tag, GRND_NONBLOCK) != (ssize_t)sizeof s->next_tag)
		s->next_tag = (uint64_t)clock_monotonic_us() * 0x9e3779b97f4a7c15u ^ (uint64_t)pid;
	/* an id no delivery of this child has: nothing returned yet */
	atomic_store(&s->progress->returned_tag, s->next_tag - 1);
	chan_in_init(&s->in, s->fd, ip->host.max_event_size + CHAN_CHILD_FRAME_SLACK);
	s->in.spin_us = CHANNEL_SPIN_US;

	int64_t deadline = clock_monotonic_us() + (int64_t)INIT_TIMEOUT_MS * 1000;
	chan_msg m = {0};
	chan_msg_begin(&m, CHAN_INIT);
	chan_put_u32(&m, CHAN_PROTOCOL_VERSION);
	chan_put_cstr(&m, ip->path);
	chan_put_u32(&m, (uint32_t)ip->host.service_uid);
	chan_put_cstr(&m, ip->name);
	chan_put_u8(&m, (uint8_t)log_current_level());
	chan_put_u8(&m, (uint8_t)log_current_format());
	chan_put_u64(&m, 2 * (uint64_t)ip->host.max_event_size + (1u << 20));
	chan_put_u32(&m, ip->policy.memory_limit_mb);
	chan_put_u32(&m, ip->policy.open_files_limit);
	chan_put_u64(&m, ip->host.max_event_size);
	chan_put_tree(&m, ip->config);
	rc = chan_send(s->fd, &m, deadline);
	chan_msg_free(&m);
	uint8_t type = 0;
	chan_cursor c;
	chan_recv_status st = rc == 0 ? recv_answer(ip, s, deadline, &type, &c) : CHAN_RECV_CLOSED;
	if (st == CHAN_RECV_OK && type == CHAN_READY) {
		const char *name = chan_get_str(&c, NULL);
		const char *version = chan_get_str(&c, NULL);
		if (!c.bad && strcmp(name, ip->expect_name) == 0 && strcmp(version, ip->expect_version) == 0) {
			s->ever_started = true;
			return 0;
		}
		snprintf(err, err_size, "the child loaded %s %s, not the %s %s the daemon loaded (file replaced?)",
		         c.bad ? "?" : name, c.bad ? "?" : version, ip->expect_name, ip->expect_version);
	} else if (st == CHAN_RECV_OK && type == CHAN_INIT_FAILED) {
		const char *why = chan_get_str(&c, NULL);
		snprintf(err, err_size, "%s", c.bad ? "init failed" : why);
	} else if (st == CHAN_RECV_TIMEOUT) {
		snprintf(err, err_size, "the plugin's process did not finish init() within %d ms", INIT_TIMEOUT_MS);
	} else {
		snprintf(err, err_size, "the plugin's process ended during start");
	}
	char how[128];
	if (st == CHAN_RECV_TIMEOUT) {
		pthread_mutex_lock(&ip->lock);
		kill(s->pid, SIGKILL);
		pthread_mutex_unlock(&ip->lock);
	}
	int status = reap_child(ip, s, EXIT_GRACE_MS, how, sizeof how);
	if (st == CHAN_RECV_CLOSED) {
		snprintf(err + strlen(err), err_size - strlen(err), " (%s)", how);
		if (died_status)
			*died_status = status;
	}
	return -1;
}

/* ---- the crash rules (crash_ledger.h) ---- */

/* A child died unasked with `event` (NULL: none) in its hands: record the
 * crash for the crash rules.  Returns how many times that event has now
 * crashed this plugin (0 without a ledger or an event).  A plugin the
 * rules now quarantine gets no more children. */
static uint32_t record_crash(isolated_plugin *ip, const es_event *event, uint32_t attempt, int status)
{
	crash_ledger *ledger = ip->host.crashes;
	if (!ledger)
		return 0;
	crash_record r = {.seq = event ? event->seq : 0, .attempt = attempt, .at_us = clock_realtime_us()};
	snprintf(r.plugin, sizeof r.plugin, "%s", ip->name);
	snprintf(r.file_id, sizeof r.file_id, "%s", ip->host.file_id ? ip->host.file_id : "");
	snprintf(r.event_id, sizeof r.event_id, "%s", event ? event->id : "");
	snprintf(r.signal, sizeof r.signal, "%s", WIFSIGNALED(status) ? crash_signal_name(WTERMSIG(status)) : "exit");
	crash_ledger_record(ledger, &r);
	uint32_t crashes = event ? crash_ledger_event_crashes(ledger, ip->name, event->id) : 0;
	quarantine_info why;
	if (!crash_ledger_may_load(ledger, ip->name, r.file_id, &ip->host.rules, ip->host.patterns,
	                           ip->host.pattern_count, &why)) {
		pthread_mutex_lock(&ip->lock);
		bool first = !ip->quarantined;
		ip->quarantined = true;
		pthread_mutex_unlock(&ip->lock);
		if (first)
			LOG_ERROR(ip->name, "quarantined after %u crashes within %u s: its processes are not restarted; "
			          "a reload leaves it out until it is released", why.crashes, why.window_s);
	}
	return crashes;
}

/* ---- borrowing ---- */

/* Mark a death in slot s (reaped already): restart after the back-off. */
static void note_death_locked(isolated_plugin *ip, child_slot *s)
{
	if (s->backoff_ms == 0)
		s->backoff_ms = RESTART_BACKOFF_FIRST_MS;
	s->not_before_us = clock_monotonic_us() + (int64_t)s->backoff_ms * 1000;
	s->backoff_ms = s->backoff_ms * 2 > RESTART_BACKOFF_MAX_MS ? RESTART_BACKOFF_MAX_MS : s->backoff_ms * 2;
	atomic_fetch_add(&ip->deaths, 1);
}

static void give_back(isolated_plugin *ip, child_slot *s, bool died)
{
	pthread_mutex_lock(&ip->lock);
	s->borrowed = false;
	if (died)
		note_death_locked(ip, s);
	pthread_cond_broadcast(&ip->changed);
	pthread_mutex_unlock(&ip->lock);
}

/* Whether the child of slot s (borrowed by the caller) has ended; if so it
 * is reaped, logged and the slot given back for a restart. */
static bool reap_if_ended(isolated_plugin *ip, child_slot *s)
{
	pid_t pid = s->pid;
	siginfo_t info = {0};
	if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != pid)
		return false;
	char how[128];
	int status = reap_child(ip, s, 0, how, sizeof how);
	LOG_WARN(ip->name, "plugin process %d %s while idle; restarting it", (int)pid, how);
	record_crash(ip, NULL, 0, status);
	give_back(ip, s, true);
	return true;
}

/* An idle child with a running process, or NULL at `deadline_us` or when
 * stopping.  A child found dead while idle is reaped on the way. */
static child_slot *borrow(isolated_plugin *ip, int64_t deadline_us)
{
	pthread_mutex_lock(&ip->lock);
	for (;;) {
		child_slot *found = NULL;
		for (size_t i = 0; i < ip->slot_count && !found; i++)
			if (!ip->slots[i].borrowed && ip->slots[i].pid > 0)
				found = &ip->slots[i];
		if (found) {
			found->borrowed = true;
			pthread_mutex_unlock(&ip->lock);
			if (reap_if_ended(ip, found)) {
				pthread_mutex_lock(&ip->lock);
				continue;
			}
			return found;
		}
		if (ip->stopping || ip->quarantined || clock_monotonic_us() >= deadline_us)
			break;
		int64_t left_ms = (deadline_us - clock_monotonic_us()) / 1000 + 1;
		clock_cond_wait_us(&ip->changed, &ip->lock, (left_ms < 100 ? left_ms : 100) * 1000);
	}
	pthread_mutex_unlock(&ip->lock);
	return NULL;
}

/* The pool's supervisor judges deadlines (the attempt is counted as timed
 * out there, and its worker is replaced); the child is killed a little
 * after that verdict, so the two never race to decide the outcome.  The
 * grace covers the pool's tick (a quarter of the deadline, 2..100 ms). */
static int64_t kill_grace_us(const plugin_policy *policy)
{
	int64_t tick = (int64_t)policy->timeout_ms * 1000 / 4;
	if (tick < 2000)
		tick = 2000;
	if (tick > 100000)
		tick = 100000;
	return 2 * tick + 20000;
}

/* One delivery of a CHAN_EVENTS message. */
static void put_event(chan_msg *m, const isolated_plugin *ip, const es_event *event, uint32_t attempt, uint64_t tag)
{
	chan_put_u64(m, tag);
	chan_put_cstr(m, event->id);
	chan_put_cstr(m, event->name);
	chan_put_cstr(m, event->source);
	chan_put_i64(m, event->time_us);
	chan_put_u8(m, event->time_text != NULL);
	chan_put_cstr(m, event->time_text);
	chan_put_u8(m, event->has_data);
	chan_put_str(m, event->data, event->data_len);
	chan_put_u8(m, event->redelivered);
	chan_put_u32(m, (uint32_t)event->attribute_count);
	for (size_t i = 0; i < event->attribute_count; i++) {
		chan_put_cstr(m, event->attributes[i].key);
		chan_put_cstr(m, event->attributes[i].value);
		chan_put_u8(m, (uint8_t)event->attributes[i].type);
	}
	chan_put_u32(m, attempt);
	chan_put_i64(m, clock_realtime_us() + (int64_t)ip->policy.timeout_ms * 1000);
	chan_put_u32(m, event->depth);
}

/* How many of `offered` deliveries one message carries: as many as the
 * measured time per delivery lets finish within a quarter of the deadline
 * (the deadline covers the whole batch), at least one. */
static size_t batch_fit(isolated_plugin *ip, size_t offered)
{
	int64_t per_event = atomic_load_explicit(&ip->per_event_us, memory_order_relaxed);
	int64_t budget = (int64_t)ip->policy.timeout_ms * 1000 / 4;
	int64_t fit = per_event > 0 ? budget / per_event : (int64_t)offered;
	if (fit < 1)
		fit = 1;
	return (size_t)fit < offered ? (size_t)fit : offered;
}

static void learn_per_event(isolated_plugin *ip, int64_t sample_us)
{
	int64_t old = atomic_load_explicit(&ip->per_event_us, memory_order_relaxed);
	/* a moving average over the last few batches; races between workers only blur it */
	atomic_store_explicit(&ip->per_event_us, (old + sample_us) / 2, memory_order_relaxed);
}

static void set_handling(isolated_plugin *ip, const es_event *event)
{
	if (ip->host.handling)
		ip->host.handling(event);
}

/* FNV-1a of an event id: what the suspects ring keeps. */
static uint64_t id_hash(const char *id)
{
	uint64_t h = 1469598103934665603ull;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return h ? h : 1;
}

static void add_suspect(isolated_plugin *ip, const es_event *event)
{
	pthread_mutex_lock(&ip->lock);
	ip->suspects[ip->suspect_next++ % SUSPECTS_MAX] = id_hash(event->id);
	pthread_mutex_unlock(&ip->lock);
}

/* How many of items[0..fit) to send when a suspect must go alone: up to
 * the first suspect, or the suspect alone when it comes first (and it is
 * then no suspect any more: its crash, if any, names it). */
static size_t solo_suspects(isolated_plugin *ip, const pool_batch_item *items, size_t fit)
{
	pthread_mutex_lock(&ip->lock);
	for (size_t k = 0; k < fit; k++) {
		uint64_t h = id_hash(items[k].event->id);
		for (size_t j = 0; j < SUSPECTS_MAX; j++) {
			if (ip->suspects[j] != h)
				continue;
			if (k == 0)
				ip->suspects[j] = 0;
			pthread_mutex_unlock(&ip->lock);
			return k == 0 ? 1 : k;
		}
	}
	pthread_mutex_unlock(&ip->lock);
	return fit;
}

/* Every delivery of the batch gets the same verdict (no child to run it). */
static void fail_all(pool_batch_item *items, size_t n, es_result result, const char *why)
{
	for (size_t i = 0; i < n; i++) {
		items[i].result = result;
		snprintf(items[i].error, sizeof items[i].error, "%s", why);
	}
}

/* The child (already reaped: `pid`, `how`, `status`) ended, was late or
 * out of step during a handle_batch() call over items[0..n), n > 1: every
 * one of them was in the plugin's hands, so none can be named the crash's
 * cause.  Each is a failed attempt, the crash counts for the plugin
 * (quarantine) but for no event, and each is sent alone from now on, where
 * a crash names it. */
static void fail_batch_call(isolated_plugin *ip, child_slot *s, chan_recv_status st, pid_t pid, int status,
                            char *how, size_t how_size, bool stopping, pool_batch_item *items, size_t n)
{
	if (st == CHAN_RECV_TIMEOUT) {
		atomic_fetch_add(&ip->deadline_kills, 1);
		atomic_store_explicit(&ip->per_event_us, (int64_t)ip->policy.timeout_ms * 1000, memory_order_relaxed);
		snprintf(how, how_size, "killed: handle_batch() overran its %u ms deadline", ip->policy.timeout_ms);
	} else if (st != CHAN_RECV_CLOSED) {
		snprintf(how, how_size, "broke the channel protocol and was killed");
	} else if (!stopping) {
		record_crash(ip, NULL, 0, status);
	}
	LOG_WARN(ip->name, "plugin process %d %s during handle_batch() of %zu events from %s (attempt %u)%s; "
	         "each is retried on its own", (int)pid, how, n, items[0].event->id, items[0].attempt,
	         stopping ? "" : "; restarting it");
	for (size_t i = 0; i < n; i++) {
		items[i].result = ES_RETRY;
		snprintf(items[i].error, sizeof items[i].error, "the plugin's process %s during handle_batch()", how);
		add_suspect(ip, items[i].event);
	}
	give_back(ip, s, true);
}

/* After the child of slot s died (reaped) with items[answered..count)
 * unanswered: how many of items[0..count) returned from the plugin, by the
 * progress page (isolation_channel.h), at least `answered`.  An id that
 * names no unanswered delivery of this batch is ignored. */
static size_t returned_count(const child_slot *s, uint64_t first_tag, size_t answered, size_t count)
{
	uint64_t done = atomic_load_explicit(&s->progress->returned_tag, memory_order_acquire) - first_tag;
	return done >= answered && done < count ? (size_t)done + 1 : answered;
}

void isolated_plugin_deliver_batch(isolated_plugin *ip, pool_batch_item *items, size_t n)
{
	if (n == 0)
		return;
	int64_t started = clock_monotonic_us();
	int64_t deadline = started + (int64_t)ip->policy.timeout_ms * 1000;
	int64_t kill_at = deadline + kill_grace_us(&ip->policy);
	child_slot *s = borrow(ip, deadline);
	if (!s) {
		pthread_mutex_lock(&ip->lock);
		bool quarantined = ip->quarantined;
		pthread_mutex_unlock(&ip->lock);
		if (quarantined)
			fail_all(items, n, ES_FAIL, "the plugin is quarantined (it crashed too often); not delivered");
		else
			fail_all(items, n, ES_RETRY, "no process of the plugin is running (restarting after a failure)");
		return;
	}
	/* One frame: as many deliveries as fit in time and in the child's
	 * frame limit (at least one); the rest go back to the queue. */
	size_t fit = batch_fit(ip, n);
	if (ip->host.batch_handler)
		fit = solo_suspects(ip, items, fit);
	size_t frame_budget = ip->host.max_event_size + (1u << 20);
	chan_msg m = s->out; /* the slot's buffer, kept between batches */
	chan_msg_begin(&m, CHAN_EVENTS);
	size_t count_at = m.len;
	chan_put_u32(&m, 0);
	chan_put_u8(&m, (uint8_t)log_current_level()); /* a reload may have changed it */
	size_t count = 0;
	while (count < fit && !m.failed) {
		size_t before = m.len;
		put_event(&m, ip, items[count].event, items[count].attempt, s->next_tag + count);
		if (count > 0 && m.len > frame_budget) {
			m.len = before;
			break;
		}
		count++;
	}
	for (size_t i = count; i < n; i++)
		items[i].started = false;
	bool built = !m.failed;
	if (built) {
		uint32_t count32 = (uint32_t)count;
		memcpy(m.buf + count_at, &count32, sizeof count32);
	}
	int rc = built ? chan_send(s->fd, &m, kill_at) : -1;
	int send_errno = errno;
	s->out = m;
	if (m.cap > KEEP_OUT_BUFFER)
		chan_msg_free(&s->out);
	if (!built) {
		give_back(ip, s, false);
		fail_all(items, count, ES_RETRY, "out of memory");
		return;
	}
	/* One CHAN_RESULT per delivery, in order (the child sends a batch's together). */
	size_t answered = 0;
	uint8_t type = 0;
	chan_cursor c;
	chan_recv_status st = rc == 0 ? CHAN_RECV_OK : (send_errno == ETIMEDOUT ? CHAN_RECV_TIMEOUT : CHAN_RECV_CLOSED);
	uint64_t first_tag = s->next_tag;
	s->next_tag += count;
	while (st == CHAN_RECV_OK && answered < count) {
		set_handling(ip, items[answered].event); /* the child's emit() is served for it */
		st = recv_answer(ip, s, kill_at, &type, &c);
		if (st != CHAN_RECV_OK)
			break;
		uint64_t tag = chan_get_u64(&c);
		es_result r = (es_result)chan_get_u32(&c);
		const char *reason = chan_get_str(&c, NULL);
		/* An answer to another delivery (or no answer at all) is a frame
		 * the plugin wrote to the channel itself: out of step for good. */
		if (type != CHAN_RESULT || c.bad || tag != first_tag + answered) {
			st = CHAN_RECV_TOO_BIG;
			break;
		}
		items[answered].result = r;
		snprintf(items[answered].error, sizeof items[answered].error, "%s", reason);
		answered++;
	}
	set_handling(ip, NULL);
	if (answered == count) {
		learn_per_event(ip, (clock_monotonic_us() - started) / (int64_t)count);
		s->backoff_ms = 0; /* it serves: the next death starts the back-off again */
		give_back(ip, s, false);
		return;
	}
	/* The child is gone, late or out of step: it ends now. */
	pid_t pid = s->pid;
	char how[128];
	if (st != CHAN_RECV_CLOSED) {
		pthread_mutex_lock(&ip->lock);
		kill(pid, SIGKILL);
		pthread_mutex_unlock(&ip->lock);
	}
	int status = reap_child(ip, s, EXIT_GRACE_MS, how, sizeof how);
	pthread_mutex_lock(&ip->lock);
	bool stopping = ip->stopping;
	pthread_mutex_unlock(&ip->lock);
	/* Answers that died with the process (SIGKILL, _exit(): no handler
	 * sent them): the progress page says which deliveries returned from
	 * the plugin.  Their results are unknown: they go back to the queue
	 * untouched and are delivered again (at least once); the crash is the
	 * next one's.  (Not after a protocol error: the frame that broke it
	 * came from the delivery in the plugin's hands, returned or not.) */
	bool consult = st == CHAN_RECV_CLOSED || st == CHAN_RECV_TIMEOUT;
	size_t returned = consult ? returned_count(s, first_tag, answered, count) : answered;
	size_t lost = returned - answered;
	for (size_t i = answered; i < returned; i++)
		items[i].started = false;
	if (returned == count) {
		/* Every delivery had returned: none was in the plugin's hands.  A
		 * batch call must start one (worker_pool.h), so the first of them
		 * counts a failed attempt (retried), never a crash. */
		items[answered].started = true;
		items[answered].result = ES_RETRY;
		snprintf(items[answered].error, sizeof items[answered].error,
		         "the plugin's process %s before the answer reached the daemon", how);
		LOG_WARN(ip->name, "plugin process %d %s after handling its batch, before %zu of its answers were sent; "
		         "they go back to the queue%s", (int)pid, how, lost, stopping ? "" : "; restarting it");
		if (st == CHAN_RECV_CLOSED && !stopping)
			record_crash(ip, NULL, 0, status);
		give_back(ip, s, true);
		return;
	}
	if (ip->host.batch_handler && count - returned > 1) {
		fail_batch_call(ip, s, st, pid, status, how, sizeof how, stopping, items + returned, count - returned);
		return;
	}
	/* The delivery in its hands (the first one that did not return) ends
	 * as a failed attempt; the ones after it never reached the plugin and
	 * go back to the queue. */
	for (size_t i = returned + 1; i < count; i++)
		items[i].started = false;
	char rest[160] = "";
	if (count - returned > 1)
		snprintf(rest, sizeof rest, "; %zu later deliver%s of its batch go%s back to the queue", count - returned - 1,
		         count - returned == 2 ? "y" : "ies", count - returned == 2 ? "es" : "");
	if (lost)
		snprintf(rest + strlen(rest), sizeof rest - strlen(rest),
		         "; %zu handled before it go%s back to the queue (the answer%s died with the process)", lost,
		         lost == 1 ? "es" : "", lost == 1 ? "" : "s");
	pool_batch_item *it = &items[returned];
	const es_event *event = it->event;
	it->result = ES_RETRY;
	if (st == CHAN_RECV_TIMEOUT) {
		atomic_fetch_add(&ip->deadline_kills, 1);
		/* batches start small again until the time per delivery is known */
		atomic_store_explicit(&ip->per_event_us, (int64_t)ip->policy.timeout_ms * 1000, memory_order_relaxed);
		LOG_WARN(ip->name, "plugin process %d killed: handle() of event %s (attempt %u) overran its %u ms deadline%s",
		         (int)pid, event->id, it->attempt, ip->policy.timeout_ms, rest);
		snprintf(it->error, sizeof it->error, "handler did not return within %u ms; its process was killed",
		         ip->policy.timeout_ms);
	} else if (st == CHAN_RECV_CLOSED) {
		LOG_WARN(ip->name, "plugin process %d %s while handling event %s (attempt %u)%s%s", (int)pid, how, event->id,
		         it->attempt, stopping ? "" : "; restarting it", rest);
		snprintf(it->error, sizeof it->error, "the plugin's process %s", how);
		/* A death the daemon did not cause is a crash: the poison rules
		 * apply to the event, as for an in-process plugin that took the
		 * daemon down (there they apply at the next start). */
		uint32_t crashes = stopping ? 0 : record_crash(ip, event, it->attempt, status);
		if (crashes >= ip->host.rules.max_crashes && crashes > 0) {
			snprintf(it->error, sizeof it->error, "crashed the plugin %u times (the plugin's process %s)", crashes,
			         how);
			it->result = ES_FAIL;
		}
	} else {
		LOG_ERROR(ip->name, "plugin process %d broke the channel protocol handling event %s; killed%s", (int)pid,
		          event->id, rest);
		snprintf(it->error, sizeof it->error, "the plugin's process broke the channel protocol and was killed");
	}
	give_back(ip, s, true);
}

/* ---- supervision ---- */

/* Resident memory of `pid` in MiB, or 0 when unknown. */
static uint64_t resident_mb(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	unsigned long long size = 0, resident = 0;
	int n = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	if (n != 2)
		return 0;
	return resident * (uint64_t)sysconf(_SC_PAGESIZE) >> 20;
}

/* Kill children over memory_limit_mb.  RLIMIT_DATA (set by the child)
 * makes malloc fail at the limit; this catches what it does not count, and
 * is the only limit under a sanitizer.  The holder reaps the child. */
static void check_memory(isolated_plugin *ip)
{
	if (!ip->policy.memory_limit_mb)
		return;
	for (size_t i = 0; i < ip->slot_count; i++) {
		pthread_mutex_lock(&ip->lock);
		pid_t pid = ip->slots[i].pid;
		uint64_t gen = ip->slots[i].generation;
		pthread_mutex_unlock(&ip->lock);
		if (pid <= 0)
			continue;
		uint64_t mb = resident_mb(pid);
		if (mb <= ip->policy.memory_limit_mb)
			continue;
		pthread_mutex_lock(&ip->lock);
		bool same = ip->slots[i].pid == pid && ip->slots[i].generation == gen;
		if (same)
			kill(pid, SIGKILL);
		pthread_mutex_unlock(&ip->lock);
		if (same) {
			atomic_fetch_add(&ip->memory_kills, 1);
			LOG_WARN(ip->name, "plugin process %d uses %llu MiB, over its memory_limit_mb of %u: killed", (int)pid,
			         (unsigned long long)mb, ip->policy.memory_limit_mb);
		}
	}
}

/* Children that ended while nobody used them (killed over their memory
 * limit, or a plugin's own thread crashed) are reaped and restarted now,
 * not when the next delivery finds them. */
static void reap_idle(isolated_plugin *ip)
{
	for (size_t i = 0; i < ip->slot_count; i++) {
		child_slot *s = &ip->slots[i];
		pthread_mutex_lock(&ip->lock);
		siginfo_t info = {0};
		/* waitid() without reaping and without waiting: cheap enough under the lock */
		bool ended = !s->borrowed && s->pid > 0 &&
		             waitid(P_PID, (id_t)s->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == s->pid;
		if (ended)
			s->borrowed = true;
		pthread_mutex_unlock(&ip->lock);
		if (ended)
			reap_if_ended(ip, s);
	}
}

static void *supervisor_main(void *arg)
{
	isolated_plugin *ip = arg;
	pthread_mutex_lock(&ip->lock);
	while (!ip->stopping) {
		int64_t now = clock_monotonic_us();
		child_slot *restart = NULL;
		for (size_t i = 0; i < ip->slot_count && !restart; i++) {
			child_slot *s = &ip->slots[i];
			if (!s->borrowed && s->pid == 0 && now >= s->not_before_us && !ip->quarantined)
				restart = s;
		}
		if (restart) {
			restart->borrowed = true;
			pthread_mutex_unlock(&ip->lock);
			char err[512];
			int died_status;
			int rc = spawn_child(ip, restart, &died_status, err, sizeof err);
			if (rc == 0) {
				atomic_fetch_add(&ip->restarts, 1);
				LOG_INFO(ip->name, "plugin process restarted as %d (%llu restarts)", (int)restart->pid,
				         (unsigned long long)atomic_load(&ip->restarts));
			} else {
				LOG_ERROR(ip->name, "cannot restart the plugin's process: %s; next try in %u ms", err,
				          restart->backoff_ms ? restart->backoff_ms : RESTART_BACKOFF_FIRST_MS);
				/* A process that died starting (init() crashed) is a crash
				 * like any other: without counting it, a plugin whose
				 * init() crashes would be restarted for ever. */
				if (died_status != -1)
					record_crash(ip, NULL, 0, died_status);
			}
			give_back(ip, restart, rc != 0);
			pthread_mutex_lock(&ip->lock);
			continue;
		}
		pthread_mutex_unlock(&ip->lock);
		check_memory(ip);
		reap_idle(ip);
		pthread_mutex_lock(&ip->lock);
		if (ip->stopping)
			break;
		clock_cond_wait_us(&ip->changed, &ip->lock, (int64_t)SUPERVISOR_TICK_MS * 1000);
	}
	pthread_mutex_unlock(&ip->lock);
	return NULL;
}

/* ---- life cycle ---- */

isolated_plugin *isolated_plugin_create(const isolated_host *host, const char *path, const char *expect_name,
                                        const char *expect_version, const ynode *config,
                                        const plugin_policy *policy, char *err, size_t err_size)
{
	isolated_plugin *ip = calloc(1, sizeof *ip);
	if (!ip) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	ip->host = *host;
	ip->name = strdup(expect_name);
	ip->path = strdup(path);
	ip->expect_name = strdup(expect_name);
	ip->expect_version = strdup(expect_version);
	ip->config = config;
	ip->policy = *policy;
	ip->slot_count = policy->workers ? policy->workers : 1;
	/* unknown yet: the first batches carry one delivery each */
	atomic_init(&ip->per_event_us, (int64_t)policy->timeout_ms * 1000);
	ip->slots = calloc(ip->slot_count, sizeof *ip->slots);
	for (size_t i = 0; ip->slots && i < ip->slot_count; i++) {
		ip->slots[i].fd = -1;
		ip->slots[i].progress_fd = -1;
	}
	pthread_mutex_init(&ip->lock, NULL);
	clock_cond_init(&ip->changed);
	if (!ip->name || !ip->path || !ip->expect_name || !ip->expect_version || !ip->slots) {
		snprintf(err, err_size, "out of memory");
		isolated_plugin_free(ip);
		return NULL;
	}
	for (size_t i = 0; i < ip->slot_count; i++) {
		ip->slots[i].borrowed = true;
		if (spawn_child(ip, &ip->slots[i], NULL, err, err_size) != 0) {
			ip->slots[i].borrowed = false;
			isolated_plugin_stop(ip, clock_monotonic_us());
			isolated_plugin_free(ip);
			return NULL;
		}
		ip->slots[i].borrowed = false;
	}
	return ip;
}

int isolated_plugin_start(isolated_plugin *ip)
{
	int rc = pthread_create(&ip->supervisor, NULL, supervisor_main, ip);
	if (rc != 0) {
		LOG_ERROR(ip->name, "cannot start the supervisor of its processes: %s", strerror(rc));
		return -1;
	}
	char tname[16];
	snprintf(tname, sizeof tname, "es-iso-%s", ip->name);
	pthread_setname_np(ip->supervisor, tname);
	ip->supervisor_running = true;
	return 0;
}

void isolated_plugin_reopen(isolated_plugin *ip, int64_t deadline_us)
{
	for (size_t i = 0; i < ip->slot_count; i++) {
		child_slot *s = &ip->slots[i];
		pthread_mutex_lock(&ip->lock);
		bool mine = !s->borrowed && s->pid > 0;
		if (mine)
			s->borrowed = true;
		pthread_mutex_unlock(&ip->lock);
		if (!mine)
			continue;
		chan_msg m = {0};
		chan_msg_begin(&m, CHAN_REOPEN);
		int rc = chan_send(s->fd, &m, deadline_us);
		chan_msg_free(&m);
		uint8_t type = 0;
		chan_cursor c;
		chan_recv_status st = rc == 0 ? recv_answer(ip, s, deadline_us, &type, &c) : CHAN_RECV_CLOSED;
		if (st == CHAN_RECV_OK && type == CHAN_REOPENED) {
			give_back(ip, s, false);
			continue;
		}
		pid_t pid = s->pid;
		pthread_mutex_lock(&ip->lock);
		kill(pid, SIGKILL);
		pthread_mutex_unlock(&ip->lock);
		char how[128];
		reap_child(ip, s, EXIT_GRACE_MS, how, sizeof how);
		LOG_WARN(ip->name, "plugin process %d did not answer reopen() in time and was killed (%s); restarting it",
		         (int)pid, how);
		give_back(ip, s, true);
	}
}

uint32_t isolated_plugin_stop(isolated_plugin *ip, int64_t deadline_us)
{
	/* Held children get the deadline as it is; shutdown() in the idle ones
	 * at least EXIT_GRACE_MS, as in-process plugins get (plugin_instance.c). */
	int64_t shutdown_deadline = clock_monotonic_us() + (int64_t)EXIT_GRACE_MS * 1000;
	if (shutdown_deadline < deadline_us)
		shutdown_deadline = deadline_us;
	pthread_mutex_lock(&ip->lock);
	ip->stopping = true;
	pthread_cond_broadcast(&ip->changed);
	pthread_mutex_unlock(&ip->lock);
	if (ip->supervisor_running) {
		pthread_join(ip->supervisor, NULL);
		ip->supervisor_running = false;
	}
	/* Take every idle slot; wait (bounded) for the borrowed ones, whose
	 * workers end their delivery by the kill deadline at the latest. */
	bool *mine = calloc(ip->slot_count, sizeof *mine);
	uint32_t held = 0;
	pthread_mutex_lock(&ip->lock);
	for (;;) {
		held = 0;
		for (size_t i = 0; i < ip->slot_count; i++) {
			child_slot *s = &ip->slots[i];
			if (mine && !mine[i] && !s->borrowed) {
				s->borrowed = true;
				mine[i] = true;
			}
			if (!mine || !mine[i])
				held++;
		}
		if (held == 0 || clock_monotonic_us() >= deadline_us)
			break;
		clock_cond_wait_us(&ip->changed, &ip->lock, 20000);
	}
	/* Still held: a worker stuck past its deadline.  It is killed now;
	 * that worker reaps it when its wait ends. */
	for (size_t i = 0; i < ip->slot_count; i++)
		if ((!mine || !mine[i]) && ip->slots[i].pid > 0)
			kill(ip->slots[i].pid, SIGKILL);
	pthread_mutex_unlock(&ip->lock);

	/* Ask every child at once, then reap each within the deadline. */
	for (size_t i = 0; mine && i < ip->slot_count; i++) {
		child_slot *s = &ip->slots[i];
		if (!mine[i] || s->pid <= 0)
			continue;
		chan_msg m = {0};
		chan_msg_begin(&m, CHAN_SHUTDOWN);
		(void)chan_send(s->fd, &m, shutdown_deadline);
		chan_msg_free(&m);
	}
	for (size_t i = 0; mine && i < ip->slot_count; i++) {
		child_slot *s = &ip->slots[i];
		if (!mine[i] || s->pid <= 0)
			continue;
		pid_t pid = s->pid;
		/* Serve what shutdown() says (log lines, counters) until the
		 * child closes its end by exiting. */
		uint8_t type;
		chan_cursor c;
		while (recv_answer(ip, s, shutdown_deadline, &type, &c) == CHAN_RECV_OK)
			;
		int64_t left_ms = (shutdown_deadline - clock_monotonic_us()) / 1000;
		char how[128];
		reap_child(ip, s, left_ms > 0 ? left_ms : 0, how, sizeof how);
		if (strcmp(how, "exited with status 0") == 0)
			LOG_INFO(ip->name, "plugin process %d stopped", (int)pid);
		else
			LOG_WARN(ip->name, "plugin process %d %s while stopping", (int)pid, how);
	}
	free(mine);
	return held;
}

void isolated_plugin_free(isolated_plugin *ip)
{
	if (!ip)
		return;
	for (size_t i = 0; ip->slots && i < ip->slot_count; i++) {
		if (ip->slots[i].fd >= 0)
			close(ip->slots[i].fd);
		chan_in_free(&ip->slots[i].in);
		chan_msg_free(&ip->slots[i].out);
		if (ip->slots[i].progress)
			munmap(ip->slots[i].progress, sizeof(chan_progress));
		if (ip->slots[i].progress_fd >= 0)
			close(ip->slots[i].progress_fd);
	}
	free(ip->slots);
	pthread_mutex_destroy(&ip->lock);
	pthread_cond_destroy(&ip->changed);
	free(ip->name);
	free(ip->path);
	free(ip->expect_name);
	free(ip->expect_version);
	free(ip);
}

void isolated_plugin_status(isolated_plugin *ip, isolated_status *out)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&ip->lock);
	for (size_t i = 0; i < ip->slot_count; i++) {
		if (ip->slots[i].pid <= 0)
			continue;
		if (out->children < ISOLATED_STATUS_MAX_PIDS)
			out->pids[out->children] = ip->slots[i].pid;
		out->children++;
	}
	out->slots = (uint32_t)ip->slot_count;
	out->quarantined = ip->quarantined;
	pthread_mutex_unlock(&ip->lock);
	out->restarts = atomic_load(&ip->restarts);
	out->deaths = atomic_load(&ip->deaths);
	out->memory_kills = atomic_load(&ip->memory_kills);
	out->deadline_kills = atomic_load(&ip->deadline_kills);
}
