#!/bin/bash
# A plugin that dereferences NULL in handle() still takes the daemon down
# (in-process plugins), but the host names it first: one line with the
# signal, the plugin, the event id and the attempt, then a backtrace.  (The
# log used to end with the plugin's own last line and nothing about the
# fault.)  The crash is recorded in the state directory's crash file, which
# the next start reads, logs and moves into the crash history.  A plugin
# that overflows its stack is attributed the same way (the handler runs on
# the worker's alternate signal stack).
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin crash
write_plugin_settings <<'YAML'
    crash: {workers: 1, config: {record: @TMP@/crash.txt}}
YAML
let_fatal_signals_kill
start_daemon

trigger fine.1
expect_status 202
wait_until "an ordinary event handled" 5 lines_at_least "$TMP/crash.txt" "fine.1" 1
# the answer may not be written before the fault: the id is the client's
request POST /api/events/trigger '{"specversion":"1.0","type":"crash.now","source":"/test","id":"crash-event-1"}' \
	application/cloudevents+json
id=crash-event-1
expect_death "of the fault" 10 139
[ "$(grep -c "fatal SIGSEGV in plugin" "$LOG")" = 1 ] || fail "expected exactly one crash line"
expect_log "event-system: fatal SIGSEGV in plugin 'crash' handling event $id (attempt 1): the daemon stops; backtrace:"
# backtrace_symbols_fd(): one "object(symbol+offset)[address]" line per frame, the plugin's among them
frames=$(sed -n '/fatal SIGSEGV in plugin/,$p' "$LOG" | grep -c '\[0x[0-9a-f]*\]$' || true)
[ "$frames" -ge 3 ] || fail "expected a backtrace after the crash line, found $frames frames"
# the plugin runs from its private copy (plugin_loader.h): its frames name /proc/self/fd/N, offsets within the file
sed -n '/fatal SIGSEGV in plugin/,$p' "$LOG" | grep -q '^/proc/self/fd/[0-9]*(+0x[0-9a-f]*)' ||
	fail "the backtrace has no frame in the plugin"
pass "the fault is attributed in one line (plugin 'crash', event $id, attempt 1) and a backtrace of $frames frames"

# The crash file, written from the signal handler.
[ -f "$STATE_DIR/crash" ] || fail "no crash file in the state directory"
for line in "event-system-crash 1" "signal SIGSEGV" "plugin crash" "event $id" "attempt 1" "end"; do
	grep -qx "$line" "$STATE_DIR/crash" || fail "the crash file lacks '$line': $(cat "$STATE_DIR/crash")"
done
pass "the crash is recorded in the state directory's crash file"

# The next start reads it, says so, and moves it into the history.
start_daemon
expect_log "the last run died: SIGSEGV in plugin 'crash' handling event $id (attempt 1)"
[ ! -e "$STATE_DIR/crash" ] || fail "the crash file is still there after a start read it"
grep -q "^crash [0-9]* crash SIGSEGV 1 0 [^ ]* $id$" "$STATE_DIR/crash-history" ||
	fail "the crash history lacks the crash: $(cat "$STATE_DIR/crash-history")"
curl -s "http://127.0.0.1:$MPORT/metrics" | grep -qx 'eventsys_plugin_crashes_total 1' ||
	fail "eventsys_plugin_crashes_total is not 1"
pass "the next start logs the last run's crash, counts it and keeps it in the crash history"

# A stack overflow in the plugin is attributed too.
request POST /api/events/trigger '{"specversion":"1.0","type":"crash.overflow","source":"/test","id":"overflow-1"}' \
	application/cloudevents+json
expect_death "of the overflow" 20 139
expect_log "event-system: fatal SIGSEGV in plugin 'crash' handling event overflow-1 (attempt 1)"
grep -qx "event overflow-1" "$STATE_DIR/crash" || fail "the overflow is not in the crash file"
pass "a stack overflow in handle() is attributed and recorded as well"
