#!/bin/bash
# SIGTERM stops isolated plugins' processes and reaps them: each idle one
# runs shutdown() and exits, one stuck in handle() at the stop deadline is
# killed; the daemon exits 0 within the deadline and leaves no process
# behind.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin relay
stage_plugin hang
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
event: {shutdown_timeout_ms: 1500}
plugins:
  directory: @PLUGDIR@
  settings:
    relay: {isolation: process, workers: 3, config: {record: @TMP@/relay.txt}}
    hang:
      isolation: process
      workers: 1
      timeout_ms: 60000
      subscribe: ["stuck.**"]
      config: {record: @TMP@/hang.txt, delay_ms: 60000}
YAML
start_daemon

relay_pids=$(plugin_field relay '.processes.pids[]' | tr '\n' ' ')
hang_pid=$(plugin_field hang '.processes.pids[0]')
[ "$(echo $relay_pids | wc -w)" = 3 ] && [ -n "$hang_pid" ] || fail "expected 3 relay processes and 1 hang process"
trigger relay.in.1
expect_status 202
trigger stuck.one
expect_status 202
wait_until "relay.in.1 handled" 10 lines_at_least "$TMP/relay.txt" "relay.in.1" 1
wait_until "hang inside handle()" 10 lines_at_least "$TMP/hang.txt" "entered" 1

t0=$(date +%s%N)
stop_daemon TERM
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
[ $ms -lt 6000 ] || fail "the stop took $ms ms (deadline 1500 ms)"
for pid in $relay_pids; do
	expect_log "\[relay\] relay stopping in pid $pid after"
	expect_log "\[relay\] plugin process $pid stopped"
	kill -0 "$pid" 2>/dev/null && fail "relay process $pid still exists"
done
expect_log "\[hang\] plugin process $hang_pid killed by SIGKILL"
kill -0 "$hang_pid" 2>/dev/null && fail "hang process $hang_pid still exists"
[ "$(lines_in "$TMP/hang.txt" returned)" = 0 ] || fail "the stuck handler returned"
pass "SIGTERM in $ms ms: 3 processes ran shutdown() and were reaped, the stuck one was killed and reaped"
