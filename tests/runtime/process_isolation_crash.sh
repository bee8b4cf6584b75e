#!/bin/bash
# A plugin that segfaults, with `isolation: process`: the daemon stays up,
# the plugin's process is restarted, every other plugin's events are
# delivered, and the event that kills it follows the retry policy (each
# death a failed attempt) until it is dead-lettered; the plugin's other
# events are delivered by the restarted process.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin crash
stage_plugin recorder
write_plugin_settings <<'YAML'
    crash:
      isolation: process
      workers: 1
      max_attempts: 3
      backoff_initial_ms: 50
      backoff_max_ms: 100
      config: {record: @TMP@/crash.txt}
    recorder: {workers: 1, config: {record: @TMP@/recorder.txt}}
YAML
let_fatal_signals_kill
start_daemon

[ "$(plugin_field crash .isolation)" = process ] || fail "crash is not reported as isolated"
[ "$(plugin_field recorder .isolation)" = in-process ] || fail "recorder is not reported in-process"
first_pid=$(plugin_field crash '.processes.pids[0]')
[ -n "$first_pid" ] && [ "$first_pid" != "$DAEMON_PID" ] && kill -0 "$first_pid" ||
	fail "no child process listed for crash (got '$first_pid', daemon $DAEMON_PID)"
# the plugin's code runs in that process, not in the daemon
trigger fine.0
expect_status 202
wait_until "fine.0 handled by the child" 10 lines_at_least "$TMP/crash.txt" "fine.0" 1

request POST /api/events/trigger '{"name":"crash.now","id":"poison-1"}'
expect_status 202
for i in 1 2 3 4 5; do
	trigger "fine.$i"
	expect_status 202
done
wait_until "crash.now dead-lettered" 20 log_has "event poison-1 (crash.now) dead-lettered after 3 attempts"
daemon_exited && fail "the daemon died with its isolated plugin"
expect_log "plugin process [0-9]* killed by SIGSEGV while handling event poison-1 (attempt 1)"
expect_log "plugin process [0-9]* killed by SIGSEGV while handling event poison-1 (attempt 3)"
# the third crash reaches max_crashes (3 by default): the crash rules' reason
expect_log "dead-lettered after 3 attempts: crashed the plugin 3 times (the plugin's process killed by SIGSEGV)"
# every other event reached both plugins: the recorder at once, the
# crashing plugin through its restarted process
for i in 1 2 3 4 5; do
	wait_until "fine.$i at the recorder" 10 lines_at_least "$TMP/recorder.txt" "recorder fine.$i " 1
	wait_until "fine.$i at crash (restarted)" 20 lines_at_least "$TMP/crash.txt" "crash fine.$i " 1
done
restarted_at_least() {
	local v
	v=$(plugin_field crash .processes.restarts)
	[ -n "$v" ] && [ "$v" -ge "$1" ]
}
wait_until "the third death restarted" 10 restarted_at_least 3
[ "$(lines_in "$TMP/crash.txt" "crash.now")" = 0 ] || fail "crash.now was recorded as handled"
[ "$(lines_in "$TMP/recorder.txt" "crash.now")" = 1 ] || fail "the recorder did not get crash.now exactly once"

restarts=$(plugin_field crash .processes.restarts)
[ "$restarts" -ge 3 ] || fail "expected at least 3 restarts, /api/plugins says $restarts"
[ "$(plugin_field crash .counters.failed)" = 1 ] || fail "expected exactly one failed delivery at crash"
[ "$(plugin_field crash .counters.retried)" = 2 ] || fail "expected two retries at crash"
now_pid=$(plugin_field crash '.processes.pids[0]')
[ -n "$now_pid" ] && [ "$now_pid" != "$first_pid" ] || fail "the child was not replaced (pid $first_pid, now '$now_pid')"
kill -0 "$first_pid" 2>/dev/null && fail "the first child $first_pid still exists (not reaped?)"
curl -s "http://127.0.0.1:$MPORT/metrics" > "$TMP/metrics"
grep -q '^eventsys_plugin_isolated{plugin="crash"} 1$' "$TMP/metrics" || fail "metrics: crash not isolated"
grep -q '^eventsys_plugin_isolated{plugin="recorder"} 0$' "$TMP/metrics" || fail "metrics: recorder isolated"
grep -q "^eventsys_plugin_process_restarts_total{plugin=\"crash\"} $restarts$" "$TMP/metrics" ||
	fail "metrics: restarts differ from /api/plugins ($restarts)"
stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
expect_log "plugin process $now_pid stopped"
pass "segfaulting isolated plugin: daemon up, child restarted $restarts times, poison event dead-lettered after 3 attempts, other events delivered"
