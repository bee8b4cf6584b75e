#!/bin/bash
# Event history in a real MariaDB (started by the test): durable 202 only
# after the row is committed, delivery outcomes and dead letters recorded,
# the history API, dead-letter replay, the test event of section 7.2, the
# audit log, and the password never shown.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

DB_EXTRA_ARGS=--max-allowed-packet=1M # below event.max_event_size, for the refused-row case
db_setup
stage_plugin recorder
stage_plugin failing
write_config <<YAML
server: {port: @PORT@}
event: {max_event_size: 2097152}
logging: {format: text, level: info}
database:
  enabled: true
  dsn: "$(db_dsn_tcp)"
plugins:
  directory: @PLUGDIR@
  settings:
    recorder:
      config: {record: @TMP@/recorder.txt}
    failing:
      max_attempts: 2
      backoff_initial_ms: 20
      config: {record: @TMP@/failing.txt}
YAML
start_daemon
wait_until "database connected" 10 log_has "connected to event_system@127.0.0.1:$DB_PORT/event_system"
request GET /health
echo "$BODY" | jq -e '.components.database == "ok" and .status == "ok"' >/dev/null || fail "health: $BODY"
pass "/health shows the database as ok once connected"

# Durable: the row exists when the 202 arrives.
request POST /api/events/trigger '{"name":"order.created","source":"shop","data":{"order":42,"text":"caf\u00e9 \"quoted\""}}'
expect_status 202
id=$(echo "$BODY" | jq -r .id)
[ "$(db_count events "id='$id'")" = 1 ] || fail "202 answered before the event row was committed"
[ "$(db_sql "SELECT JSON_VALUE(payload,'$.order') FROM events WHERE id='$id'")" = 42 ] || fail "payload not stored"
[ "$(db_sql "SELECT JSON_VALUE(payload,'$.text') FROM events WHERE id='$id'")" = 'café "quoted"' ] ||
	fail "payload text not stored as sent: $(db_sql "SELECT payload FROM events WHERE id='$id'")"
[ "$(db_sql "SELECT CONCAT(name,'|',source) FROM events WHERE id='$id'")" = "order.created|shop" ] || fail "name/source"
pass "durable mode: the event row is committed before the 202 (utf8mb4 payload kept as sent)"

wait_until "delivery recorded" 10 db_count_is 1 deliveries "plugin='recorder' AND status='delivered'"
wait_until "event marked done" 10 db_count_is 1 events "id='$id' AND state='done'"
pass "the delivery outcome is recorded and the event marked done"

request GET "/api/events/$id"
expect_status 200
echo "$BODY" | jq -e --arg id "$id" '.id == $id and .name == "order.created" and .data.order == 42 and .state == "done"
	and (.deliveries | length) == 1 and .deliveries[0].plugin == "recorder" and .deliveries[0].status == "delivered"
	and .deliveries[0].attempts == 1 and (.time | test("Z$"))' >/dev/null || fail "GET /api/events/{id}: $BODY"
request GET "/api/events/no-such-id"
expect_status 404
pass "GET /api/events/{id} answers the event with its deliveries; 404 for an unknown id"

# A failing delivery: dead-lettered with the last error, then replayed.
request POST /api/events/trigger '{"name":"fail.charge","data":{"n":1}}'
expect_status 202
# after the answer: the server received the event before it answered (read
# before the request, a loaded machine put the receipt 100 ms later)
triggered_ms=$(($(date +%s%N) / 1000000))
fid=$(echo "$BODY" | jq -r .id)
wait_until "dead letter stored" 10 db_count_is 1 dead_letters
fseq=$(db_sql "SELECT seq FROM events WHERE id='$fid'")
[ "$(db_sql "SELECT CONCAT(plugin,'|',attempts,'|',last_error) FROM dead_letters")" = "failing|1|downstream rejected the event (test)" ] ||
	fail "dead letter row: $(db_sql 'SELECT * FROM dead_letters')"
wait_until "dead delivery" 10 db_count_is 1 deliveries "event_seq=$fseq AND plugin='failing' AND status='dead'"
wait_until "recorder got it too" 10 db_count_is 1 deliveries "event_seq=$fseq AND plugin='recorder' AND status='delivered'"
request GET /api/dead-letters
expect_status 200
dl=$(echo "$BODY" | jq -r '.dead_letters[0].id')
echo "$BODY" | jq -e --arg id "$fid" '.count == 1 and .dead_letters[0].plugin == "failing" and .dead_letters[0].event.id == $id
	and .dead_letters[0].error == "downstream rejected the event (test)" and .dead_letters[0].replayed_at == null' >/dev/null ||
	fail "GET /api/dead-letters: $BODY"
