/*
 * The crash rules: see crash_ledger.h.
 */
#include "config.h"

#include "core/crash_ledger.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/pattern.h"
#include "util/clock.h"
#include "util/log.h"

/* Crashes remembered (the newest); the history file is rewritten with
 * these when it grows past HISTORY_MAX_LINES. */
#define LEDGER_MAX 512
#define HISTORY_MAX_LINES 2048
#define MAX_QUARANTINED 64
#define MAX_PATTERNS 32
/* Crash files kept aside while the history cannot be written
 * ("crash.kept.<time_us>", zero-padded so names sort by time). */
#define KEPT_PREFIX "crash.kept."
#define KEPT_MAX 64

/* A plugin's latest release.  What counts is its place in the history,
 * not its time: crashes remembered after it count, whatever the clock said
 * (a clock stepped back leaves crashes "in the future" of a release). */
typedef struct release_mark {
	char plugin[65];
	int64_t at_us;
	uint64_t after; /* the order of the last crash remembered before it */
} release_mark;

typedef struct quarantined {
	quarantine_info info;
	char *patterns[MAX_PATTERNS];
	size_t pattern_count;
} quarantined;

struct crash_ledger {
	pthread_mutex_t lock;
	char dir[4096];
	char history_path[4200];
	char crash_path[4200];
	bool writable;          /* the state directory can be used */
	bool read_only;         /* --check-config: read, decide, write nothing */
	/* Why the history (or the crash file) cannot be used, "" when it can:
	 * logged at start, shown by /health (crash_ledger_problem()). */
	char problem[700];
	size_t history_lines;
	database *db;
	crash_record records[LEDGER_MAX]; /* a ring, oldest first from `first` */
	uint64_t order[LEDGER_MAX];       /* each record's place in the history (1, 2, ...) */
	uint64_t last_order;              /* the newest record's */
	size_t first, count;
	release_mark *releases;
	size_t release_count;
	quarantined q[MAX_QUARANTINED];
	size_t q_count;
	atomic_uint q_count_hint; /* read without the lock by note_event */
	_Atomic uint64_t crashes, quarantines, release_total, unreadable;
};

static const crash_record *record_at(const crash_ledger *l, size_t i)
{
	return &l->records[(l->first + i) % LEDGER_MAX];
}

static uint64_t order_at(const crash_ledger *l, size_t i)
{
	return l->order[(l->first + i) % LEDGER_MAX];
}

/* Under lock. */
static void remember_crash(crash_ledger *l, const crash_record *r)
{
	size_t slot;
	if (l->count == LEDGER_MAX) {
		slot = l->first;
		l->first = (l->first + 1) % LEDGER_MAX;
	} else {
		slot = (l->first + l->count++) % LEDGER_MAX;
	}
	l->records[slot] = *r;
	l->order[slot] = ++l->last_order;
}

/* A release of `plugin` now (in history order: after every crash
 * remembered so far).  Under lock. */
static void remember_release(crash_ledger *l, const char *plugin, int64_t at_us)
{
	for (size_t i = 0; i < l->release_count; i++)
		if (strcmp(l->releases[i].plugin, plugin) == 0) {
			l->releases[i].at_us = at_us;
			l->releases[i].after = l->last_order;
			return;
		}
	release_mark *grown = realloc(l->releases, (l->release_count + 1) * sizeof *grown);
	if (!grown)
		return;
	l->releases = grown;
	snprintf(grown[l->release_count].plugin, sizeof grown->plugin, "%s", plugin);
	grown[l->release_count].at_us = at_us;
	grown[l->release_count++].after = l->last_order;
}

/* The order after which crashes of `plugin` count (0: all of them). */
static uint64_t released_after(const crash_ledger *l, const char *plugin)
{
	for (size_t i = 0; i < l->release_count; i++)
		if (strcmp(l->releases[i].plugin, plugin) == 0)
			return l->releases[i].after;
	return 0;
}

/* Say why the history cannot be used (crash_ledger_problem()).  Under lock
 * or before anyone else sees the ledger. */
static void __attribute__((format(printf, 2, 3))) set_problem(crash_ledger *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->problem, sizeof l->problem, fmt, ap);
	va_end(ap);
}

