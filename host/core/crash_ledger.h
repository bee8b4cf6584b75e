/*
 * The crash rules: what the host remembers about plugins that crashed,
 * and what it decides from that.
 *
 * A crash is one (plugin, event, attempt) that was in the plugin's hands
 * when its process died: the daemon itself (an in-process plugin; the
 * signal handler leaves a crash file that crash_ledger_open() reads at the
 * next start) or, for an isolated plugin, its child process (the
 * supervisor calls crash_ledger_record()).  Every crash is appended to the
 * crash history in the state directory (fsync'd) and, with a database, to
 * its delivery_crashes table, where redelivery after a restart counts them
 * (an event that crashed a plugin max_crashes times is dead-lettered for
 * that plugin instead of delivered again).
 *
 * Quarantine: a plugin whose file crashed quarantine_after times within
 * quarantine_window_s (since its last release) is not loaded at the next
 * start or reload (crash_ledger_check()).  It is released by replacing its
 * file (another identity: the check notices and releases it) or by
 * crash_ledger_release() (the admin endpoint).  Events that would have gone
 * to it are counted (crash_ledger_note_event()).
 *
 * An isolated plugin's supervisor, when a child dies with deliveries in
 * flight, calls for each of them crash_ledger_record() with the plugin's
 * name and file identity (plugin_instance_file_id()), the event's id and
 * seq, the attempt, the signal (crash_signal_name(WTERMSIG(status)), or
 * "exit") and the time; then crash_ledger_event_crashes() >= the plugin's
 * max_crashes means: dead-letter that delivery with the reason "crashed the
 * plugin N times" instead of retrying it; and crash_ledger_may_load() false
 * means: do not restart the child, ask for a reload (which leaves the
 * quarantined plugin out) -- everything else follows from the ledger.
 *
 * Threads: open/free on the main thread; everything else from any thread
 * (one mutex, never held while calling out, except the history file's
 * write).
 */
#ifndef ES_CRASH_LEDGER_H
#define ES_CRASH_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crash_file.h"
#include "db/database.h"

typedef struct crash_ledger crash_ledger;

/* The rules for one plugin (its policy; config keys of the same names). */
typedef struct crash_rules {
	uint32_t max_crashes;         /* crashes of one event before it is dead-lettered for the plugin */
	uint32_t quarantine_after;    /* crashes within the window that quarantine the plugin; 0: never */
	uint32_t quarantine_window_s;
} crash_rules;

/* Why a plugin is quarantined. */
typedef struct quarantine_info {
	char plugin[65];
	uint32_t crashes;   /* within the window that decided it */
	uint32_t window_s;
	int64_t since_us;   /* realtime: when the quarantine was decided */
	uint64_t events_skipped; /* events that matched its subscriptions meanwhile */
	crash_record last;  /* its last crash */
} quarantine_info;

typedef struct crash_ledger_stats {
	uint64_t crashes;          /* crashes recorded by this run (read at start or reported) */
	uint64_t quarantines;      /* quarantines decided by this run */
	uint64_t releases;         /* by file replacement or the endpoint */
	uint64_t unreadable_files; /* crash files that were corrupt or cut short */
	uint32_t quarantined;      /* now */
} crash_ledger_stats;

/* Open the ledger on `state_dir` (NULL or "": memory only).  Reads the
 * history, then the crash file a dying run left: logs it, appends it to the
 * history and removes it (a corrupt one is logged and moved aside to
 * crash.corrupt).  When the history cannot be written, the crash file is
 * kept as crash.kept.<time> (read by every start, not counted again) until
 * it can be; crash_ledger_problem() says so.  A directory that cannot be used is logged and the ledger
 * works from memory.  NULL only when out of memory. */
crash_ledger *crash_ledger_open(const char *state_dir);
/* The same for --check-config: reads the history and the crash file and
 * decides as a start would, but writes, moves and removes nothing. */
crash_ledger *crash_ledger_open_readonly(const char *state_dir);
void crash_ledger_free(crash_ledger *ledger);
/* Where the signal handler writes (crash_report_install()); "" when the
 * state directory cannot be used. */
const char *crash_ledger_crash_file(const crash_ledger *ledger);
/* Hand the database every remembered crash of an event with a key, so
 * delivery_crashes has them before redelivery (idempotent: the database
 * ignores one it has).  Call after database_start(), before
 * database_allow_recovery(); later crashes are handed over as recorded. */
void crash_ledger_attach_database(crash_ledger *ledger, database *db);

/* Record that `crash->plugin` crashed handling `crash->event_id`
 * (`seq`, `attempt`): history, database, counts.  0, or -1 when the history
 * could not be written (logged; still counted in memory). */
int crash_ledger_record(crash_ledger *ledger, const crash_record *crash);
/* How many crashes of `plugin` on the event `event_id` are remembered. */
uint32_t crash_ledger_event_crashes(crash_ledger *ledger, const char *plugin, const char *event_id);

/* At load (start, reload): may the plugin `plugin` whose file has identity
 * `file_id` be loaded?  false: it is quarantined (now or since before), and
 * *why says why.  A plugin quarantined for another file than `file_id` is
 * released ("file replaced", logged and in the history).  `patterns` (its
 * subscriptions, copied) are what crash_ledger_note_event() matches. */
bool crash_ledger_may_load(crash_ledger *ledger, const char *plugin, const char *file_id, const crash_rules *rules,
                           const char *const *patterns, size_t pattern_count, quarantine_info *why);
/* Release a quarantined plugin: it is loaded at the next start or reload.
 * `by` (who) and `reason` go to the history.  0, or -1 when it is not
 * quarantined. */
int crash_ledger_release(crash_ledger *ledger, const char *plugin, const char *by, const char *reason);
/* Whether `plugin` is quarantined now (*why filled when so; may be NULL). */
bool crash_ledger_quarantined(crash_ledger *ledger, const char *plugin, quarantine_info *why);
/* The quarantined plugins (at most `cap`); returns how many there are. */
size_t crash_ledger_list(crash_ledger *ledger, quarantine_info *out, size_t cap);
/* An event named `event_name` was admitted: count it for every quarantined
 * plugin it would have gone to (logged at the first, then every 1000th).
 * Cheap when nothing is quarantined. */
void crash_ledger_note_event(crash_ledger *ledger, const char *event_id, const char *event_name);

/* Whether the crash history or the crash file cannot be used (unreadable,
 * unwritable): true and *why says which, why, and what is lost.  A start
 * logs it; /health shows it. */
bool crash_ledger_problem(crash_ledger *ledger, char *why, size_t why_size);

void crash_ledger_stats_get(crash_ledger *ledger, crash_ledger_stats *out);

#endif
