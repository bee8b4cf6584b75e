#!/bin/bash
# A dead-letter replay answered 202 is durable: if the daemon dies before
# the replayed delivery ends, the next start delivers it (the dead letter
# reads replayed, so it must happen), once; when it has ended, a further
# start delivers nothing again.  (The replay lived only in memory: after a
# crash the event was never delivered although the dead letter said
# replayed.)
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

db_setup
stage_plugin slow
config() { # TIMEOUT_MS
	write_db_plugin_settings <<YAML
    slow:
      workers: 1
      max_attempts: 1
      timeout_ms: $1
      subscribe: ["**"]
      config: {record: @TMP@/rec.txt, delay_ms: 1000}
YAML
	[ -z "${PORT:-}" ] || render_config
}
config 200 # the first delivery times out: a dead letter
start_daemon
wait_until "database connected" 15 log_has "connected to event_system"
trigger replay.me
expect_status 202
id=$(echo "$BODY" | jq -r .id)
wait_until "the dead letter stored" 20 db_count_is 1 dead_letters
wait_until "the timed-out handler returned" 10 lines_at_least "$TMP/rec.txt" "$id" 1
config 5000 # the replay can succeed
request POST /api/admin/reload
expect_status 200
dl=$(db_sql "SELECT id FROM dead_letters LIMIT 1")
request POST "/api/dead-letters/$dl/replay"
expect_status 202
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
[ "$(lines_in "$TMP/rec.txt" "$id")" = 1 ] || fail "the replay ended before the kill (the test needs it in flight)"

start_daemon
wait_until "the replay delivered after the restart" 20 lines_at_least "$TMP/rec.txt" "$id" 2
event_done() {
	[ "$(db_sql "SELECT state FROM events WHERE id='$id'")" = done ] && db_count_is 2 deliveries
}
wait_until "the replay's outcome written and the event done" 15 event_done
[ "$(db_sql "SELECT status FROM deliveries ORDER BY id DESC LIMIT 1")" = delivered ] ||
	fail "the replay's outcome: $(db_sql "SELECT status FROM deliveries ORDER BY id DESC LIMIT 1")"
pass "a replay answered 202 and cut short by a crash is delivered at the next start"

stop_daemon TERM
start_daemon
wait_until "the start's recovery" 15 log_has "no unfinished events\|redelivered"
expect_log "no unfinished events from an earlier run"
[ "$(lines_in "$TMP/rec.txt" "$id")" = 2 ] || fail "delivered $(lines_in "$TMP/rec.txt" "$id") times in all (expected 2)"
pass "once the replay ended, a further start delivers nothing again"
stop_daemon TERM
! sanitizer_report_in_log || fail "sanitizer report in the log"
