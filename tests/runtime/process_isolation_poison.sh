#!/bin/bash
# The crash rules apply to isolated plugins too: each death of a child
# during handle() is recorded as a crash of that event (crash history,
# counted per event), so an event that crashed the plugin max_crashes times
# is dead-lettered with "crashed the plugin N times" even when max_attempts
# would retry it further; and a plugin that crashes quarantine_after times
# within the window is quarantined: its processes are not restarted and
# its deliveries fail at once, while the other plugins carry on.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin crash
stage_plugin recorder
write_plugin_settings <<'YAML'
    crash:
      isolation: process
      workers: 1
      max_attempts: 10
      backoff_initial_ms: 20
      backoff_max_ms: 20
      max_crashes: 2
      quarantine_after: 4
      config: {record: @TMP@/crash.txt}
    recorder: {workers: 1, config: {record: @TMP@/recorder.txt}}
YAML
let_fatal_signals_kill
start_daemon

request POST /api/events/trigger '{"name":"crash.one","id":"poison-a"}'
expect_status 202
wait_until "poison-a dead-lettered" 20 log_has "event poison-a (crash.one) dead-lettered after 2 attempts: crashed the plugin 2 times"
[ "$(grep -c "while handling event poison-a" "$LOG")" = 2 ] || fail "expected exactly two deaths on poison-a"
# recorded in the crash history of the state directory
[ "$(grep -c "poison-a" "$STATE_DIRECTORY/crash-history")" = 2 ] || fail "expected two crash-history lines for poison-a"
trigger fine.1
expect_status 202
wait_until "fine.1 handled by the restarted process" 10 lines_at_least "$TMP/crash.txt" "crash fine.1 " 1

# two more crashes (4 within the window): quarantined, no more processes
request POST /api/events/trigger '{"name":"crash.two","id":"poison-b"}'
expect_status 202
wait_until "quarantined" 20 log_has "quarantined after 4 crashes within 3600 s: its processes are not restarted"
wait_until "poison-b dead-lettered" 10 log_has "event poison-b (crash.two) dead-lettered after 2 attempts"
trigger fine.2
expect_status 202
wait_until "fine.2 dead-lettered as quarantined" 10 log_has "event [^ ]* (fine.2) dead-lettered after 1 attempt: the plugin is quarantined"
# the loaded instance has no process left and says so; the quarantine is listed beside it
running=$(curl -s "http://127.0.0.1:$PORT/api/plugins" |
	jq -r '.plugins[] | select(.name == "crash" and .isolation == "process") | .processes.running')
[ "$running" = 0 ] || fail "a quarantined plugin still has processes ($running)"
state=$(curl -s "http://127.0.0.1:$PORT/api/plugins" | jq -r '.plugins[] | select(.name == "crash") | .state' | sort | tr '\n' ' ')
# both entries say quarantined: the instance is not "running" without a process
[ "$state" = "quarantined quarantined " ] || fail "GET /api/plugins does not list crash as quarantined: $state"
health=$(curl -s "http://127.0.0.1:$PORT/health" | jq -r .status)
[ "$health" = degraded ] || fail "/health says $health with a quarantined plugin"
daemon_exited && fail "the daemon died"
for e in crash.one crash.two fine.1 fine.2; do
	wait_until "$e at the recorder" 10 lines_at_least "$TMP/recorder.txt" "recorder $e " 1
done
stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
pass "isolated crashes follow the crash rules: poison event dead-lettered after max_crashes, plugin quarantined after quarantine_after"
