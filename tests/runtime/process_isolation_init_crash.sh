#!/bin/bash
# An isolated plugin whose init() crashes each time its process is
# restarted: each death at start counts under the crash rules, so the
# plugin is quarantined after quarantine_after crashes instead of being
# restarted for ever; while no process runs, GET /api/plugins and /health
# say so.  Released (with the cause removed), it runs again.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin misbehave
stage_plugin recorder
{
	MISBEHAVE_CONFIG='marker: @TMP@/marker' isolated_misbehave_settings 'quarantine_after: 3' 'quarantine_window_s: 3600'
	echo '    recorder: {subscribe: ["**"], config: {record: @TMP@/recorder.txt}}'
} | write_plugin_settings
let_fatal_signals_kill
start_daemon

# the event faults in handle() and leaves the marker: every init() faults from now on
trigger mb.markcrash
expect_status 202
wait_until "init() faulting at the restart" 10 log_has "faulting in init()"
wait_until "quarantined after 3 crashes" 20 log_has "quarantined after 3 crashes"
daemon_exited && fail "the daemon died with its isolated plugin"
init_crashes=$(grep -c "faulting in init()" "$LOG")
[ "$init_crashes" = 2 ] || fail "expected 2 crashes in init() (the 2nd and 3rd crash), saw $init_crashes"
expect_log "cannot restart the plugin's process: the plugin's process ended during start (killed by SIGSEGV)"
plugin_states_are misbehave '["quarantined"]' || fail "GET /api/plugins does not say quarantined: $(plugins_json)"
[ "$(plugins_json | jq -r '.plugins[] | select(.name == "misbehave" and .crashes != null) | .crashes')" = 3 ] ||
	fail "expected 3 crashes: $(plugins_json)"
health_is degraded || fail "/health does not say degraded: $(curl -s "http://127.0.0.1:$PORT/health")"
# no restart after the quarantine: still 2 init() crashes once the back-off
# (at most 5 s) would have tried again
trigger mb.meanwhile
expect_status 202
wait_until "mb.meanwhile at the recorder" 10 lines_at_least "$TMP/recorder.txt" "recorder mb.meanwhile " 1
wait_until "mb.meanwhile refused as quarantined" 10 log_has "mb.meanwhile.*quarantined"
[ "$(grep -c "faulting in init()" "$LOG")" = 2 ] || fail "restarted after the quarantine"
pass "crashes in init() at restarts quarantine the plugin"

rm -f "$TMP/marker"
request POST /api/plugins/misbehave/release
expect_status 200
wait_until "GET /api/plugins says running" 20 plugin_states_are misbehave '["running"]'
trigger mb.after
expect_status 202
wait_until "mb.after handled by misbehave" 10 lines_at_least "$TMP/misbehave.txt" "misbehave mb.after " 1
wait_until "/health ok" 10 health_is ok
pass "released, it runs again"

stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
pass "process isolation init crash"
