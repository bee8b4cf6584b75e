#!/bin/bash
# A stop right after ?wait=true requests got their outcomes still writes
# their answers.  A stop that waits for busy handlers (here: a reload
# waiting for them) ends just after they return, so the answers are
# queued on the HTTP threads in the same moment as the stop; the threads
# used to leave their loops at once when no request was still waiting,
# and closed the connections with the answers unwritten (the access log
# said 200, the clients got nothing).
set -eu
. "$(dirname "$0")/lib.sh"

WAITERS=8
stage_plugin hang
settings() { # TIMEOUT_MS
	write_plugin_settings <<YAML
    hang: {workers: $WAITERS, timeout_ms: $1, config: {record: @TMP@/hang.txt, delay_ms: 1500}}
YAML
	echo 'event: {shutdown_timeout_ms: 500, sync_timeout_ms: 20000}' >> "$CONFIG.in"
}
settings 8000
start_or_die http_ready
[ "$DIED" = 0 ] || fail "the daemon did not start: $(cat "$LOG")"

clients=()
for i in $(seq 1 $WAITERS); do
	curl -s -m 30 -o "$TMP/wait.$i.json" -w '%{http_code}' -H 'Content-Type: application/json' \
		-d "{\"name\":\"busy.event\",\"id\":\"w$i\"}" "http://127.0.0.1:$PORT/api/events/trigger?wait=true" \
		> "$TMP/wait.$i.status" &
	clients+=($!)
done
wait_until "every handler entered" 10 lines_at_least "$TMP/hang.txt" " 1 entered" $WAITERS
settings 8001
render_config
kill -HUP "$DAEMON_PID"
wait_until "the reload started" 10 log_has "reload requested by signal SIGHUP"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE after the stop"
for c in "${clients[@]}"; do wait "$c" || true; done
for i in $(seq 1 $WAITERS); do
	[ "$(cat "$TMP/wait.$i.status")" = 200 ] ||
		fail "w$i: answered $(cat "$TMP/wait.$i.status") '$(cat "$TMP/wait.$i.json")' (its handler returned: $(grep -c " w$i 1 returned" "$TMP/hang.txt"))"
	jq -e '.outcomes.hang.status == "ok"' "$TMP/wait.$i.json" >/dev/null ||
		fail "w$i was delivered, its client was told otherwise: $(cat "$TMP/wait.$i.json")"
done
! sanitizer_report_in_log || fail "sanitizer report in the log"
pass "$WAITERS answers decided just before a stop were all written"
