/* The crash rules: crash files as the signal handler writes them (and
 * damaged ones), history lines, and the quarantine decisions of the crash
 * ledger (window, release, file replacement, survival across opens). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/crash_file.h"
#include "core/crash_ledger.h"

static const char whole[] = "event-system-crash 1\nsignal SIGSEGV\nplugin crash\nfile 1:2:3:4.000000005\n"
                            "event id%20with%20spaces\nseq 42\nattempt 2\ntime_us 1700000000000000\npid 7\nend\n";

static void a_whole_crash_file_parses(void **state)
{
	crash_record r;
	char why[200];
	assert_int_equal(crash_file_parse(whole, sizeof whole - 1, &r, why, sizeof why), 0);
	assert_string_equal(r.plugin, "crash");
	assert_string_equal(r.signal, "SIGSEGV");
	assert_string_equal(r.file_id, "1:2:3:4.000000005");
	assert_string_equal(r.event_id, "id with spaces");
	assert_int_equal(r.seq, 42);
	assert_int_equal(r.attempt, 2);
	assert_int_equal(r.at_us, 1700000000000000);
}

static void damaged_crash_files_are_refused(void **state)
{
	crash_record r;
	char why[200];
	/* every prefix is a file cut short */
	for (size_t n = 0; n < sizeof whole - 2; n++)
		assert_int_equal(crash_file_parse(whole, n, &r, why, sizeof why), -1);
	static const char *const bad[] = {
		"event-system-crash 2\nend\n",
		"event-system-crash 1\nsignal SIGSEGV\nplugin Crash!\nfile -\nevent e\nseq 0\nattempt 1\ntime_us 1\nend\n",
		"event-system-crash 1\nsignal SIGSEGV\nplugin crash\nfile -\nevent e\nseq x\nattempt 1\ntime_us 1\nend\n",
		"event-system-crash 1\nsignal SIGSEGV\nplugin crash\nfile -\nevent e\nseq 0\nattempt 0\ntime_us 1\nend\n",
		"event-system-crash 1\nsignal SIGSEGV\nplugin crash\nfile -\nevent e%0\nseq 0\nattempt 1\ntime_us 1\nend\n",
		"event-system-crash 1\nsignal SIGSEGV\nplugin crash\nfile -\nseq 0\nattempt 1\ntime_us 1\nend\n",
		"event-system-crash 1\nsignal SIGSEGV\nplugin crash\nfile -\nevent e\nseq 0\nattempt 1\ntime_us 1\nend\nmore\n",
		"event-system-crash 1\nbogus 1\nend\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(crash_file_parse(bad[i], strlen(bad[i]), &r, why, sizeof why), -1);
	/* a crash in init(), reopen() or shutdown(): no event, attempt 0 */
	static const char outside[] =
		"event-system-crash 1\nsignal SIGSEGV\nplugin crash\nfile -\nevent -\nseq 0\nattempt 0\ntime_us 1\nend\n";
	assert_int_equal(crash_file_parse(outside, strlen(outside), &r, why, sizeof why), 0);
	assert_int_equal(r.attempt, 0);
	assert_string_equal(r.event_id, "");
	char line[1400];
	crash_history_format_crash(&r, line, sizeof line);
	line[strcspn(line, "\n")] = '\0';
	crash_record back;
	assert_int_equal(crash_history_parse(line, &back), HISTORY_CRASH);
	assert_string_equal(back.plugin, "crash");
	assert_int_equal(back.attempt, 0);
	char nul[] = "event-system-crash 1\n\0end\n";
	assert_int_equal(crash_file_parse(nul, sizeof nul - 1, &r, why, sizeof why), -1);
	assert_string_equal(why, "contains NUL bytes");
}

static void escaping_round_trips(void **state)
{
	static const char *const ids[] = {"plain", "with space", "100%", "-", "tab\there", "ünï", "a/b:c"};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		char esc[200], back[100];
		esc[crash_escape(esc, 0, sizeof esc, ids[i])] = '\0';
		assert_null(strpbrk(esc, " \t\n"));
		assert_true(crash_unescape(esc, back, sizeof back));
		assert_string_equal(back, ids[i]);
	}
	char esc[8];
	esc[crash_escape(esc, 0, sizeof esc, "")] = '\0';
	assert_string_equal(esc, "-");
}

