#!/bin/bash
# The database goes away and comes back while clients trigger: in durable
# mode every trigger meanwhile is answered 503 (never a 202 for an event
# that is not stored), /health says the database is failing, the log says
# so once rather than per event, and the daemon reconnects by itself.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

db_setup
stage_plugin recorder
write_config <<YAML
server: {port: @PORT@}
logging: {format: text, level: info, access_log: false}
database:
  enabled: true
  dsn: "$(db_dsn_tcp)"
  reconnect_max_ms: 300
plugins:
  directory: @PLUGDIR@
  settings:
    recorder:
      config: {record: @TMP@/recorder.txt}
YAML
start_daemon
wait_until "database connected" 10 log_has "connected to event_system@127.0.0.1"

# One client triggers throughout, keeping every answer.
client() {
	local n=0 out
	while kill -0 $$ 2>/dev/null; do # until the test ends, however it ends
		n=$((n + 1))
		out=$(curl -s -m 5 -w ' %{http_code}' -H 'Content-Type: application/json' \
			--data-binary "{\"name\":\"outage.item\",\"data\":{\"n\":$n}}" \
			"http://127.0.0.1:$PORT/api/events/trigger") || out="- 000"
		echo "${out##* } ${out% *}" >> "$TMP/answers"
		sleep 0.01
	done
}
client &
CLIENT=$!
wait_until "some events accepted" 10 lines_at_least "$TMP/answers" "^202 " 20

db_stop_server
wait_until "a 503 while the database is down" 10 lines_at_least "$TMP/answers" "^503 " 1
down_health() {
	request GET /health
	[ "$STATUS" = 503 ] && echo "$BODY" | jq -e '.status == "unavailable" and .components.database == "failing"
		and (.reasons.database | length) > 0' >/dev/null
}
wait_until "health shows the database failing" 10 down_health
pass "database down: /health answers 503 with database failing and the reason"
refused_at=$(lines_in "$TMP/answers" "^503 ")
wait_until "more refusals" 20 lines_at_least "$TMP/answers" "^503 " $((refused_at + 30))
request POST /api/events/trigger '{"name":"outage.single"}'
expect_status 503
echo "$BODY" | jq -e '.error == "database_unavailable"' >/dev/null || fail "503 body: $BODY"
[ "$(grep -c 'Retry-After: 5' "$TMP/headers")" = 1 ] || fail "no Retry-After on the 503"
pass "triggers while the database is down are answered 503 database_unavailable with Retry-After"

request POST /api/admin/reload
expect_status 200
expect_body "event_subscriptions not readable: kept the rows read before"
pass "a reload while the database is down succeeds, keeping the event_subscriptions rows it had"

db_start_server
up_health() {
	request GET /health
	[ "$STATUS" = 200 ] && echo "$BODY" | jq -e '.components.database == "ok"' >/dev/null
}
wait_until "the daemon reconnects by itself" 20 up_health
expect_log "recovered"
wait_until "event_subscriptions read again" 10 log_has "reload by database (event_subscriptions readable again): ok"
accepted_at=$(lines_in "$TMP/answers" "^202 ")
wait_until "events accepted again" 10 lines_at_least "$TMP/answers" "^202 " $((accepted_at + 20))
kill "$CLIENT"
wait "$CLIENT" 2>/dev/null || true
pass "the daemon reconnects with backoff and accepts events again without a restart"

# Every 202 has its row; nothing but 202 and 503 was answered.
grep -v '^202 \|^503 ' "$TMP/answers" && fail "answers other than 202/503 (above)"
awk '$1 == 202 {print $2}' "$TMP/answers" | jq -r .id > "$TMP/accepted"
accepted=$(wc -l < "$TMP/accepted")
refused=$(lines_in "$TMP/answers" "^503 ")
stored=0
while read -r id; do
	[ "$(db_count events "id='$id'")" = 1 ] && stored=$((stored + 1))
done < "$TMP/accepted"
echo "answers: $accepted accepted, $refused refused while down; $stored of the accepted are stored"
[ "$stored" = "$accepted" ] || fail "$((accepted - stored)) events answered 202 are not stored"
wait_until "every accepted event delivered and done" 20 db_count_is 0 events "state='accepted'"
pass "no 202 was lost: all $accepted accepted events are stored and delivered ($refused refused while down)"

# The outage was logged once per change of state, not per refused event.
down_lines=$(grep -c '\[database\].*unavailable' "$LOG" || true)
up_lines=$(grep -c '\[database\] connected to .*: recovered' "$LOG" || true)
[ "$down_lines" = 1 ] && [ "$up_lines" = 1 ] ||
	fail "expected one line for the outage and one for the recovery, got $down_lines and $up_lines ($refused refusals)"
pass "the outage is logged once when it starts and once when it ends, not per refused event ($refused refusals)"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"

# Async mode through an outage: 202s go on, /health is degraded (not
# unavailable), history waits in the bounded queue and what does not fit is
# dropped, counted and logged once.
write_config <<YAML
server: {port: @PORT@}
logging: {format: text, level: info, access_log: false}
database:
  enabled: true
  dsn: "$(db_dsn_tcp)"
  mode: async
  queue_size: 100
  reconnect_max_ms: 300
plugins:
  directory: @PLUGDIR@
  settings:
    recorder:
      config: {record: @TMP@/recorder2.txt}
YAML
start_daemon
wait_until "database connected" 10 log_has "connected to event_system@127.0.0.1"
db_stop_server
request POST /api/events/trigger '{"name":"async.during"}'
expect_status 202
degraded() {
	request GET /health
	[ "$STATUS" = 200 ] && echo "$BODY" | jq -e '.status == "degraded" and .components.database == "failing"' >/dev/null
}
wait_until "health degraded" 10 degraded
for i in $(seq 1 60); do
	request POST /api/events/trigger "{\"name\":\"async.during\",\"data\":{\"i\":$i}}"
	expect_status 202
done
wait_until "recorder got them all" 10 lines_at_least "$TMP/recorder2.txt" "async.during" 61
dropped=$(curl -s "http://127.0.0.1:$MPORT/metrics" | awk '$1 == "eventsys_db_records_dropped_total" {print $2}')
[ "${dropped:-0}" -gt 0 ] || fail "61 events x 3 records fit a queue of 100? dropped=$dropped"
[ "$(grep -c 'history records are being dropped' "$LOG")" = 1 ] || fail "the drops are not logged exactly once"
depth=$(curl -s "http://127.0.0.1:$MPORT/metrics" | awk '$1 == "eventsys_db_queue_depth" {print $2}')
[ "$depth" -le 200 ] || fail "queue depth $depth beyond two writers' bound"
db_start_server
wait_until "reconnected" 20 up_health
wait_until "the queued history written" 10 db_count_at_least 1 events "name='async.during'"
pass "async mode during an outage: 202s go on, /health degraded, history bounded ($dropped records dropped, counted, logged once)"
stop_daemon TERM