/* Append one line to the history and fsync it.  Under lock. */
static int append_history(crash_ledger *l, const char *line)
{
	if (l->read_only)
		return 0;
	if (!l->writable)
		return -1;
	int fd = open(l->history_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	int rc = -1;
	if (fd >= 0) {
		size_t len = strlen(line);
		ssize_t n = write(fd, line, len);
		rc = n == (ssize_t)len && fsync(fd) == 0 ? 0 : -1;
		close(fd);
	}
	if (rc != 0) {
		int err = errno;
		LOG_ERROR("crash", "cannot write the crash history %s: %s", l->history_path, strerror(err));
		if (!l->problem[0])
			set_problem(l,
			         "cannot write the crash history %s (%s): crashes are kept as " KEPT_PREFIX
			         "* files in %s until it can be written",
			         l->history_path, strerror(err), l->dir);
		return -1;
	}
	l->history_lines++;
	return 0;
}

/* Rewrite the history with what is remembered (bounded).  Under lock. */
static void compact_history(crash_ledger *l)
{
	char tmp[4300];
	snprintf(tmp, sizeof tmp, "%s.new", l->history_path);
	/* Created here, never followed: a link planted at the name must not
	 * redirect the write, and the history stays 0600 like its appends. */
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f) {
		if (fd >= 0)
			close(fd);
		LOG_WARN("crash", "cannot compact the crash history through %s: %s", tmp, strerror(errno));
		return;
	}
	/* In history order: each release before the crashes that came after
	 * it, so they still count and the earlier ones still do not. */
	char line[1400];
	bool *written = calloc(l->release_count ? l->release_count : 1, sizeof *written);
	if (!written) {
		fclose(f);
		unlink(tmp);
		return;
	}
	for (size_t i = 0; i <= l->count; i++) {
		uint64_t next = i < l->count ? order_at(l, i) : UINT64_MAX;
		for (size_t j = 0; j < l->release_count; j++)
			if (!written[j] && l->releases[j].after < next) {
				crash_history_format_release(l->releases[j].at_us, l->releases[j].plugin, "history", "kept", line,
				                             sizeof line);
				fputs(line, f);
				written[j] = true;
			}
		if (i < l->count) {
			crash_history_format_crash(record_at(l, i), line, sizeof line);
			fputs(line, f);
		}
	}
	free(written);
	bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = (fclose(f) == 0) && ok;
	if (ok && rename(tmp, l->history_path) == 0) {
		l->history_lines = l->release_count + l->count;
		LOG_INFO("crash", "crash history %s compacted to %zu lines", l->history_path, l->history_lines);
	} else {
		unlink(tmp);
	}
}

static void read_history(crash_ledger *l)
{
	int fd = open(l->history_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
	if (!f) {
		if (errno == ENOENT)
			return;
		int err = errno;
		if (fd >= 0)
			close(fd);
		set_problem(l,
		         "cannot read the crash history %s (%s): the crashes it holds are not counted, so quarantine and "
		         "max_crashes do not see them",
		         l->history_path, strerror(err));
		LOG_ERROR("crash", "%s", l->problem);
		return;
	}
	char line[2048];
	size_t bad = 0;
	while (fgets(line, sizeof line, f)) {
		size_t len = strlen(line);
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(f)) { /* longer than any line we write: skip the rest */
			int c;
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			bad++;
			continue;
		}
		l->history_lines++;
		crash_record r;
		switch (crash_history_parse(line, &r)) {
		case HISTORY_CRASH:
			remember_crash(l, &r);
			break;
		case HISTORY_RELEASE:
			remember_release(l, r.plugin, r.at_us);
			break;
		case HISTORY_BAD:
			bad++;
			break;
		}
	}
	if (ferror(f)) {
		set_problem(l,
		         "cannot read the crash history %s (%s): the crashes it holds are not counted, so quarantine and "
		         "max_crashes do not see them",
		         l->history_path, strerror(errno));
		LOG_ERROR("crash", "%s", l->problem);
	}
	fclose(f);
	if (bad)
		LOG_WARN("crash", "crash history %s: %zu unreadable line%s ignored", l->history_path, bad,
		         bad == 1 ? "" : "s");
}

