#!/bin/bash
# At-least-once across a crash: the daemon is killed with SIGKILL while
# clients trigger events and a slow plugin still has a backlog; after a
# restart every event that was answered 202 is delivered to every plugin
# at least once (counted from the plugins' own records).
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

db_setup
stage_plugin recorder
stage_plugin slow
write_db_plugin_settings <<'YAML'
    recorder:
      subscribe: ["load.**"]
      config: {record: @TMP@/recorder.txt}
    slow:
      subscribe: ["load.**"]
      workers: 1
      queue_size: 100000
      config: {record: @TMP@/slow.txt, delay_ms: 500}
YAML
start_daemon
wait_until "database connected" 10 log_has "connected to event_system@unix"

# Four clients trigger as fast as they can; each keeps the ids it got 202
# for (its own ids: no jq per request, so a loaded machine still makes a
# backlog).
client() {
	local n=0 code
	# until the test ends, however it ends (a failed wait must not leave
	# clients hammering a dead port for ever)
	while kill -0 $$ 2>/dev/null; do
		n=$((n + 1))
		out=$(curl -s -m 5 -w ' %{http_code}' -H 'Content-Type: application/json' \
			--data-binary "{\"name\":\"load.item\",\"id\":\"c$1-$n\",\"data\":{\"client\":$1,\"n\":$n}}" \
			"http://127.0.0.1:$PORT/api/events/trigger") || continue
		code=${out##* }
		[ "$code" != 202 ] || echo "c$1-$n" >> "$TMP/accepted.$1"
	done
}
CLIENTS=()
for c in 1 2 3 4; do
	client $c &
	CLIENTS+=($!)
done
# Kill once the slow plugin (2 events/s) lags well behind the clients,
# however fast this machine lets them go.
# Both counts: a row is written before its 202 is read, so the rows alone
# could reach 30 with one answer still on its way to each client.
backlog() {
	[ "$(cat "$TMP"/accepted.* 2>/dev/null | wc -l)" -ge 30 ] && db_count_at_least 30 events "state='accepted'"
}
wait_until "a backlog at the slow plugin" 60 backlog
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
kill "${CLIENTS[@]}" 2>/dev/null || true
wait "${CLIENTS[@]}" 2>/dev/null || true
cat "$TMP"/accepted.* | sort -u > "$TMP/accepted"
accepted=$(wc -l < "$TMP/accepted")
slow_before=$(sort -u "$TMP/slow.txt" | wc -l)
unfinished=$(db_count events "state='accepted'")
echo "killed: $accepted events answered 202, the slow plugin had handled $slow_before, $unfinished rows unfinished"
[ "$accepted" -ge 30 ] || fail "too few accepted events to show anything ($accepted)"
[ "$unfinished" -gt 0 ] || fail "nothing was unfinished at the kill: the test proves nothing"

# Every 202 has its row.
missing_rows=0
while read -r id; do
	[ "$(db_count events "id='$id'")" = 1 ] || missing_rows=$((missing_rows + 1))
done < "$TMP/accepted"
[ "$missing_rows" = 0 ] || fail "$missing_rows events answered 202 have no row"
pass "every one of the $accepted events answered 202 before the SIGKILL has its row"

# Restart with a queue far smaller than the backlog: redelivery has to wait
# for room (and serves history requests meanwhile).
sed -i 's/queue_size: 100000/queue_size: 10/' "$CONFIG.in"
start_daemon
request GET "/api/events?limit=1"
expect_status 200
delivered_all() {
	for f in recorder slow; do
		awk '{print $3}' "$TMP/$f.txt" | sort -u > "$TMP/$f.ids"
		[ -z "$(comm -23 "$TMP/accepted" "$TMP/$f.ids")" ] || return 1
	done
}
# the slow plugin redelivers the backlog at 2 events/s
wait_until "every accepted event delivered to both plugins" $((60 + unfinished)) delivered_all
wait_until "every event done" 30 db_count_is 0 events "state='accepted'"
expect_log "redelivered [0-9]* events an earlier run accepted but had not finished delivering"
[ "$(plugin_counter slow refused)" = 0 ] || fail "waiting for room during redelivery was counted as refusals"
recovered=$(grep -o 'redelivered [0-9]*' "$LOG" | awk '{print $2}')
rows=$(db_count events)
for f in recorder slow; do
	lines=$(wc -l < "$TMP/$f.txt")
	unique=$(awk '{print $3}' "$TMP/$f.txt" | sort -u | wc -l)
	echo "after restart: $f handled $unique distinct events in $lines deliveries ($((lines - unique)) duplicates)"
done
echo "accepted (202) $accepted, rows $rows (a row without a 202: its answer was lost in the kill), redelivered $recovered"
pass "kill -9 under load: all $accepted accepted events delivered at least once to each plugin after the restart ($recovered redelivered)"

# The second start has nothing left to redeliver.
stop_daemon TERM
start_daemon
wait_until "recovery pass" 10 log_has "no unfinished events from an earlier run"
pass "a clean stop leaves nothing to redeliver"
stop_daemon TERM
