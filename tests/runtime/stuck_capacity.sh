#!/bin/bash
# A pool gets its capacity back after more handlers got stuck than
# max_stuck_workers allows: with workers 1 and max_stuck_workers 1, two
# hung deliveries leave no live worker; once both threads return, they are
# joined, a worker is started again and the next event is handled.
# /api/plugins and /metrics say the same throughout.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin hang
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    hang:
      workers: 1
      timeout_ms: 200
      max_attempts: 1
      max_stuck_workers: 1
      config: {record: @TMP@/hang.txt, delay_ms: 4000, hang_first: 2}
YAML
start_daemon

# The first hung handler must still be stuck when the second is abandoned
# (4 s of hanging leaves room for a loaded machine), or the stuck limit is
# never reached.

metric() {
	curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1{plugin=\"hang\"}" '$1 == m {print $2}'
}
live_workers_are() {
	[ "$(plugin_counter hang workers_live)" = "$1" ] && [ "$(metric eventsys_plugin_workers)" = "$1" ]
}

trigger stuck.1
expect_status 202
wait_until "the first delivery abandoned" 5 log_has "replacement started"
trigger stuck.2
expect_status 202
wait_until "the second delivery abandoned" 5 log_has "no replacement (too many stuck workers)"
wait_until "no live worker in /api/plugins and /metrics" 5 live_workers_are 0
[ "$(plugin_counter hang workers_stuck)" = 2 ] || fail "expected 2 stuck workers"
pass "max_stuck_workers + 1 hung handlers leave no live worker, and both endpoints say so"

wait_until "both hung handlers returned" 15 lines_at_least "$TMP/hang.txt" returned 2
wait_until "stuck count back to 0" 5 bash -c "[ \"\$(curl -s http://127.0.0.1:$PORT/api/plugins | jq -r '.plugins[0].workers_stuck')\" = 0 ]"
wait_until "a worker live again in /api/plugins and /metrics" 5 live_workers_are 1
expect_log "capacity restored by 1 worker: 1 of 1 live"
pass "the stuck threads returned, were joined and the pool has its worker again"

trigger after.1
expect_status 202
wait_until "the next event handled" 5 lines_at_least "$TMP/hang.txt" "after.1 .* returned" 1
wait_until "the next event counted ok" 5 counter_at_least hang ok 1
pass "events are handled again with workers: 1"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
