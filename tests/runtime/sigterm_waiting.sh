#!/bin/bash
# SIGTERM while ?wait=true requests wait for a hanging plugin: each of them
# is answered (504 with the outcomes so far) before the daemon stops, and it
# exits 0 without a sanitizer report.  (The HTTP threads used to stop under
# the waiters: no answer, then the heap was corrupted and the daemon
# aborted.)
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
stage_plugin hang
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
event: {sync_timeout_ms: 30000, shutdown_timeout_ms: 500}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
    hang: {workers: 1, timeout_ms: 20000, max_attempts: 1, config: {record: @TMP@/hang.txt, delay_ms: 10000}}
YAML
start_daemon

N=4
for i in $(seq 1 $N); do
	curl -s -m 20 -o "$TMP/answer.$i" -w '%{http_code}' -H 'Content-Type: application/json' \
		-d "{\"name\":\"wait.$i\"}" "http://127.0.0.1:$PORT/api/events/trigger?wait=true" > "$TMP/status.$i" &
	echo $! > "$TMP/curl.$i"
done
wait_until "all $N events reached the hanging plugin's queue" 5 counter_at_least hang received $N
wait_until "the recorder handled all $N" 5 lines_at_least "$TMP/recorder.txt" "recorder wait" $N
wait_until "the hanging plugin is inside handle()" 5 lines_at_least "$TMP/hang.txt" entered 1

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE with waiting requests"
for i in $(seq 1 $N); do
	wait "$(cat "$TMP/curl.$i")" || true
	status=$(cat "$TMP/status.$i")
	body=$(cat "$TMP/answer.$i" 2>/dev/null || true)
	[ "$status" = 504 ] || fail "waiting request $i answered $status: $body"
	echo "$body" | jq -e --arg n "wait.$i" '.name == $n and .status == "timeout" and
		.outcomes.recorder.status == "ok" and .outcomes.hang.status == "pending"' >/dev/null ||
		fail "waiting request $i: $body"
done
pass "each of the $N waiting requests was answered 504 with the outcomes so far, and the daemon exited 0"
