#!/bin/bash
# A hung plugin does not delay a healthy one: both subscribe to the same
# events; the hung one overruns its deadline, is reported, its worker is
# replaced; the healthy one delivers every event meanwhile.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
stage_plugin hang
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {workers: 1, config: {record: @TMP@/recorder.txt}}
    hang:
      workers: 1
      timeout_ms: 200
      max_attempts: 1
      max_stuck_workers: 2
      config: {record: @TMP@/hang.txt, delay_ms: 3000}
YAML
start_daemon

t0=$(date +%s%N)
for i in 1 2 3 4 5; do
	trigger "job.$i"
	expect_status 202
	expect_body '"matched":["hang","recorder"]'
done
wait_until "recorder got all 5 events" 5 lines_at_least "$TMP/recorder.txt" "recorder job" 5
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
entered=$(lines_in "$TMP/hang.txt" entered)
returned=$(lines_in "$TMP/hang.txt" returned)
# the hung handler takes 3 s per event: had the recorder waited for it, it
# could not have finished before the first one returned
[ "$returned" = 0 ] || fail "recorder was only done after the hung plugin returned ($elapsed_ms ms)"
pass "the healthy plugin delivered all 5 events in $elapsed_ms ms while the other hung ($entered entered, 0 returned)"

wait_until "timeout logged" 5 log_has "\[hang\] handler overran its 200 ms deadline on event"
expect_log "worker abandoned, replacement started"
wait_until "stuck worker reported" 5 counter_at_least hang workers_stuck 1
[ "$(plugin_counter hang timed_out)" -ge 1 ] || fail "timed_out not counted"
request GET /api/plugins
echo "$BODY" | jq -e '.plugins[] | select(.name=="hang") | .state == "degraded"' >/dev/null || fail "hang not degraded: $BODY"
request GET /health
echo "$BODY" | jq -e '.status == "degraded" and .components.event_manager == "degraded"' >/dev/null || fail "health: $BODY"
expect_body "plugin 'hang': stuck"
pass "the hung plugin is reported: timeout logged, counted, degraded in /api/plugins and /health"

wait_until "timed-out delivery dead-lettered" 5 log_has "\[hang\] event .* dead-lettered after 1 attempt: timed out: handler did not return within 200 ms"
pass "the timed-out delivery follows its policy (max_attempts 1: dead-lettered)"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
