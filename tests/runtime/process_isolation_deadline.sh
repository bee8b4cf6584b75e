#!/bin/bash
# A handler that overruns its deadline in an isolated plugin's process is
# not left running: the pool counts the attempt as timed out and the
# process is killed and replaced, so no thread stays stuck and the
# plugin's capacity comes back (an in-process plugin's stuck handler can
# only be abandoned).  The event is retried per policy, then dead-lettered.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin hang
write_plugin_settings <<'YAML'
    hang:
      isolation: process
      workers: 1
      timeout_ms: 1000
      max_attempts: 2
      backoff_initial_ms: 10
      backoff_max_ms: 10
      config: {record: @TMP@/hang.txt, delay_ms: 60000}
YAML
start_daemon

first_pid=$(plugin_field hang '.processes.pids[0]')
request POST /api/events/trigger '{"name":"slow.one","id":"slow-1"}'
expect_status 202
wait_until "slow-1 dead-lettered" 15 log_has "event slow-1 (slow.one) dead-lettered after 2 attempts: timed out"
expect_log "plugin process $first_pid killed: handle() of event slow-1 (attempt 1) overran its 1000 ms deadline"
# the pool's verdict comes first, the kill a little after it
wait_until "the second process killed" 5 log_has "killed: handle() of event slow-1 (attempt 2) overran its 1000 ms deadline"
[ "$(lines_in "$TMP/hang.txt" "entered")" = 2 ] || fail "expected two attempts to enter handle()"
[ "$(lines_in "$TMP/hang.txt" "returned")" = 0 ] || fail "a killed handler returned"
kill -0 "$first_pid" 2>/dev/null && fail "the overrunning process $first_pid still exists"
no_stuck_and_running() {
	[ "$(plugin_field hang .workers_stuck)" = 0 ] && [ "$(plugin_field hang .workers_live)" = 1 ] &&
		[ "$(plugin_field hang .processes.running)" = 1 ]
}
wait_until "no stuck worker, one live worker, one process" 10 no_stuck_and_running
[ "$(plugin_field hang .processes.killed_deadline)" = 2 ] || fail "expected 2 deadline kills"
[ "$(plugin_field hang .counters.timed_out)" = 2 ] || fail "expected 2 timed-out attempts"
stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
pass "an overrunning isolated handler is killed at its deadline and its process replaced; nothing stays stuck"