static void describe(const crash_record *r, char *out, size_t size)
{
	char when[40] = "an unknown time";
	if (r->at_us > 0) {
		time_t secs = (time_t)(r->at_us / 1000000);
		struct tm tm;
		gmtime_r(&secs, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	if (r->attempt == 0 && !r->event_id[0]) /* crash_report_enter_call() */
		snprintf(out, size, "%s in plugin '%s' outside handle() (init(), reopen(), shutdown() or a handle_batch() of several events) at %s",
		         r->signal, r->plugin, when);
	else
		snprintf(out, size, "%s in plugin '%s' handling event %s (attempt %u) at %s", r->signal, r->plugin,
		         r->event_id[0] ? r->event_id : "(unknown)", r->attempt, when);
}

/* The crash file the last run left, if any. */
static void read_crash_file(crash_ledger *l)
{
	int fd = open(l->crash_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT)
			LOG_WARN("crash", "cannot read the crash file %s: %s", l->crash_path, strerror(errno));
		return;
	}
	char buf[CRASH_FILE_MAX + 1];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof buf && (n = read(fd, buf + len, sizeof buf - len)) > 0)
		len += (size_t)n;
	close(fd);
	crash_record r;
	char why[200];
	if (crash_file_parse(buf, len, &r, why, sizeof why) != 0) {
		atomic_fetch_add(&l->unreadable, 1);
		if (l->read_only) {
			LOG_WARN("crash", "the crash file %s is unreadable (%s): a start ignores it", l->crash_path, why);
			return;
		}
		char aside[4300];
		snprintf(aside, sizeof aside, "%s.corrupt", l->crash_path);
		bool moved = rename(l->crash_path, aside) == 0;
		LOG_WARN("crash", "the crash file %s is unreadable (%s): ignored%s%s", l->crash_path, why,
		         moved ? ", moved to " : "", moved ? aside : "");
		if (!moved)
			unlink(l->crash_path);
		return;
	}
	char text[600];
	describe(&r, text, sizeof text);
	LOG_WARN("crash", "the last run died: %s; %s", text,
	         r.event_id[0] ? "counted as a crashed attempt of that event for that plugin"
	                       : "counted for the plugin only (no event was named)");
	remember_crash(l, &r);
	atomic_fetch_add(&l->crashes, 1);
	if (l->read_only)
		return; /* the start that follows reads it again */
	char line[1400];
	crash_history_format_crash(&r, line, sizeof line);
	if (append_history(l, line) == 0) {
		unlink(l->crash_path);
		return;
	}
	/* Not lost, and not reported again at the next start: set aside under
	 * a name of its own (the next crash writes a new crash file), read by
	 * every start (read_kept_crashes) until the history can be written. */
	char kept[4300];
	snprintf(kept, sizeof kept, "%s/" KEPT_PREFIX "%020" PRId64, l->dir, r.at_us);
	if (rename(l->crash_path, kept) == 0)
		LOG_WARN("crash", "the crash is kept as %s until the crash history can be written", kept);
	else
		LOG_ERROR("crash", "cannot keep the crash file as %s (%s): the next start reports it again", kept,
		          strerror(errno));
}

static int is_kept(const struct dirent *d)
{
	return strncmp(d->d_name, KEPT_PREFIX, sizeof KEPT_PREFIX - 1) == 0;
}

/* Crashes set aside by earlier starts that could not write the history:
 * remembered (not counted again), and moved into the history when it can
 * be written now.  At most KEPT_MAX, the newest. */
static void read_kept_crashes(crash_ledger *l)
{
	struct dirent **names = NULL;
	int n = scandir(l->dir, &names, is_kept, alphasort);
	if (n < 0)
		return;
	size_t moved = 0;
	for (int i = 0; i < n; i++) {
		char path[4400];
		snprintf(path, sizeof path, "%s/%s", l->dir, names[i]->d_name);
		free(names[i]);
		if (i < n - KEPT_MAX) {
			if (!l->read_only && unlink(path) == 0)
				LOG_WARN("crash", "kept crash file %s removed: more than %d are kept", path, KEPT_MAX);
			continue;
		}
		char buf[CRASH_FILE_MAX + 1];
		size_t len = 0;
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd >= 0) {
			ssize_t got;
			while (len < sizeof buf && (got = read(fd, buf + len, sizeof buf - len)) > 0)
				len += (size_t)got;
			close(fd);
		}
		crash_record r;
		char why[200];
		if (fd < 0 || crash_file_parse(buf, len, &r, why, sizeof why) != 0) {
			LOG_WARN("crash", "kept crash file %s is unreadable (%s): ignored", path,
			         fd < 0 ? strerror(errno) : why);
			continue;
		}
		remember_crash(l, &r);
		if (l->read_only || l->problem[0])
			continue;
		char line[1400];
		crash_history_format_crash(&r, line, sizeof line);
		if (append_history(l, line) == 0 && unlink(path) == 0)
			moved++;
	}
	free(names);
	if (moved)
		LOG_INFO("crash", "%zu kept crash file%s moved into the crash history %s", moved, moved == 1 ? "" : "s",
		         l->history_path);
}

