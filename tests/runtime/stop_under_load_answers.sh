#!/bin/bash
# A stop under a steady stream of triggers: every answer the daemon logs
# as sent (access log) reaches its client.  Requests still arriving while
# a stopping daemon writes its last answers are answered 503
# shutting_down; the loop used to end on a fixed timer whatever it had
# just answered, and its last pass could answer a request after the
# check for unwritten answers, so the last of those answers were logged
# and never written (the client got an empty reply).
set -eu
. "$(dirname "$0")/lib.sh"

CLIENTS=8 ROUNDS=4
stage_plugin slow
# (the access log is on by default)
write_plugin_settings <<'YAML'
    slow: {workers: 4, queue_size: 64, config: {delay_ms: 5}}
YAML
# client I: triggers on a new connection each until the round ends; one
# status a line in client.I (000: no answer), curl's exit code of each
# failed one in exits.I (52: an empty reply, 7: the daemon gone)
client() {
	local n=0
	while [ ! -e "$TMP/done" ]; do
		curl -s -m 5 -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
			-d "{\"name\":\"load.c$1\",\"id\":\"c$1-$n\"}" "http://127.0.0.1:$PORT/api/events/trigger" \
			>> "$TMP/client.$1" || echo "exit $?" >> "$TMP/exits.$1"
		n=$((n + 1))
	done
}
for round in $(seq 1 $ROUNDS); do
	rm -f "$TMP"/client.* "$TMP"/exits.* "$TMP/done"
	start_daemon
	pids=()
	for i in $(seq 1 $CLIENTS); do client "$i" & pids+=($!); done
	wait_until "the clients' first answers" 10 test -s "$TMP/client.$CLIENTS"
	stop_daemon TERM
	touch "$TMP/done"
	for p in "${pids[@]}"; do wait "$p" || true; done
	logged=$(grep -c '\[access\] POST /api/events/trigger' "$LOG" || true)
	received=$(cat "$TMP"/client.* | grep -vc '^000$' || true)
	[ "$received" -ge "$logged" ] ||
		fail "round $round: $logged answers logged as sent, $received received (statuses: $(cat "$TMP"/client.* | sort | uniq -c | tr '\n' ' '); curl exits: $(cat "$TMP"/exits.* 2>/dev/null | sort | uniq -c | tr '\n' ' '))"
done
pass "$ROUNDS stops under $CLIENTS clients: every answer logged as sent was received"
