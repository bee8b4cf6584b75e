#!/bin/bash
# A delivery in flight when a reload retires an isolated plugin: the old
# instance's shutdown deadline passes while the plugin's process still
# handles it.  The delivery is undelivered, and its attempt was made: the
# synchronous answer reports `attempts: 1` (it reported 0, as if the
# plugin had never been handed the event).
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin hang
settings() { # DELAY_MS
	write_config <<YAML
server: {port: @PORT@}
logging: {format: text}
event: {sync_timeout_ms: 20000, shutdown_timeout_ms: 300}
plugins:
  directory: @PLUGDIR@
  settings:
    hang: {isolation: process, workers: 1, timeout_ms: 15000, config: {record: @TMP@/hang.txt, delay_ms: $1}}
YAML
}
settings 5000
start_daemon

curl -s -o "$TMP/sync.json" -w '%{http_code}' --max-time 30 -H 'Content-Type: application/json' \
	-d '{"name":"held.event","id":"held-1"}' "http://127.0.0.1:$PORT/api/events/trigger?wait=true" \
	> "$TMP/sync.status" &
client=$!
wait_until "the plugin has the event" 10 lines_at_least "$TMP/hang.txt" " held-1 1 entered" 1

# a changed config: the instance is replaced, the old one retired
settings 4000
render_config
kill -HUP "$DAEMON_PID"
wait_until "the reload" 15 log_has "reload by signal SIGHUP: ok, generation 2"
wait "$client"
[ "$(cat "$TMP/sync.status")" = 200 ] || fail "the synchronous trigger answered $(cat "$TMP/sync.status"): $(cat "$TMP/sync.json")"
jq -e '.outcomes.hang.status == "undelivered"' "$TMP/sync.json" >/dev/null ||
	fail "expected the delivery to be undelivered: $(cat "$TMP/sync.json")"
attempts=$(jq -r '.outcomes.hang.attempts' "$TMP/sync.json")
[ "$attempts" = 1 ] || fail "the delivery in flight reported attempts: $attempts (expected 1): $(cat "$TMP/sync.json")"
daemon_exited && fail "the daemon died"
stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
pass "a delivery in flight when a reload retires an isolated plugin counts its attempt"