/* Whether a start can append to the history and the signal handler can
 * rewrite the crash file: otherwise say so now, not at the first crash. */
static void check_writable(crash_ledger *l)
{
	int fd = open(l->history_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd >= 0) {
		close(fd);
	} else { /* over an unreadable history: this one is what the operator sees happen */
		set_problem(l,
		         "cannot write the crash history %s (%s): crashes are kept as " KEPT_PREFIX
		         "* files in %s until it can be written",
		         l->history_path, strerror(errno), l->dir);
		LOG_ERROR("crash", "%s", l->problem);
	}
	fd = open(l->crash_path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd >= 0) {
		close(fd);
	} else if (errno != ENOENT) {
		set_problem(l,
		         "cannot write the crash file %s (%s): a plugin that crashes the daemon is not remembered, so "
		         "quarantine is off",
		         l->crash_path, strerror(errno));
		LOG_ERROR("crash", "%s", l->problem);
	}
}

static crash_ledger *open_ledger(const char *state_dir, bool read_only)
{
	crash_ledger *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->read_only = read_only;
	pthread_mutex_init(&l->lock, NULL);
	if (!state_dir || !*state_dir) {
		LOG_INFO("crash", "no state directory: crashes are logged, not remembered across restarts");
		return l;
	}
	snprintf(l->dir, sizeof l->dir, "%s", state_dir);
	snprintf(l->history_path, sizeof l->history_path, "%s/crash-history", state_dir);
	snprintf(l->crash_path, sizeof l->crash_path, "%s/crash", state_dir);
	struct stat st;
	if (stat(state_dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(state_dir, W_OK | X_OK) != 0) {
		LOG_WARN("crash", "state directory %s cannot be used (%s): crashes are logged, not remembered across "
		                  "restarts, and no plugin is quarantined",
		         state_dir, errno ? strerror(errno) : "not a directory");
		l->crash_path[0] = '\0';
		return l;
	}
	l->writable = true;
	read_history(l);
	if (!read_only)
		check_writable(l);
	read_kept_crashes(l);
	read_crash_file(l);
	if (!read_only && l->history_lines > HISTORY_MAX_LINES)
		compact_history(l);
	return l;
}

crash_ledger *crash_ledger_open(const char *state_dir)
{
	return open_ledger(state_dir, false);
}

crash_ledger *crash_ledger_open_readonly(const char *state_dir)
{
	return open_ledger(state_dir, true);
}

void crash_ledger_free(crash_ledger *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->q_count; i++)
		for (size_t j = 0; j < l->q[i].pattern_count; j++)
			free(l->q[i].patterns[j]);
	free(l->releases);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

const char *crash_ledger_crash_file(const crash_ledger *l)
{
	return l->writable ? l->crash_path : "";
}

static void to_database(database *db, const crash_record *r)
{
	if (!r->seq)
		return;
	database_crash c = {.seq = r->seq, .attempt = r->attempt, .at_us = r->at_us};
	snprintf(c.plugin, sizeof c.plugin, "%s", r->plugin);
	snprintf(c.signal, sizeof c.signal, "%s", r->signal);
	database_note_crash(db, &c);
}

void crash_ledger_attach_database(crash_ledger *l, database *db)
{
	if (!l || !database_running(db))
		return;
	pthread_mutex_lock(&l->lock);
	l->db = db;
	for (size_t i = 0; i < l->count; i++)
		to_database(db, record_at(l, i));
	pthread_mutex_unlock(&l->lock);
}

int crash_ledger_record(crash_ledger *l, const crash_record *crash)
{
	char line[1400];
	crash_history_format_crash(crash, line, sizeof line);
	pthread_mutex_lock(&l->lock);
	remember_crash(l, crash);
	int rc = append_history(l, line);
	if (l->db)
		to_database(l->db, crash);
	pthread_mutex_unlock(&l->lock);
	atomic_fetch_add(&l->crashes, 1);
	return rc;
}

uint32_t crash_ledger_event_crashes(crash_ledger *l, const char *plugin, const char *event_id)
{
	uint32_t n = 0;
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->count; i++) {
		const crash_record *r = record_at(l, i);
		n += strcmp(r->plugin, plugin) == 0 && strcmp(r->event_id, event_id) == 0;
	}
	pthread_mutex_unlock(&l->lock);
	return n;
}