pass "a failed delivery is stored as a dead letter with the last error (GET /api/dead-letters)"

# A second after the event's receipt (what the replay's latency is measured
# against, not a synchronisation)
second_passed() {
	[ $(($(date +%s%N) / 1000000)) -ge $((triggered_ms + 1000)) ]
}
wait_until "a second since the event" 5 second_passed
before=$(lines_in "$TMP/failing.txt" "$fid")
request POST "/api/dead-letters/$dl/replay"
expect_status 202
echo "$BODY" | jq -e --arg id "$fid" '.plugin == "failing" and .event.id == $id and .status == "queued"' >/dev/null ||
	fail "replay answer: $BODY"
wait_until "replayed to the plugin" 10 lines_at_least "$TMP/failing.txt" "$fid" $((before + 1))
[ "$(lines_in "$TMP/recorder.txt" "$fid")" = 1 ] || fail "replay went to other plugins too"
wait_until "replay marked" 10 db_count_is 1 dead_letters "id=$dl AND replay_count=1 AND replayed_at IS NOT NULL"
wait_until "replay audited" 10 db_count_is 1 audit_log "action='dead_letter.replayed' AND detail LIKE '%$fid%'"
request POST /api/dead-letters/99999/replay
expect_status 404
pass "POST /api/dead-letters/{id}/replay delivers the event to that plugin only, marks and audits it; 404 when unknown"

# The replay failed too: a second dead letter.  Each dead delivery names its
# own dead letter (the id to replay), and the replay's latency counts from
# the event's receipt (operations.md), not from the replay.
wait_until "the replay dead-lettered" 10 db_count_is 2 dead_letters "event_seq=$fseq"
wait_until "the replay's dead delivery" 10 db_count_is 2 deliveries "event_seq=$fseq AND plugin='failing' AND status='dead'"
dl2=$(db_sql "SELECT MAX(id) FROM dead_letters WHERE event_seq=$fseq")
request GET "/api/events/$fid"
expect_status 200
links=$(echo "$BODY" | jq -r '[.deliveries[] | select(.plugin == "failing") | .dead_letter] | map(tostring) | join(" ")')
[ "$links" = "$dl $dl2" ] || fail "the dead deliveries name dead letters '$links', expected '$dl $dl2': $BODY"
echo "$BODY" | jq -e '[.deliveries[] | select(.plugin == "failing")] | .[0].latency_ms < 1000 and .[1].latency_ms >= 1000' \
	>/dev/null || fail "the replayed delivery's latency_ms is not counted from the event's receipt: $BODY"
pass "each dead delivery names its own dead letter ($dl, then $dl2); the replay's latency counts from the receipt"

# History listing: filters and paging.
for i in 1 2 3 4 5; do
	request POST /api/events/trigger "{\"name\":\"page.item\",\"data\":{\"i\":$i}}"
	expect_status 202
done
request GET "/api/events?name=page.item&limit=2"
expect_status 200
echo "$BODY" | jq -e '.count == 2 and .events[0].data.i == 5 and .events[1].data.i == 4 and .next_before != null' >/dev/null ||
	fail "first page: $BODY"
next=$(echo "$BODY" | jq -r .next_before)
request GET "/api/events?name=page.item&limit=2&before=$next"
echo "$BODY" | jq -e '.count == 2 and .events[0].data.i == 3 and .events[1].data.i == 2' >/dev/null || fail "second page: $BODY"
request GET "/api/events?name=page.*&limit=100"
echo "$BODY" | jq -e '.count == 5 and .next_before == null' >/dev/null || fail "pattern: $BODY"
request GET "/api/events?since=2000-01-01T00:00:00Z&until=2001-01-01T00:00:00Z"
echo "$BODY" | jq -e '.count == 0' >/dev/null || fail "time window: $BODY"
request GET "/api/events?since=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)&name=order.created"
echo "$BODY" | jq -e '.count == 1' >/dev/null || fail "since: $BODY"
request GET "/api/events?limit=0"
expect_status 400
request GET "/api/events?since=yesterday"
expect_status 400
expect_body "RFC 3339"
# Bounds past the year 9999 (the largest a signed 64-bit count of
# microseconds could not even hold) are refused by name, not overflowed
for bound in since until; do
	for v in 9223372036854775807 99999999999999999999 253402300800; do
		request GET "/api/events?$bound=$v"
		expect_status 400
		expect_body "$bound is out of range"
		expect_body "9999-12-31T23:59:59Z"
	done