static void history_lines_round_trip(void **state)
{
	crash_record r = {.plugin = "p-1", .file_id = "9:9:9:9.1", .event_id = "e 1", .seq = 5, .attempt = 3,
	                  .signal = "SIGBUS", .at_us = 123};
	char line[1400], *nl;
	crash_history_format_crash(&r, line, sizeof line);
	assert_non_null(nl = strchr(line, '\n'));
	*nl = '\0';
	crash_record back;
	assert_int_equal(crash_history_parse(line, &back), HISTORY_CRASH);
	assert_string_equal(back.plugin, "p-1");
	assert_string_equal(back.event_id, "e 1");
	assert_string_equal(back.signal, "SIGBUS");
	assert_int_equal(back.seq, 5);
	assert_int_equal(back.attempt, 3);
	crash_history_format_release(456, "p-1", "api token ops", "released", line, sizeof line);
	*strchr(line, '\n') = '\0';
	assert_int_equal(crash_history_parse(line, &back), HISTORY_RELEASE);
	assert_int_equal(back.at_us, 456);
	assert_int_equal(crash_history_parse("crash 1 p", &back), HISTORY_BAD);
	assert_int_equal(crash_history_parse("release -1 p a b", &back), HISTORY_BAD);
}

/* Every value of a history line comes back as it was, spaces, newlines
 * and all (a signal named with spaces, "a fatal signal", made the line
 * unreadable: the crash vanished from the history). */
static void hostile_values_round_trip(void **state)
{
	crash_record r = {.plugin = "p", .file_id = "a file id", .signal = "a fatal signal", .seq = 1, .attempt = 2,
	                  .at_us = 7};
	memset(r.event_id, ' ', sizeof r.event_id - 1); /* the longest id, every byte escaped */
	r.event_id[0] = '\n';
	r.event_id[1] = '%';
	char line[1400], *nl;
	crash_history_format_crash(&r, line, sizeof line);
	assert_non_null(nl = strchr(line, '\n'));
	assert_int_equal(nl[1], '\0'); /* one line */
	*nl = '\0';
	crash_record back;
	assert_int_equal(crash_history_parse(line, &back), HISTORY_CRASH);
	assert_string_equal(back.signal, "a fatal signal");
	assert_string_equal(back.file_id, "a file id");
	assert_string_equal(back.event_id, r.event_id);
	/* the same values in a crash file */
	char file[CRASH_FILE_MAX];
	size_t n = (size_t)snprintf(file, sizeof file, "event-system-crash 1\nsignal ");
	n = crash_escape(file, n, sizeof file, r.signal);
	n += (size_t)snprintf(file + n, sizeof file - n, "\nplugin p\nfile ");
	n = crash_escape(file, n, sizeof file, r.file_id);
	n += (size_t)snprintf(file + n, sizeof file - n, "\nevent ");
	n = crash_escape(file, n, sizeof file, r.event_id);
	n += (size_t)snprintf(file + n, sizeof file - n, "\nseq 1\nattempt 2\ntime_us 7\nend\n");
	char why[200];
	assert_int_equal(crash_file_parse(file, n, &back, why, sizeof why), 0);
	assert_string_equal(back.signal, "a fatal signal");
	assert_string_equal(back.file_id, "a file id");
	assert_string_equal(back.event_id, r.event_id);
}

/* ---- the ledger ---- */

static char dir[64];