static quarantined *find_quarantined(crash_ledger *l, const char *plugin)
{
	for (size_t i = 0; i < l->q_count; i++)
		if (strcmp(l->q[i].info.plugin, plugin) == 0)
			return &l->q[i];
	return NULL;
}

/* Under lock. */
static void unquarantine(crash_ledger *l, quarantined *q)
{
	for (size_t j = 0; j < q->pattern_count; j++)
		free(q->patterns[j]);
	*q = l->q[--l->q_count];
	memset(&l->q[l->q_count], 0, sizeof l->q[l->q_count]);
	atomic_store(&l->q_count_hint, (unsigned)l->q_count);
}

/* Under lock. */
static void release_locked(crash_ledger *l, const char *plugin, const char *by, const char *reason)
{
	int64_t now = clock_realtime_us();
	char line[1024];
	crash_history_format_release(now, plugin, by, reason, line, sizeof line);
	append_history(l, line);
	remember_release(l, plugin, now);
	quarantined *q = find_quarantined(l, plugin);
	if (q)
		unquarantine(l, q);
	atomic_fetch_add(&l->release_total, 1);
}

/* Whether the crashes of `plugin` since its release put it in quarantine:
 * `after` of them within `window` of each other.  *count and *last get the
 * deciding numbers.  Under lock. */
static bool rule_met(crash_ledger *l, const char *plugin, const crash_rules *rules, uint32_t *count,
                     const crash_record **last)
{
	uint64_t after = released_after(l, plugin);
	const crash_record *mine[LEDGER_MAX];
	size_t n = 0;
	for (size_t i = 0; i < l->count; i++) {
		const crash_record *r = record_at(l, i);
		if (strcmp(r->plugin, plugin) == 0 && order_at(l, i) > after)
			mine[n++] = r;
	}
	*last = n ? mine[n - 1] : NULL;
	*count = 0;
	if (rules->quarantine_after == 0 || n < rules->quarantine_after)
		return false;
	int64_t window = (int64_t)rules->quarantine_window_s * 1000000;
	/* any `after` consecutive crashes (in history order) within the window;
	 * a later crash with an earlier time (the clock stepped back) is
	 * within it */
	for (size_t i = 0; i + rules->quarantine_after <= n; i++) {
		const crash_record *a = mine[i], *b = mine[i + rules->quarantine_after - 1];
		if (b->at_us - a->at_us <= window) {
			*count = rules->quarantine_after;
			return true;
		}
	}
	return false;
}