done
request GET "/api/events?until=253402300799"
expect_status 200
daemon_exited && fail "the daemon died on an out-of-range time bound"
pass "GET /api/events filters by name (with *), since, until; pages newest first with next_before; bad parameters are 400"

# A row larger than the server's max_allowed_packet is never sent (the server
# would drop the connection): that event alone is answered 413; the others
# of the round are stored and the database stays up.
big=$(head -c 1200000 /dev/zero | tr '\0' 'x')
printf '{"name":"big.one","data":"%s"}' "$big" > "$TMP/big.json"
curl -s -o "$TMP/big.out" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$TMP/big.json" \
	"http://127.0.0.1:$PORT/api/events/trigger" > "$TMP/big.status" &
pids=($!)
for i in 1 2 3; do
	curl -s -o /dev/null -H 'Content-Type: application/json' --data-binary "{\"name\":\"beside.big\",\"data\":$i}" \
		"http://127.0.0.1:$PORT/api/events/trigger" &
	pids+=($!)
done
wait "${pids[@]}"
[ "$(cat "$TMP/big.status")" = 413 ] || fail "a row over max_allowed_packet: $(cat "$TMP/big.status") $(head -c 300 "$TMP/big.out")"
grep -q '"error":"too_large"' "$TMP/big.out" && grep -q 'max_allowed_packet 1048576' "$TMP/big.out" ||
	fail "413 body: $(head -c 300 "$TMP/big.out")"
[ "$(db_count events "name='big.one'")" = 0 ] || fail "the refused event was stored"
[ "$(db_count events "name='beside.big'")" = 3 ] || fail "events beside the refused one were not stored"
expect_log "(big.one) not stored: the event's row ([0-9]* bytes) is larger than the database accepts"
log_has "unavailable" && fail "an oversized event took the database down"
request POST /api/events/trigger '{"name":"after.big"}'
expect_status 202
pass "an event larger than max_allowed_packet is answered 413 alone; the rest are stored, the database stays up"

# Section 7.2: the test event is in the database afterwards.
request POST /api/events/test
expect_status 200
tid=$(echo "$BODY" | jq -r .id)
[ "$(db_count events "id='$tid' AND name='system.test'")" = 1 ] || fail "test event not recorded"
pass "POST /api/events/test leaves the test event's record in the database (section 7.2)"

# Batch in durable mode: all rows committed before the answer.
request POST /api/events/batch '[{"name":"batch.a"},{"name":"bad name"},{"name":"batch.b"}]'
expect_status 207
[ "$(db_count events "name IN ('batch.a','batch.b')")" = 2 ] || fail "batch rows missing at the answer"
pass "a durable batch answers per event after its rows are committed"

# Event configuration in the database: rows of event_subscriptions add
# subscriptions, read on reload; an invalid row refuses the reload.
db_sql "INSERT INTO event_subscriptions (plugin, pattern, description) VALUES ('failing', 'extra.*', 'test')"
request POST /api/admin/reload
expect_status 200
expect_body "event_subscriptions (database)"
request GET /api/plugins
echo "$BODY" | jq -e '.plugins[] | select(.name == "failing") | .subscriptions == ["fail.**", "extra.*"]' >/dev/null ||
	fail "subscriptions after reload: $BODY"
request POST /api/events/trigger '{"name":"extra.one"}'
expect_status 202
echo "$BODY" | jq -e '.matched | index("failing") != null' >/dev/null || fail "the database row does not route: $BODY"
db_sql "INSERT INTO event_subscriptions (plugin, pattern) VALUES ('failing', 'bad..pattern')"
bad_row=$(db_sql "SELECT id FROM event_subscriptions WHERE pattern='bad..pattern'")
request POST /api/admin/reload
expect_status 422
expect_body "event_subscriptions row $bad_row: pattern 'bad..pattern'"
request POST /api/events/trigger '{"name":"extra.two"}'
echo "$BODY" | jq -e '.matched | index("failing") != null' >/dev/null || fail "a refused reload changed the routes: $BODY"
db_sql "UPDATE event_subscriptions SET enabled=0 WHERE id=$bad_row"
pass "event_subscriptions rows add subscriptions on reload; an invalid row refuses the reload and changes nothing"

