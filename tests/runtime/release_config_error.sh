#!/bin/bash
# POST /api/plugins/{name}/release while the config file has an error is
# refused (409 config_invalid, naming the error) and changes nothing: the
# plugin stays quarantined (GET /api/plugins, degraded /health, its events
# counted as skipped), and once the config is fixed the release works.
# (It used to answer 200 "released"; the reload it requested failed, and
# the plugin was then neither loaded nor quarantined: gone from
# /api/plugins, /health ok, its events matched by nobody.)
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin misbehave
isolated_misbehave_settings 'quarantine_after: 2' 'quarantine_window_s: 3600' | write_plugin_settings
let_fatal_signals_kill
start_daemon

crash_misbehave_twice
wait_until "GET /api/plugins says quarantined" 20 plugin_states_are misbehave '["quarantined"]'

# a half-done edit: a duplicate key
cp "$CONFIG" "$TMP/good.yaml"
echo 'logging: {level: debug}' >> "$CONFIG"
request POST /api/plugins/misbehave/release
expect_status 409
expect_body '"error":"config_invalid"'
expect_body "duplicate key"
expect_body "stays quarantined"
plugin_states_are misbehave '["quarantined"]' || fail "after the refused release: $(plugins_json)"
health_is degraded || fail "/health after the refused release: $(curl -s "http://127.0.0.1:$PORT/health")"
trigger mb.ok
expect_status 202
skipped() { plugins_json | jq -r '[.plugins[] | select(.name == "misbehave") | .events_skipped // 0] | max'; }
[ "$(skipped)" -ge 1 ] || fail "an event for the quarantined plugin is not counted as skipped: $(plugins_json)"
request GET /api/admin/reload
[ "$(echo "$BODY" | jq -r .failures)" = 0 ] || fail "a reload ran and failed: $BODY"
pass "a release with a broken config is refused (409) and the plugin stays quarantined"

cp "$TMP/good.yaml" "$CONFIG"
request POST /api/plugins/misbehave/release
expect_status 200
expect_body '"state":"released"'
wait_until "running again after the release" 20 plugin_states_are misbehave '["running"]'
pass "with the config fixed the release loads the plugin"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