bool crash_ledger_may_load(crash_ledger *l, const char *plugin, const char *file_id, const crash_rules *rules,
                           const char *const *patterns, size_t pattern_count, quarantine_info *why)
{
	if (!l)
		return true;
	pthread_mutex_lock(&l->lock);
	uint32_t crashes = 0;
	const crash_record *last = NULL;
	bool met = rule_met(l, plugin, rules, &crashes, &last);
	quarantined *q = find_quarantined(l, plugin);
	if ((met || q) && last && last->file_id[0] && strcmp(last->file_id, file_id) != 0) {
		/* The operator put another file in its place: that is the release. */
		LOG_WARN("crash", "plugin '%s' released from quarantine: its file was replaced", plugin);
		release_locked(l, plugin, "loader", "file replaced");
		pthread_mutex_unlock(&l->lock);
		return true;
	}
	if (!met && q) {
		/* Decided under other rules (a reload raised quarantine_after or
		 * shortened quarantine_window_s): these rules let it load.  Not a
		 * release: rules lowered again quarantine it on the same crashes. */
		LOG_WARN("crash",
		         "plugin '%s' no longer quarantined: its crashes since its last release do not reach the crash "
		         "rules now in force (quarantine_after %u within quarantine_window_s %u)",
		         plugin, rules->quarantine_after, rules->quarantine_window_s);
		unquarantine(l, q);
		q = NULL;
	}
	if (!met) {
		pthread_mutex_unlock(&l->lock);
		return true;
	}
	if (!q && met && last && l->q_count < MAX_QUARANTINED) {
		q = &l->q[l->q_count++];
		memset(q, 0, sizeof *q);
		snprintf(q->info.plugin, sizeof q->info.plugin, "%s", plugin);
		q->info.crashes = crashes;
		q->info.window_s = rules->quarantine_window_s;
		q->info.since_us = clock_realtime_us();
		q->info.last = *last;
		atomic_fetch_add(&l->quarantines, 1);
		atomic_store(&l->q_count_hint, (unsigned)l->q_count);
		char text[600];
		describe(last, text, sizeof text);
		LOG_ERROR("crash",
		          "plugin '%s' quarantined: it crashed %u times within %u s (last: %s); it is not loaded until its "
		          "file is replaced or POST /api/plugins/%s/release",
		          plugin, crashes, rules->quarantine_window_s, text, plugin);
	}
	if (q) {
		for (size_t j = 0; j < q->pattern_count; j++)
			free(q->patterns[j]);
		q->pattern_count = 0;
		for (size_t j = 0; j < pattern_count && j < MAX_PATTERNS; j++)
			if ((q->patterns[q->pattern_count] = strdup(patterns[j])))
				q->pattern_count++;
		if (why)
			*why = q->info;
	} else if (why) {
		memset(why, 0, sizeof *why);
		snprintf(why->plugin, sizeof why->plugin, "%s", plugin);
		why->crashes = crashes;
		if (last)
			why->last = *last;
	}
	pthread_mutex_unlock(&l->lock);
	return false;
}

int crash_ledger_release(crash_ledger *l, const char *plugin, const char *by, const char *reason)
{
	pthread_mutex_lock(&l->lock);
	bool was = find_quarantined(l, plugin) != NULL;
	if (was)
		release_locked(l, plugin, by, reason);
	pthread_mutex_unlock(&l->lock);
	return was ? 0 : -1;
}

bool crash_ledger_quarantined(crash_ledger *l, const char *plugin, quarantine_info *why)
{
	if (!l || atomic_load(&l->q_count_hint) == 0)
		return false;
	pthread_mutex_lock(&l->lock);
	quarantined *q = find_quarantined(l, plugin);
	if (q && why)
		*why = q->info;
	pthread_mutex_unlock(&l->lock);
	return q != NULL;
}

size_t crash_ledger_list(crash_ledger *l, quarantine_info *out, size_t cap)
{
	if (!l || atomic_load(&l->q_count_hint) == 0)
		return 0;
	pthread_mutex_lock(&l->lock);
	size_t n = l->q_count;
	for (size_t i = 0; i < n && i < cap; i++)
		out[i] = l->q[i].info;
	pthread_mutex_unlock(&l->lock);
	return n;
}

void crash_ledger_note_event(crash_ledger *l, const char *event_id, const char *event_name)
{
	if (!l || atomic_load_explicit(&l->q_count_hint, memory_order_relaxed) == 0)
		return;
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->q_count; i++) {
		quarantined *q = &l->q[i];
		bool matches = false;
		for (size_t j = 0; j < q->pattern_count && !matches; j++)
			matches = pattern_match(q->patterns[j], event_name);
		if (!matches)
			continue;
		uint64_t n = ++q->info.events_skipped;
		if (n == 1 || n % 1000 == 0)
			LOG_WARN(q->info.plugin,
			         "event %s (%s) not delivered: the plugin is quarantined (%llu event%s so far; see "
			         "GET /api/plugins)",
			         event_id, event_name, (unsigned long long)n, n == 1 ? "" : "s");
	}
	pthread_mutex_unlock(&l->lock);
}

bool crash_ledger_problem(crash_ledger *l, char *why, size_t why_size)
{
	if (!l)
		return false;
	pthread_mutex_lock(&l->lock);
	bool has = l->problem[0] != '\0';
	if (has)
		snprintf(why, why_size, "%s", l->problem);
	pthread_mutex_unlock(&l->lock);
	return has;
}

void crash_ledger_stats_get(crash_ledger *l, crash_ledger_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!l)
		return;
	out->crashes = atomic_load(&l->crashes);
	out->quarantines = atomic_load(&l->quarantines);
	out->releases = atomic_load(&l->release_total);
	out->unreadable_files = atomic_load(&l->unreadable);
	out->quarantined = atomic_load(&l->q_count_hint);
}
