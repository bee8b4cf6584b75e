#!/bin/bash
# A crash history the daemon cannot read or write (here a directory in its
# place, which refuses every user, root included) is said at start, in one
# line naming the file and the error, and /health is degraded with the
# reason.  Crashes are not lost meanwhile: each crash file is kept aside
# (crash.kept.*) instead of being overwritten by the next crash or reported
# again at every start, so a plugin that crashes the daemon again and again
# is still quarantined.  Once the history can be written, the kept crashes
# move into it.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin crash
write_plugin_settings <<'YAML'
    crash: {workers: 1, subscribe: ["crash.**"], quarantine_after: 3, quarantine_window_s: 3600,
            config: {record: @TMP@/crash.txt}}
YAML
let_fatal_signals_kill
metric() { curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
plugin_state() { curl -s "http://127.0.0.1:$PORT/api/plugins" | jq -r '.plugins[] | select(.name == "crash") | .state'; }
crash_once() {
	request POST /api/events/trigger "{\"name\":\"crash.now\",\"data\":{\"id\":\"$1\"}}"
	expect_death "on $1" 10 139
}

mkdir "$STATE_DIR/crash-history"
start_daemon
expect_log "cannot write the crash history $STATE_DIR/crash-history (Is a directory): crashes are kept as crash.kept"
request GET /health
expect_status 200
[ "$(echo "$BODY" | jq -r .status)" = degraded ] || fail "/health is not degraded: $BODY"
echo "$BODY" | jq -r .reasons.crash_history | grep -q "cannot write the crash history" ||
	fail "/health gives no crash_history reason: $BODY"
pass "an unwritable crash history is logged at start and /health is degraded with the reason"

crash_once c1
start_daemon
expect_log "the last run died: SIGSEGV in plugin 'crash' handling event"
expect_log "the crash is kept as $STATE_DIR/crash.kept."
[ ! -e "$STATE_DIR/crash" ] || fail "the crash file is still there: the next start would report it again"
[ "$(metric eventsys_plugin_crashes_total)" = 1 ] || fail "eventsys_plugin_crashes_total is not 1"
stop_daemon TERM
start_daemon
[ "$(metric eventsys_plugin_crashes_total)" = 0 ] || fail "a start without a new crash counted the old one again"
pass "the crash is kept aside, counted once, not reported again by the next start"

crash_once c2
start_daemon
crash_once c3
[ "$(ls "$STATE_DIR" | grep -c '^crash\.kept\.')" = 2 ] || fail "expected 2 kept crashes: $(ls "$STATE_DIR")"
start_daemon
expect_log "plugin 'crash' quarantined: it crashed 3 times within 3600 s"
[ "$(plugin_state)" = quarantined ] || fail "crash is not quarantined after 3 crashes: $(plugin_state)"
pass "three crashes with an unwritable history still quarantine the plugin"
stop_daemon TERM

rmdir "$STATE_DIR/crash-history"
start_daemon
expect_log "3 kept crash files moved into the crash history"
[ "$(grep -c '^crash ' "$STATE_DIR/crash-history")" = 3 ] || fail "history: $(cat "$STATE_DIR/crash-history")"
[ "$(ls "$STATE_DIR" | grep -c '^crash\.kept\.')" = 0 ] || fail "kept crash files left: $(ls "$STATE_DIR")"
request GET /health
[ "$(echo "$BODY" | jq -r '.reasons.crash_history // "none"')" = none ] || fail "/health still blames the history: $BODY"
pass "once the history can be written, the kept crashes move into it"
stop_daemon TERM
