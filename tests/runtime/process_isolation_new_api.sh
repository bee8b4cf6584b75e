#!/bin/bash
# An isolated plugin's host table is ABI 1.0: the 1.1 functions that need
# the daemon (emit_event, gauge_set, delivery_complete) are not offered.
# A plugin that calls them without checking ES_HOST_HAS() gets a refusal
# and one log line naming the function, and its process keeps running
# (emit_event() used to be the in-process function with no daemon behind
# it: the child faulted, and the event was retried into quarantine).
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin misbehave
isolated_misbehave_settings | write_plugin_settings
start_daemon
pid=$(plugin_field misbehave '.processes.pids[0]')

for i in 1 2 3; do
	request POST /api/events/trigger "{\"name\":\"mb.newapi\",\"id\":\"n$i\"}"
	expect_status 202
done
wait_until "three calls recorded" 10 lines_at_least "$TMP/misbehave.txt" "emit_event-status" 3
[ "$(grep -c 'emit_event-status 5$' "$TMP/misbehave.txt")" = 3 ] ||
	fail "emit_event() in the child: $(cat "$TMP/misbehave.txt") (expected ES_STATUS_ERROR, 5)"
[ "$(plugin_field misbehave '.processes.pids[0]')" = "$pid" ] || fail "the plugin's process was replaced"
# counted when the child's answer is read, after the child wrote its line
wait_until "3 deliveries ok in /metrics" 10 prints 3 metric_value 'eventsys_plugin_ok_total{plugin="misbehave"}'
wait_until "the emit_event() refusal logged" 10 log_has "emit_event() is not offered to an isolated plugin"
[ "$(grep -c 'emit_event() is not offered' "$LOG")" = 1 ] || fail "the refusal is logged more than once"
expect_log "gauge_set() is not offered to an isolated plugin"
! curl -s "http://127.0.0.1:$MPORT/metrics" | grep -q mb_gauge || fail "a gauge set in the child reached /metrics"
pass "the 1.1 functions that need the daemon are refused in a child, logged once each; the child keeps running"
