#!/bin/bash
# A plugin that dereferences NULL in handle() still takes the daemon down
# (in-process plugins), but the host names it first: one line with the
# signal, the plugin, the event id and the attempt.  (The log used to end
# with the plugin's own last line and nothing about the fault.)
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin crash
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    crash: {workers: 1, config: {record: @TMP@/crash.txt}}
YAML
# Under a sanitizer its own SEGV report would stand in for the default
# action (and fail the test as a sanitizer report): let the signal kill.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0"
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS }handle_segv=0"
start_daemon

trigger fine.1
expect_status 202
wait_until "an ordinary event handled" 5 lines_at_least "$TMP/crash.txt" "fine.1" 1
# the answer may not be written before the fault: the id is the client's
request POST /api/events/trigger '{"specversion":"1.0","type":"crash.now","source":"/test","id":"crash-event-1"}' \
	application/cloudevents+json
id=crash-event-1
wait_until "the daemon died" 10 daemon_exited
EXIT_CODE=0
wait "$DAEMON_PID" || EXIT_CODE=$?
DAEMON_PID=
[ "$EXIT_CODE" = 139 ] || fail "expected death by SIGSEGV (139), got exit code $EXIT_CODE"
[ "$(grep -c "fatal SIGSEGV in plugin" "$LOG")" = 1 ] || fail "expected exactly one crash line"
expect_log "event-system: fatal SIGSEGV in plugin 'crash' handling event $id (attempt 1): the daemon stops"
pass "the fault is attributed in one line: plugin 'crash', event $id, attempt 1"
