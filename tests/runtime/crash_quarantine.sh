#!/bin/bash
# Quarantine without a database (the crash file alone): a plugin that
# crashed the daemon quarantine_after times within quarantine_window_s is
# not loaded at the next start; /health and GET /api/plugins say so and
# why (signal, event id, time), /metrics counts it, the other plugins keep
# receiving, and events it would have had are counted.  The operator
# releases it through POST /api/plugins/{name}/release (admin token,
# audited in the log) or by replacing its file.  A crash file that is
# corrupt or cut short is logged and ignored.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin crash
stage_plugin recorder
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, access_log: false}
auth:
  tokens:
    - {name: ops, role: admin, token: admin-secret-0123456789}
plugins:
  directory: @PLUGDIR@
  settings:
    crash: {workers: 1, subscribe: ["crash.**", "both.**"], quarantine_after: 3, quarantine_window_s: 3600,
            config: {record: @TMP@/crash.txt}}
    recorder: {subscribe: ["**"], config: {record: @TMP@/recorder.txt}}
YAML
let_fatal_signals_kill
API_TOKEN=admin-secret-0123456789

metric() { curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# crash_once ID: start, make the crash plugin fault on event ID, wait for the death
crash_once() {
	start_daemon
	admin_post /api/events/trigger "{\"name\":\"crash.now\",\"data\":{\"id\":\"$1\"}}"
	expect_death "on $1" 10 139
}

for i in 1 2 3; do crash_once "c$i"; done
pass "the crash plugin took the daemon down 3 times"

# --check-config says what the start will decide, and changes nothing.
render_config
cp "$STATE_DIR/crash" "$TMP/crash.before"
cp "$STATE_DIR/crash-history" "$TMP/history.before"
"$ES_DAEMON" --check-config -c "$CONFIG" > "$TMP/check.txt" 2>&1 || fail "--check-config failed: $(cat "$TMP/check.txt")"
grep -q "plugin 'crash' is quarantined: it crashed 3 times within 3600 s (last: SIGSEGV on event" "$TMP/check.txt" ||
	fail "--check-config does not say crash is quarantined: $(cat "$TMP/check.txt")"
grep -q "1 loaded, 0 refused, 0 disabled, 0 skipped, 1 quarantined" "$TMP/check.txt" || fail "summary: $(cat "$TMP/check.txt")"
cmp -s "$STATE_DIR/crash" "$TMP/crash.before" && cmp -s "$STATE_DIR/crash-history" "$TMP/history.before" ||
	fail "--check-config changed the crash file or the history"
pass "--check-config reports the quarantine a start will decide, and leaves the state directory as it was"

start_daemon
expect_log "plugin 'crash' quarantined: it crashed 3 times within 3600 s (last: SIGSEGV in plugin 'crash' handling event"
plugin_state_is crash quarantined || fail "GET /api/plugins does not say crash is quarantined: $(plugin_field crash .)"
last_signal=$(plugin_field crash .last_crash.signal)
last_event=$(plugin_field crash .last_crash.event_id)
last_time=$(plugin_field crash .last_crash.time)
[ "$last_signal" = SIGSEGV ] || fail "last_crash.signal is '$last_signal'"
[ -n "$last_event" ] && [ "$last_event" != null ] || fail "last_crash.event_id is missing"
[[ "$last_time" =~ ^20[0-9-]*T ]] || fail "last_crash.time is '$last_time'"
plugin_state_is recorder running || fail "recorder is not running"
request GET /health
expect_status 200
[ "$(echo "$BODY" | jq -r .status)" = degraded ] || fail "/health is not degraded: $BODY"
echo "$BODY" | jq -r .reasons.quarantine | grep -q "plugin 'crash' quarantined" || fail "/health gives no reason: $BODY"
[ "$(metric eventsys_plugins_quarantined)" = 1 ] || fail "eventsys_plugins_quarantined is not 1"
[ "$(metric eventsys_plugin_quarantines_total)" = 1 ] || fail "eventsys_plugin_quarantines_total is not 1"
pass "quarantined at the next start: /api/plugins (last crash $last_signal on $last_event at $last_time), /health and /metrics say so"

# The other plugins keep receiving; what the quarantined one would have had is counted.
admin_post /api/events/trigger '{"name":"both.one","data":null}'
expect_status 202
wait_until "recorder got both.one" 5 lines_at_least "$TMP/recorder.txt" "both.one" 1
[ "$(metric 'eventsys_plugin_quarantine_skipped_events_total{plugin="crash"}')" = 1 ] ||
	fail "the event the quarantined plugin did not get is not counted"
expect_log "event [^ ]* (both.one) not delivered: the plugin is quarantined"
pass "other plugins receive; the event the quarantined plugin would have had is counted and logged"

# Release through the endpoint: admin only, audited, loaded by the reload it asks for.
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/api/plugins/crash/release")
[ "$STATUS" = 401 ] || fail "release without a token answered $STATUS"
admin_post /api/plugins/recorder/release ''
expect_status 404
expect_body not_quarantined
admin_post /api/plugins/crash/release ''
expect_status 200
expect_body '"state":"released"'
wait_until "crash loaded again" 10 plugin_state_is crash running
expect_log "\[audit\] plugin 'crash' released from quarantine by api token ops"
[ "$(metric eventsys_plugins_quarantined)" = 0 ] || fail "still counted as quarantined"
admin_post /api/events/trigger '{"name":"both.two","data":null}'
wait_until "crash got both.two" 5 lines_at_least "$TMP/crash.txt" "both.two" 1
pass "released through POST /api/plugins/crash/release (401 without a token, 404 for one not quarantined): loaded and delivering"
stop_daemon TERM
pass_release_restart=$(grep -c "^release " "$STATE_DIR/crash-history")
[ "$pass_release_restart" = 1 ] || fail "the release is not in the crash history"

# A release holds across restarts: the crashes before it do not count.
start_daemon
plugin_state_is crash running || fail "crash quarantined again after a restart, though released"
stop_daemon TERM

# Crash it three more times: quarantined again; then replace its file.
for i in 4 5 6; do crash_once "c$i"; done
start_daemon
plugin_state_is crash quarantined || fail "not quarantined again after three more crashes"
stop_daemon TERM
sleep 0.01 # a new mtime, to the nanosecond, for the copied file
stage_plugin crash
start_daemon
expect_log "plugin 'crash' released from quarantine: its file was replaced"
plugin_state_is crash running || fail "the replaced file is still quarantined"
pass "replacing the plugin's file releases it"
stop_daemon TERM

# A corrupt and a cut-short crash file: logged, moved aside, nothing counted.
printf 'garbage\xff\n' > "$STATE_DIR/crash"
start_daemon
expect_log "the crash file $STATE_DIR/crash is unreadable (does not start with"
[ ! -e "$STATE_DIR/crash" ] && [ -e "$STATE_DIR/crash.corrupt" ] || fail "the corrupt crash file was not moved aside"
[ "$(metric eventsys_crash_files_unreadable_total)" = 1 ] || fail "the unreadable file is not counted"
[ "$(metric eventsys_plugin_crashes_total)" = 0 ] || fail "a corrupt crash file counted as a crash"
plugin_state_is crash running || fail "a corrupt crash file changed the plugin's state"
stop_daemon TERM
printf 'event-system-crash 1\nsignal SIGSEGV\nplugin crash\nfile -\nevent c7\nseq 0\nattem' > "$STATE_DIR/crash"
start_daemon
expect_log "the crash file $STATE_DIR/crash is unreadable (invalid attem\|the crash file $STATE_DIR/crash is unreadable (malformed line"
[ "$(metric eventsys_plugin_crashes_total)" = 0 ] || fail "a cut-short crash file counted as a crash"
stop_daemon TERM
printf 'event-system-crash 1\nsignal SIGSEGV\nplugin crash\nfile -\nevent c7\nseq 0\nattempt 1\ntime_us 1\n' > "$STATE_DIR/crash"
start_daemon
expect_log "is unreadable (cut short (no end line))"
[ "$(metric eventsys_plugin_crashes_total)" = 0 ] || fail "a crash file without its end line counted as a crash"
plugin_state_is crash running || fail "a cut-short crash file changed the plugin's state"
pass "corrupt and cut-short crash files are logged, moved aside and ignored"
stop_daemon TERM
