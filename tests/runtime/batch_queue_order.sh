#!/bin/bash
# A batch request reserves a slot for each of its events first and then
# hands each plugin all of its deliveries together: every plugin still gets
# the batch's events in the order they were sent, and a full queue accepts
# exactly as many events as it has room for, the rest answered busy.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
stage_plugin slow
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {workers: 1, subscribe: ["batch.**"], config: {record: @TMP@/recorder.txt}}
    slow: {workers: 1, subscribe: ["batch.**"], config: {delay_ms: 1, record: @TMP@/slow.txt}}
YAML
start_daemon

# 300 events for both plugins, one other event after every tenth, and one
# item that does not parse
body='['
for i in $(seq 1 300); do
	body="$body{\"name\":\"batch.e$i\"},"
	[ $((i % 10)) = 0 ] && body="$body{\"name\":\"other.x\"},"
done
body="$body{\"nam\":1}]"
request POST /api/events/batch "$body"
expect_status 207
[ "$(echo "$BODY" | jq '.accepted')" = 330 ] || fail "accepted: $(echo "$BODY" | jq -c '{accepted, rejected}')"
[ "$(echo "$BODY" | jq '.results[330].status')" = 400 ] || fail "the bad item: $(echo "$BODY" | jq -c '.results[330]')"
[ "$(echo "$BODY" | jq '[.results[] | select(.matched == ["recorder","slow"] or .matched == ["slow","recorder"])] | length')" = 300 ] ||
	fail "matched lists: $(echo "$BODY" | jq -c '.results[0]')"
wait_until "300 events recorded by each plugin" 20 lines_at_least "$TMP/slow.txt" ' batch.e' 300
wait_until "300 events recorded by the recorder" 5 lines_at_least "$TMP/recorder.txt" ' batch.e' 300
seq 1 300 | sed 's/^/batch.e/' > "$TMP/expected.txt"
for plugin in recorder slow; do
	awk '{print $2}' "$TMP/$plugin.txt" > "$TMP/$plugin.names"
	cmp -s "$TMP/expected.txt" "$TMP/$plugin.names" ||
		fail "$plugin got the batch out of order: $(diff "$TMP/expected.txt" "$TMP/$plugin.names" | head -5)"
done
pass "one worker per plugin: each got the batch's 300 events once, in the order sent"
stop_daemon

# A queue of 50 that frees nothing during the request: exactly 50 of the
# batch's events are accepted (for both plugins), the other 70 refused as
# busy, counted, with the full plugin named.
rm -f "$TMP/recorder.txt" "$TMP/slow.txt"
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {workers: 1, subscribe: ["batch.**"], config: {record: @TMP@/recorder.txt}}
    slow: {workers: 1, queue_size: 50, subscribe: ["batch.**"], config: {delay_ms: 5000, record: @TMP@/slow.txt}}
YAML
start_daemon
body='['
for i in $(seq 1 120); do body="$body{\"name\":\"batch.e$i\"},"; done
request POST /api/events/batch "${body%,}]"
expect_status 207
[ "$(echo "$BODY" | jq -c '[.accepted, .rejected]')" = '[50,70]' ] ||
	fail "a queue of 50: $(echo "$BODY" | jq -c '{accepted, rejected}')"
[ "$(echo "$BODY" | jq '[.results[50:][] | select(.status == 503 and .error == "busy" and .plugin == "slow")] | length')" = 70 ] ||
	fail "the refused ones: $(echo "$BODY" | jq -c '.results[50]')"
wait_until "the recorder got the 50 accepted events" 10 lines_at_least "$TMP/recorder.txt" ' batch.e' 50
seq 1 50 | sed 's/^/batch.e/' > "$TMP/expected.txt"
awk '{print $2}' "$TMP/recorder.txt" > "$TMP/recorder.names"
cmp -s "$TMP/expected.txt" "$TMP/recorder.names" || fail "the recorder got: $(head -3 "$TMP/recorder.names")"
[ "$(plugin_counter slow refused)" = 70 ] || fail "slow refused: $(plugin_counter slow refused)"
pass "a queue of 50: the first 50 events accepted for both plugins, 70 answered busy and counted"
