#!/bin/bash
# A reload replaces a batch plugin (handle_batch) whose one worker is inside
# a call when event.shutdown_timeout_ms passes, well within the call's own
# timeout_ms, and the call asks for a retry.  The call is waited for, and
# its retry is handed to the new instance like any delivery not yet
# started: the ?wait=true client gets the outcome of attempt 2, nothing is
# counted undelivered, and the old instance is unloaded (its record file
# closed).  (The call used to be given up on at the shutdown deadline: the
# event was counted undelivered, blamed on the new instance's room, and
# the old instance stayed loaded for good.)
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin batch
settings() { # TIMEOUT_MS
	write_plugin_settings <<YAML
    batch: {workers: 1, timeout_ms: $1, config: {record: @TMP@/batch.txt, delay_ms: 1500}}
YAML
	echo 'event: {shutdown_timeout_ms: 500, sync_timeout_ms: 20000}' >> "$CONFIG.in"
}
settings 8000
start_or_die http_ready
[ "$DIED" = 0 ] || fail "the daemon did not start: $(cat "$LOG")"


curl -s -m 30 -o "$TMP/wait.json" -w '%{http_code}' -H 'Content-Type: application/json' \
	-d '{"name":"fail.once.busy","id":"r1"}' "http://127.0.0.1:$PORT/api/events/trigger?wait=true" \
	> "$TMP/wait.status" &
client=$!
wait_until "the batch call has r1" 10 lines_at_least "$TMP/batch.txt" "^call 1$" 1
settings 8001
render_config
kill -HUP "$DAEMON_PID"
wait_until "the reload" 20 log_has "reload by signal SIGHUP: ok, generation 2"
wait "$client" || fail "the ?wait=true client failed"
[ "$(cat "$TMP/wait.status")" = 200 ] || fail "?wait=true answered $(cat "$TMP/wait.status"): $(cat "$TMP/wait.json")"
jq -e '.outcomes.batch.status == "ok" and .outcomes.batch.attempts == 2' "$TMP/wait.json" >/dev/null ||
	fail "the retry of the busy call was not delivered by the new instance: $(cat "$TMP/wait.json")"
[ "$(lines_in "$TMP/batch.txt" " r1 1 retry")" = 1 ] && [ "$(lines_in "$TMP/batch.txt" " r1 2 ok")" = 1 ] ||
	fail "expected attempt 1 to retry and attempt 2 to succeed, once each: $(cat "$TMP/batch.txt")"
expect_log "handed to the new instance"
[ "$(metric_value eventsys_reload_undelivered_total)" = 0 ] ||
	fail "eventsys_reload_undelivered_total is $(metric_value eventsys_reload_undelivered_total)"
[ "$(metric_value 'eventsys_plugin_undelivered_total{plugin="batch"}')" = 0 ] || fail "batch counts undelivered events"
! log_has "undelivered event" || fail "the log reports undelivered events: $(grep 'undelivered event' "$LOG")"
wait_until "the replaced instance unloaded (one record file open)" 10 prints 1 open_fds_on "$TMP/batch.txt"
pass "a batch call running at a reload's deadline: its retry handed to the new instance, the old one unloaded"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
! sanitizer_report_in_log || fail "sanitizer report in the log"
