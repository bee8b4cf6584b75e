#!/bin/bash
# An isolated plugin quarantined by its crashes while the daemon runs says
# so (GET /api/plugins: quarantined, no process; /health: degraded), and
# POST /api/plugins/{name}/release brings it back: the reload it requests
# replaces the quarantined instance with one that has a fresh process,
# events reach the plugin again and /health is ok.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin misbehave
stage_plugin recorder
{
	isolated_misbehave_settings 'quarantine_after: 2' 'quarantine_window_s: 3600'
	echo '    recorder: {subscribe: ["**"], config: {record: @TMP@/recorder.txt}}'
} | write_plugin_settings
let_fatal_signals_kill
start_daemon

crash_misbehave_twice
wait_until "quarantined after 2 crashes" 10 log_has "quarantined after 2 crashes"
daemon_exited && fail "the daemon died with its isolated plugin"

# the truth while quarantined: the loaded instance (no process) and the
# quarantine beside it, with how to release it, both say quarantined
wait_until "GET /api/plugins says quarantined" 10 plugin_states_are misbehave '["quarantined"]'
[ "$(plugins_json | jq -r '.plugins[] | select(.name == "misbehave" and .isolation == "process") | .processes.running')" = 0 ] ||
	fail "the quarantined instance lists processes: $(plugins_json)"
[ "$(plugins_json | jq -r '.plugins[] | select(.name == "misbehave" and .release != null) | .release')" = \
	/api/plugins/misbehave/release ] || fail "no release link: $(plugins_json)"
health_is degraded || fail "/health does not say degraded while quarantined: $(curl -s "http://127.0.0.1:$PORT/health")"
pass "a quarantined isolated plugin is reported as such"

request POST /api/plugins/misbehave/release
expect_status 200
expect_body '"state":"released"'
wait_until "a fresh process after the release" 20 other_process_runs misbehave 0
wait_until "GET /api/plugins says running" 10 plugin_states_are misbehave '["running"]'
expect_log "plugin 'misbehave' released from quarantine"

trigger mb.after-release
expect_status 202
wait_until "mb.after-release handled by misbehave" 10 lines_at_least "$TMP/misbehave.txt" "misbehave mb.after-release " 1
wait_until "/health ok" 10 health_is ok
[ "$(plugin_field misbehave .processes.running)" = 1 ] || fail "expected 1 process: $(plugins_json)"
log_has "the plugin is quarantined" && fail "an event was refused as quarantined after the release"
pass "after the release the plugin runs again with a fresh process"

stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
pass "process isolation release"
