#!/bin/bash
# Quarantine decisions that do not depend on the clock or on the rules in
# force when they were first made:
#  - a release holds when the recorded crash times lie in the future (the
#    clock was stepped back since they were recorded): the reload the
#    release asks for loads the plugin, and so does the next start (the
#    release used to be undone: the crashes "after" it by their time still
#    counted);
#  - a reload that raises quarantine_after loads a quarantined plugin its
#    crashes no longer quarantine; one that lowers it quarantines a running
#    plugin already over the new limit.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin crash
stage_plugin recorder
# config AFTER: the crash plugin's quarantine_after
config_with() {
	write_config <<YAML
server: {port: @PORT@}
logging: {format: text, access_log: false}
auth:
  tokens:
    - {name: ops, role: admin, token: admin-secret-0123456789}
plugins:
  directory: @PLUGDIR@
  settings:
    crash: {workers: 1, subscribe: ["crash.**"], quarantine_after: $1, quarantine_window_s: 3600,
            config: {record: @TMP@/crash.txt}}
    recorder: {subscribe: ["**"], config: {record: @TMP@/recorder.txt}}
YAML
}
API_TOKEN=admin-secret-0123456789
# reload_to AFTER: rewrite the config and reload through the API (it waits)
reload_to() {
	config_with "$1"
	render_config
	admin_post /api/admin/reload ''
	expect_status 200
}
# crash_lines N AT_S EVENT: N crash history lines for 'crash', one second apart from AT_S
crash_lines() {
	local i
	for i in $(seq 1 "$1"); do
		echo "crash $((($2 + i) * 1000000)) crash SIGSEGV 1 0 - $3-$i" >> "$STATE_DIR/crash-history"
	done
}

# Three crashes recorded an hour "from now": the clock was stepped back since.
config_with 3
crash_lines 3 "$(($(date +%s) + 3600))" future
start_daemon
plugin_state_is crash quarantined || fail "three crashes within the window did not quarantine the plugin: $(plugin_field crash .)"
admin_post /api/plugins/crash/release ''
expect_status 200
wait_until "crash loaded by the release's reload" 10 plugin_state_is crash running
admin_post /api/admin/reload ''
expect_status 200
plugin_state_is crash running || fail "a later reload quarantined the released plugin again: $(plugin_field crash .)"
stop_daemon TERM
start_daemon
plugin_state_is crash running || fail "the next start quarantined the released plugin again: $(plugin_field crash .)"
pass "a release holds though the crashes it released are recorded in the future (clock stepped back)"

# Crashes after the release count again, whatever their time.
stop_daemon TERM
crash_lines 3 1000 past
start_daemon
plugin_state_is crash quarantined || fail "three crashes after the release did not quarantine it: $(plugin_field crash .)"
pass "crashes recorded after the release count, whatever their time"

# Raising quarantine_after on reload loads it; lowering it again quarantines it.
reload_to 4
wait_until "crash loaded after quarantine_after 4" 10 plugin_state_is crash running
expect_log "plugin 'crash' no longer quarantined: its crashes since its last release do not reach the crash rules now in force (quarantine_after 4"
reload_to 3
wait_until "crash quarantined after quarantine_after 3" 10 plugin_state_is crash quarantined
reload_to 2
plugin_state_is crash quarantined || fail "lowering quarantine_after further released it"
stop_daemon TERM
pass "a reload that raises quarantine_after loads the plugin; one that lowers it quarantines it again"
