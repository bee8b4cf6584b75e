#!/bin/bash
# An isolated plugin's emits from a thread of its own are refused
# (ES_STATUS_ERROR: a child serves emit() from init() and handle() only)
# without flooding the daemon's log: the first refusal is logged with the
# event's name, the others are counted and written as one line per
# interval and at stop, and the counts in the lines add up to every
# refusal.  (Each refusal used to be a line of its own: a thread emitting
# in a loop wrote as many lines as it made emits.)
set -eu
. "$(dirname "$0")/lib.sh"

N=500
stage_plugin misbehave
isolated_misbehave_settings | write_plugin_settings
start_daemon

refusal_lines() {
	grep -c "refused: an isolated plugin emits from init() or handle() only\|emits from the plugin's own threads refused" "$LOG" || true
}

trigger mb.threademit "$N"
expect_status 202
wait_until "mb.threademit handled" 30 lines_at_least "$TMP/misbehave.txt" "misbehave mb.threademit " 1
grep -q "^misbehave mb.threademit [^ ]* 1 refused $N of $N$" "$TMP/misbehave.txt" ||
	fail "expected all $N emits from the thread refused: $(cat "$TMP/misbehave.txt")"
expect_log "\[misbehave\] emit of 'mb.fromthread' refused: an isolated plugin emits from init() or handle() only"
lines=$(refusal_lines)
[ "$lines" -le 2 ] || fail "$N refused emits wrote $lines log lines"
pass "$N emits from the plugin's own thread refused, $lines log line(s) so far"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
lines=$(refusal_lines)
[ "$lines" -le 3 ] || fail "$N refused emits wrote $lines log lines by the stop"
# the first line says how many it stands for ("(N refused)"), the others
# how many more
first=$(grep -o "or handle() only ([0-9]* refused)" "$LOG" | grep -o "[0-9]*" | awk '{s += $1} END {print s + 0}')
more=$(grep -o "[0-9]* more emits from the plugin's own threads refused" "$LOG" | awk '{s += $1} END {print s + 0}')
[ $((first + more)) = "$N" ] ||
	fail "the log lines count $((first + more)) refused emits, not $N: $(grep "emit" "$LOG" | grep -v access)"
pass "the log lines account for all $N refusals ($lines lines)"
