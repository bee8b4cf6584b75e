#!/bin/bash
# A full plugin queue refuses the event to the caller (503 + Retry-After),
# counts it and logs it; the event is not half-delivered to other plugins.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin slow
stage_plugin recorder
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    slow: {workers: 1, queue_size: 3, subscribe: ["load.*"], config: {delay_ms: 2000, record: @TMP@/slow.txt}}
    recorder: {subscribe: ["load.*"], config: {record: @TMP@/recorder.txt}}
YAML
# 2 s per event: the eight requests below must all arrive before the slow
# plugin frees a slot, also on a loaded machine (they took 461 ms once, when
# an event took 400 ms).
start_daemon

accepted=0
refused=0
for i in $(seq 1 8); do
	trigger "load.n$i"
	case "$STATUS" in
	202) accepted=$((accepted + 1)) ;;
	503)
		refused=$((refused + 1))
		expect_body '"error":"busy"'
		expect_body "plugin 'slow' is full"
		grep -qi '^Retry-After: 1' "$TMP/headers" || fail "503 without Retry-After"
		;;
	*) fail "unexpected status $STATUS: $BODY" ;;
	esac
done
[ $accepted = 3 ] || fail "accepted $accepted, expected exactly the queue size (3)"
[ $refused = 5 ] || fail "refused $refused, expected 5"
pass "with a queue of 3, 3 events were accepted and 5 refused with 503 + Retry-After"

[ "$(plugin_counter slow refused)" = 5 ] || fail "slow refused counter: $(plugin_counter slow refused)"
expect_log "refused: queue of plugin 'slow' is full"
pass "each refusal is counted and logged"

wait_until "slow delivered the accepted ones" 30 lines_at_least "$TMP/slow.txt" "slow load" 3
[ "$(lines_in "$TMP/recorder.txt" "recorder load")" = 3 ] ||
	fail "recorder got $(lines_in "$TMP/recorder.txt" "recorder load") events: refused events were half-delivered"
pass "refused events reached no plugin at all (no half delivery)"

trigger load.after
expect_status 202
pass "the queue accepts again once drained"
stop_daemon TERM
