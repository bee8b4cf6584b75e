#!/bin/bash
# A delivery in flight when a reload retires an isolated plugin: the old
# instance's shutdown deadline passes while the plugin's process still
# handles it, well within the handler's own timeout_ms.  The reload waits
# for it: the synchronous answer is the handler's (ok, attempts: 1; it
# was once undelivered with attempts: 0, then undelivered with attempts:
# 1), and the old instance's process then gets its shutdown().
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
    hang: {isolation: process, workers: 1, timeout_ms: 15000, config: {record: @TMP@/hang.txt, shutdown_record: @TMP@/shutdown.txt, delay_ms: $1}}
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
jq -e '.outcomes.hang.status == "ok" and .outcomes.hang.attempts == 1' "$TMP/sync.json" >/dev/null ||
	fail "expected the handler's outcome (ok, attempts 1): $(cat "$TMP/sync.json")"
wait_until "the replaced instance's shutdown()" 10 lines_at_least "$TMP/shutdown.txt" "^shutdown$" 1
! log_has "undelivered" || fail "a delivered event reported undelivered: $(grep undelivered "$LOG")"
daemon_exited && fail "the daemon died"
pass "a delivery in flight when a reload retires an isolated plugin gets its real outcome; the old instance shuts down"
stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
