#!/bin/bash
# A plugin that faults in init() is named like one that faults in
# handle(): "loading plugin X" is the last line before it, the attribution
# line says "in init()", and the crash file records the plugin with no
# event.  Such crashes count toward quarantine, so a plugin that crashes at
# every start is quarantined at the fourth and the daemon runs without it
# (it used to die at every start, exit 139, with nothing in the log after
# "starting").
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin crash
stage_plugin recorder
write_plugin_settings <<'YAML'
    crash: {quarantine_after: 3, quarantine_window_s: 3600, config: {crash_in_init: true}}
    recorder: {subscribe: ["**"], config: {record: @TMP@/recorder.txt}}
YAML
let_fatal_signals_kill

# start_and_die N: a start that must die in crash's init()
start_and_die() {
	until reserve_port "$((10000 + (RANDOM * 32768 + RANDOM) % 22000 / 4 * 4))"; do :; done
	PORT=${HELD_PORTS##* }
	render_config
	: > "$LOG"
	EXIT_CODE=0
	timeout 30 "$ES_DAEMON" -c "$CONFIG" >> "$LOG" 2>&1 || EXIT_CODE=$?
	[ "$EXIT_CODE" = 139 ] || fail "start $1: expected death by SIGSEGV (139), got $EXIT_CODE: $(tail -5 "$LOG")"
}

start_and_die 1
expect_log "loading plugin crash"
expect_log "event-system: fatal SIGSEGV in plugin 'crash' in init(): the daemon stops; backtrace:"
for line in "plugin crash" "event -" "attempt 0"; do
	grep -qx "$line" "$STATE_DIR/crash" || fail "the crash file lacks '$line': $(cat "$STATE_DIR/crash")"
done
pass "a fault in init() is attributed to the plugin, and recorded with no event"

start_and_die 2
expect_log "the last run died: SIGSEGV in plugin 'crash' outside handle() (init(), reopen(), shutdown() or a handle_batch() of several events)"
start_and_die 3
start_daemon
expect_log "plugin 'crash' quarantined: it crashed 3 times within 3600 s"
[ "$(curl -s "http://127.0.0.1:$PORT/api/plugins" | jq -r '.plugins[] | select(.name == "crash") | .state')" = quarantined ] ||
	fail "crash is not quarantined"
trigger any.one
expect_status 202
wait_until "recorder got any.one" 5 lines_at_least "$TMP/recorder.txt" "any.one" 1
pass "after three crashes in init() the plugin is quarantined and the daemon runs without it"
stop_daemon TERM