static int make_dir(void **state)
{
	snprintf(dir, sizeof dir, "/tmp/es-crash-rules-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd);
}

static crash_record crash_at(const char *plugin, const char *file, const char *event, int64_t at_s)
{
	crash_record r = {.seq = 0, .attempt = 1, .at_us = at_s * 1000000};
	snprintf(r.plugin, sizeof r.plugin, "%s", plugin);
	snprintf(r.file_id, sizeof r.file_id, "%s", file);
	snprintf(r.event_id, sizeof r.event_id, "%s", event);
	snprintf(r.signal, sizeof r.signal, "SIGSEGV");
	return r;
}

static const char *const subs[] = {"orders.**"};

static void quarantine_needs_enough_crashes_within_the_window(void **state)
{
	crash_ledger *l = crash_ledger_open(dir);
	assert_non_null(l);
	crash_rules rules = {.max_crashes = 3, .quarantine_after = 3, .quarantine_window_s = 60};
	/* three crashes, but spread over more than 60 s: no quarantine */
	crash_record a = crash_at("p", "f1", "e1", 1000), b = crash_at("p", "f1", "e2", 1030),
	             c = crash_at("p", "f1", "e3", 1070);
	assert_int_equal(crash_ledger_record(l, &a), 0);
	assert_int_equal(crash_ledger_record(l, &b), 0);
	assert_int_equal(crash_ledger_record(l, &c), 0);
	assert_true(crash_ledger_may_load(l, "p", "f1", &rules, subs, 1, NULL));
	/* a fourth within 60 s of the second: quarantined */
	crash_record d = crash_at("p", "f1", "e3", 1080);
	crash_ledger_record(l, &d);
	quarantine_info why;
	assert_false(crash_ledger_may_load(l, "p", "f1", &rules, subs, 1, &why));
	assert_int_equal(why.crashes, 3);
	assert_string_equal(why.last.event_id, "e3");
	assert_int_equal(crash_ledger_event_crashes(l, "p", "e3"), 2);
	assert_true(crash_ledger_quarantined(l, "p", NULL));
	/* another plugin is not affected; quarantine_after 0 never quarantines */
	assert_true(crash_ledger_may_load(l, "q", "f9", &rules, subs, 1, NULL));
	crash_rules never = {.max_crashes = 3, .quarantine_after = 0, .quarantine_window_s = 60};
	crash_ledger_free(l);
	l = crash_ledger_open(dir);
	assert_true(crash_ledger_may_load(l, "p", "f1", &never, subs, 1, NULL));
	/* the history survives: a new ledger on the same directory decides the same */
	assert_false(crash_ledger_may_load(l, "p", "f1", &rules, subs, 1, NULL));
	crash_ledger_stats st;
	crash_ledger_stats_get(l, &st);
	assert_int_equal(st.quarantined, 1);
	crash_ledger_free(l);
}

static void a_release_or_another_file_ends_the_quarantine(void **state)
{
	crash_ledger *l = crash_ledger_open(dir);
	crash_rules rules = {.max_crashes = 3, .quarantine_after = 3, .quarantine_window_s = 60};
	assert_false(crash_ledger_may_load(l, "p", "f1", &rules, subs, 1, NULL));
	assert_int_equal(crash_ledger_release(l, "q", "test", "not quarantined"), -1);
	assert_int_equal(crash_ledger_release(l, "p", "test", "released"), 0);
	assert_false(crash_ledger_quarantined(l, "p", NULL));
	assert_true(crash_ledger_may_load(l, "p", "f1", &rules, subs, 1, NULL));
	crash_ledger_free(l);
	/* the release is in the history: earlier crashes no longer count */
	l = crash_ledger_open(dir);
	assert_true(crash_ledger_may_load(l, "p", "f1", &rules, subs, 1, NULL));
	int64_t now_s = (int64_t)time(NULL) + 10;
	for (int i = 0; i < 3; i++) {
		crash_record r = crash_at("p", "f1", "e", now_s + i);
		crash_ledger_record(l, &r);
	}
	assert_false(crash_ledger_may_load(l, "p", "f1", &rules, subs, 1, NULL));
	/* the same plugin from another file: released */
	assert_true(crash_ledger_may_load(l, "p", "f2", &rules, subs, 1, NULL));
	assert_false(crash_ledger_quarantined(l, "p", NULL));
	crash_ledger_free(l);
}

static void events_for_a_quarantined_plugin_are_counted(void **state)
{
	crash_ledger *l = crash_ledger_open(dir);
	crash_rules rules = {.max_crashes = 3, .quarantine_after = 1, .quarantine_window_s = 60};
	crash_record r = crash_at("z", "fz", "e", (int64_t)time(NULL) + 100);
	crash_ledger_record(l, &r);
	assert_false(crash_ledger_may_load(l, "z", "fz", &rules, subs, 1, NULL));
	crash_ledger_note_event(l, "1", "orders.created");
	crash_ledger_note_event(l, "2", "users.created");
	crash_ledger_note_event(l, "3", "orders");
	quarantine_info why;
	assert_true(crash_ledger_quarantined(l, "z", &why));
	assert_int_equal(why.events_skipped, 2);
	crash_ledger_free(l);
}

static void the_crash_file_is_read_once_and_a_damaged_one_moved_aside(void **state)
{
	char path[128];
	snprintf(path, sizeof path, "%s/crash", dir);
	FILE *f = fopen(path, "w");
	fputs(whole, f);
	fclose(f);
	crash_ledger *l = crash_ledger_open(dir);
	assert_int_equal(crash_ledger_event_crashes(l, "crash", "id with spaces"), 1);
	assert_int_not_equal(access(path, F_OK), 0);
	crash_ledger_stats st;
	crash_ledger_stats_get(l, &st);
	assert_int_equal(st.crashes, 1);
	crash_ledger_free(l);
	l = crash_ledger_open(dir); /* from the history now, not counted again by this run */
	assert_int_equal(crash_ledger_event_crashes(l, "crash", "id with spaces"), 1);
	crash_ledger_stats_get(l, &st);
	assert_int_equal(st.crashes, 0);
	crash_ledger_free(l);

	f = fopen(path, "w");
	fwrite(whole, 1, sizeof whole - 5, f); /* cut short */
	fclose(f);
	l = crash_ledger_open(dir);
	crash_ledger_stats_get(l, &st);
	assert_int_equal(st.unreadable_files, 1);
	assert_int_equal(crash_ledger_event_crashes(l, "crash", "id with spaces"), 1);
	char aside[160];
	snprintf(aside, sizeof aside, "%s.corrupt", path);
	assert_int_equal(access(aside, F_OK), 0);
	crash_ledger_free(l);
}

/* A crash whose signal has no name of its own (an isolated plugin's
 * child killed by SIGUSR1, say) is in the history the next start reads. */
static void a_crash_with_spaces_in_its_values_survives_a_restart(void **state)
{
	crash_ledger *l = crash_ledger_open(dir);
	crash_record r = crash_at("p", "f 1", "an event id", 1000);
	snprintf(r.signal, sizeof r.signal, "a fatal signal");
	assert_int_equal(crash_ledger_record(l, &r), 0);
	crash_ledger_free(l);
	l = crash_ledger_open(dir);
	assert_int_equal(crash_ledger_event_crashes(l, "p", "an event id"), 1);
	crash_rules rules = {.max_crashes = 3, .quarantine_after = 1, .quarantine_window_s = 60};
	quarantine_info why;
	assert_false(crash_ledger_may_load(l, "p", "f 1", &rules, subs, 1, &why));
	assert_string_equal(why.last.signal, "a fatal signal");
	assert_string_equal(why.last.file_id, "f 1");
	crash_ledger_free(l);
}

/* A release counts from its place in the history, not its time: crashes
 * recorded "in the future" (the clock was stepped back since) no longer
 * quarantine the plugin once it is released, in this run, at the next
 * start, and after the history is compacted. */
static void a_release_holds_whatever_the_clock_says(void **state)
{
	crash_ledger *l = crash_ledger_open(dir);
	crash_rules rules = {.max_crashes = 3, .quarantine_after = 3, .quarantine_window_s = 60};
	int64_t future_s = (int64_t)time(NULL) + 3600;
	for (int i = 0; i < 2100; i++) { /* past 2048 lines: the next open compacts */
		crash_record r = crash_at("p", "f1", "e", future_s + i / 100);
		assert_int_equal(crash_ledger_record(l, &r), 0);
	}
	assert_false(crash_ledger_may_load(l, "p", "f1", &rules, subs, 1, NULL));
	assert_int_equal(crash_ledger_release(l, "p", "test", "released"), 0);
	assert_true(crash_ledger_may_load(l, "p", "f1", &rules, subs, 1, NULL));
	crash_ledger_free(l);
	l = crash_ledger_open(dir); /* reads the release after the crashes, then compacts */
	assert_true(crash_ledger_may_load(l, "p", "f1", &rules, subs, 1, NULL));
	crash_ledger_free(l);
	l = crash_ledger_open(dir); /* the compacted history says the same */
	assert_true(crash_ledger_may_load(l, "p", "f1", &rules, subs, 1, NULL));
	/* crashes after the release count again, with any time */
	for (int i = 0; i < 3; i++) {
		crash_record r = crash_at("p", "f1", "e", 1000 + i);
		crash_ledger_record(l, &r);
	}
	assert_false(crash_ledger_may_load(l, "p", "f1", &rules, subs, 1, NULL));
	crash_ledger_free(l);
}

/* Rules changed by a reload decide again: raised, a quarantined plugin
 * loads; lowered again, the same crashes quarantine it again. */
static void changed_rules_decide_again(void **state)
{
	crash_ledger *l = crash_ledger_open(dir);
	crash_rules three = {.max_crashes = 3, .quarantine_after = 3, .quarantine_window_s = 60};
	crash_rules five = {.max_crashes = 3, .quarantine_after = 5, .quarantine_window_s = 60};
	crash_rules two_in_1s = {.max_crashes = 3, .quarantine_after = 2, .quarantine_window_s = 1};
	for (int i = 0; i < 3; i++) {
		crash_record r = crash_at("p", "f1", "e", 1000 + 10 * i);
		crash_ledger_record(l, &r);
	}
	assert_true(crash_ledger_may_load(l, "p", "f1", &five, subs, 1, NULL));
	assert_false(crash_ledger_may_load(l, "p", "f1", &three, subs, 1, NULL));
	assert_true(crash_ledger_quarantined(l, "p", NULL));
	assert_true(crash_ledger_may_load(l, "p", "f1", &five, subs, 1, NULL));
	assert_false(crash_ledger_quarantined(l, "p", NULL));
	assert_true(crash_ledger_may_load(l, "p", "f1", &two_in_1s, subs, 1, NULL)); /* 10 s apart */
	assert_false(crash_ledger_may_load(l, "p", "f1", &three, subs, 1, NULL));
	crash_ledger_free(l);
}

static void without_a_state_directory_nothing_is_remembered(void **state)
{
	crash_ledger *l = crash_ledger_open("/nonexistent/state");
	assert_non_null(l);
	assert_string_equal(crash_ledger_crash_file(l), "");
	crash_record r = crash_at("p", "f", "e", 1);
	assert_int_equal(crash_ledger_record(l, &r), -1); /* no history */
	assert_int_equal(crash_ledger_event_crashes(l, "p", "e"), 1); /* still counted in memory */
	crash_ledger_free(l);
}

/* A FIFO where the crash file or the history belongs must not block the
 * start (reading it waited for a writer forever). */
static void fifos_in_the_state_directory_do_not_block_the_start(void **state)
{
	char path[128];
	snprintf(path, sizeof path, "%s/crash", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(path, sizeof path, "%s/crash-history", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(5);
		crash_ledger *l = crash_ledger_open(dir);
		char why[512];
		_exit(l && crash_ledger_problem(l, why, sizeof why) ? 0 : 1); /* opened, and the unusable history is said */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("opening the ledger over FIFOs did not finish with a problem said (status 0x%x)", (unsigned)status);
	snprintf(path, sizeof path, "%s/crash-history", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/crash", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/crash.corrupt", dir);
	unlink(path);
}

/* Compacting the history writes a new file beside it: a link planted at
 * that name must not redirect the write, and the result stays 0600. */
static void compaction_follows_no_link_and_keeps_the_history_private(void **state)
{
	crash_ledger *l = crash_ledger_open(dir);
	assert_non_null(l);
	for (int i = 0; i < 2100; i++) {
		char event[32];
		snprintf(event, sizeof event, "e%d", i);
		crash_record r = crash_at("p", "f1", event, 1000 + i);
		assert_int_equal(crash_ledger_record(l, &r), 0);
	}
	crash_ledger_free(l);
	char victim[128], link[160], history[128];
	snprintf(victim, sizeof victim, "%s/victim", dir);
	snprintf(link, sizeof link, "%s/crash-history.new", dir);
	snprintf(history, sizeof history, "%s/crash-history", dir);
	FILE *f = fopen(victim, "w");
	assert_non_null(f);
	fputs("untouched\n", f);
	fclose(f);
	assert_int_equal(symlink(victim, link), 0);
	l = crash_ledger_open(dir); /* past 2048 lines: compacts */
	assert_non_null(l);
	crash_ledger_free(l);
	char buf[32] = "";
	f = fopen(victim, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof buf, f));
	fclose(f);
	assert_string_equal(buf, "untouched\n");
	struct stat st;
	assert_int_equal(lstat(history, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	unlink(victim);
	unlink(link);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_whole_crash_file_parses),
		cmocka_unit_test(damaged_crash_files_are_refused),
		cmocka_unit_test(escaping_round_trips),
		cmocka_unit_test(history_lines_round_trip),
		cmocka_unit_test(hostile_values_round_trip),
		cmocka_unit_test_setup_teardown(a_crash_with_spaces_in_its_values_survives_a_restart, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(a_release_holds_whatever_the_clock_says, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(changed_rules_decide_again, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(quarantine_needs_enough_crashes_within_the_window, make_dir, NULL),
		cmocka_unit_test_teardown(a_release_or_another_file_ends_the_quarantine, remove_dir),
		cmocka_unit_test_setup_teardown(events_for_a_quarantined_plugin_are_counted, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(the_crash_file_is_read_once_and_a_damaged_one_moved_aside, make_dir,
		                                remove_dir),
		cmocka_unit_test(without_a_state_directory_nothing_is_remembered),
		cmocka_unit_test_setup_teardown(fifos_in_the_state_directory_do_not_block_the_start, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(compaction_follows_no_link_and_keeps_the_history_private, make_dir,
		                                remove_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