# Reload is audited.
kill -HUP "$DAEMON_PID"
wait_until "reload audited" 10 db_count_is 1 audit_log "action='reload.ok' AND actor='signal SIGHUP'"
pass "reloads are written to the audit_log table"

# Metrics
curl -s "http://127.0.0.1:$MPORT/metrics" > "$TMP/metrics.txt"
grep -q '^eventsys_db_up 1$' "$TMP/metrics.txt" || fail "eventsys_db_up"
grep -Eq '^eventsys_db_rows_written_total\{table="events"\} ([1-9][0-9]*)$' "$TMP/metrics.txt" || fail "rows written"
grep -Eq '^eventsys_db_commit_duration_seconds_count(\{\})? [1-9]' "$TMP/metrics.txt" || fail "commit latency"
if command -v promtool >/dev/null 2>&1; then
	promtool check metrics < "$TMP/metrics.txt" > "$TMP/promtool.txt" 2>&1 || { cat "$TMP/promtool.txt"; fail "promtool"; }
fi
grep -oh 'eventsys_db_[a-z_]*' "$ES_TOP_SRCDIR/configs/prometheus/alerts.yml" "$ES_TOP_SRCDIR/configs/grafana/event-system.json" |
	sort -u | sed -e 's/_bucket$//' > "$TMP/used.txt"
[ -s "$TMP/used.txt" ] || fail "no database series in the alerts or the dashboard"
while read -r name; do
	grep -q "^# TYPE $name " "$TMP/metrics.txt" || fail "$name is used by the alerts or the dashboard but not exported"
done < "$TMP/used.txt"
pass "database metrics are exported (writes, batches, commit latency, errors), including every one the alerts and dashboard use"

# Every source the API takes is stored whole: 1,024 bytes (the limit), and
# 512 two-byte characters (more characters than the old 255-character
# column held); one byte more is a 400, as is a time of 65 characters.
long_ascii=$(head -c 1024 /dev/zero | tr '\0' s)
long_utf8=$(for i in $(seq 1 512); do printf '\xc3\xa9'; done)
for source in "$long_ascii" "$long_utf8"; do
	request POST /api/events/trigger "{\"name\":\"src.long\",\"source\":\"$source\"}"
	expect_status 202
	sid=$(echo "$BODY" | jq -r .id)
	[ "$(db_sql "SELECT source FROM events WHERE id='$sid'")" = "$source" ] ||
		fail "a source of ${#source} characters was not stored whole"
done
request POST /api/events/trigger "{\"name\":\"src.long\",\"source\":\"${long_ascii}s\"}"
expect_status 400
echo "$BODY" | jq -e '.message | test("at most 1024 bytes")' >/dev/null || fail "source of 1025 bytes: $BODY"
long_time="2024-01-01T12:00:00.$(head -c 44 /dev/zero | tr '\0' 1)Z"
request POST /api/events/trigger "{\"name\":\"time.long\",\"time\":\"$long_time\"}"
expect_status 400
echo "$BODY" | jq -e '.message | test("at most 64 characters")' >/dev/null || fail "time of ${#long_time}: $BODY"
request POST /api/events/trigger "{\"name\":\"time.long\",\"time\":\"${long_time%1Z}Z\"}"
expect_status 202
pass "a source of up to 1024 bytes (512 characters of two bytes too) is stored whole; a longer one, or a time over 64 characters, is a 400"

# The password appears nowhere.
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
if grep -q "$DB_PASSWORD" "$LOG" "$TMP/metrics.txt" "$TMP/body"; then fail "the password was shown"; fi
"$ES_DAEMON" -c "$CONFIG" --check-config > "$TMP/check.txt" 2>&1 || true
grep -q "$DB_PASSWORD" "$TMP/check.txt" && fail "--check-config shows the password"
grep -q "event_system:\*\*\*@tcp" "$TMP/check.txt" || fail "--check-config does not name the database: $(cat "$TMP/check.txt")"
pass "the database password appears in no log line, API answer, metric or --check-config output"
