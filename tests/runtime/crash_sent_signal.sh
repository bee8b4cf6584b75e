#!/bin/bash
# A fatal signal a plugin sends itself from handle() is attributed like a
# fault: raise(SIGSEGV) (to its own thread) and kill(getpid(), SIGSEGV) (to
# the process: the kernel may hand it to any thread, often the main one)
# both name the plugin, the event and the attempt, and leave a crash file
# the next start reads.  (Only faults were attributed: a sent signal that
# landed on another thread than the plugin's died unexplained.)
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin crash
write_plugin_settings <<'YAML'
    crash: {workers: 1, quarantine_after: 0, config: {record: @TMP@/crash.txt}}
YAML
let_fatal_signals_kill

# kill() lands on any thread; kill_blocked blocks the signal in the
# plugin's thread first, so another thread always receives it
n=0
for how in raise kill kill_blocked; do
	n=$((n + 1))
	start_daemon
	id="sent-$how-$n"
	request POST /api/events/trigger "{\"specversion\":\"1.0\",\"type\":\"crash.$how\",\"source\":\"/test\",\"id\":\"$id\"}" \
		application/cloudevents+json
	expect_death "of crash.$how" 20 139
	[ "$(grep -c "fatal SIGSEGV in plugin" "$LOG")" = 1 ] || fail "$how: expected exactly one crash line: $(tail -5 "$LOG")"
	expect_log "event-system: fatal SIGSEGV in plugin 'crash' handling event $id (attempt 1): the daemon stops; backtrace:"
	for line in "signal SIGSEGV" "plugin crash" "event $id" "attempt 1" "end"; do
		grep -qx "$line" "$STATE_DIR/crash" || fail "$how: the crash file lacks '$line': $(cat "$STATE_DIR/crash" 2>&1)"
	done
	pass "SIGSEGV sent by $how() from handle() is attributed to plugin 'crash', event $id, and recorded"
done

start_daemon
expect_log "the last run died: SIGSEGV in plugin 'crash' handling event sent-kill_blocked-3 (attempt 1)"
for id in sent-raise-1 sent-kill-2 sent-kill_blocked-3; do
	grep -q " crash SIGSEGV 1 0 [^ ]* $id$" "$STATE_DIR/crash-history" || fail "the history lacks the crash of $id"
done
stop_daemon TERM
pass "the crashes are in the crash history"
