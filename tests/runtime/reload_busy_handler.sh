#!/bin/bash
# A reload replaces a plugin whose one worker is inside handle() when
# event.shutdown_timeout_ms passes, with the call well within its own
# timeout_ms.  The call is waited for: the event it delivers is counted
# and answered as delivered, and once it returned the old instance gets
# its shutdown() and is unloaded (its open files closed).  (The call used
# to be given up on at the shutdown deadline: the delivered event was
# counted undelivered, the log blamed the new instance's room, and the old
# instance was never shut down nor unloaded: one leaked instance a reload.)
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin hang
settings() { # TIMEOUT_MS
	write_plugin_settings <<YAML
    hang: {workers: 1, timeout_ms: $1, config: {record: @TMP@/hang.txt, shutdown_record: @TMP@/hang.txt, delay_ms: 1500}}
YAML
	echo 'event: {shutdown_timeout_ms: 500, sync_timeout_ms: 20000}' >> "$CONFIG.in"
}
settings 8000
start_or_die http_ready
[ "$DIED" = 0 ] || fail "the daemon did not start: $(cat "$LOG")"

# a ?wait=true trigger in the background: its status and answer in $TMP/wait.ID.*
wait_trigger() { # ID
	curl -s -m 30 -o "$TMP/wait.$1.json" -w '%{http_code}' -H 'Content-Type: application/json' \
		-d "{\"name\":\"busy.event\",\"id\":\"$1\"}" "http://127.0.0.1:$PORT/api/events/trigger?wait=true" \
		> "$TMP/wait.$1.status" &
	CLIENT=$!
}

for r in 1 2; do
	wait_trigger "b$r"
	wait_until "the handler has b$r" 10 lines_at_least "$TMP/hang.txt" " b$r 1 entered" 1
	settings $((8000 + r))
	render_config
	kill -HUP "$DAEMON_PID"
	wait_until "reload $r" 20 log_has "reload by signal SIGHUP: ok, generation $((r + 1))"
	wait "$CLIENT" || fail "the ?wait=true client for b$r failed"
	[ "$(cat "$TMP/wait.b$r.status")" = 200 ] ||
		fail "?wait=true for b$r answered $(cat "$TMP/wait.b$r.status"): $(cat "$TMP/wait.b$r.json")"
	jq -e '.outcomes.hang.status == "ok" and .outcomes.hang.attempts == 1' "$TMP/wait.b$r.json" >/dev/null ||
		fail "b$r was delivered, its client was told otherwise: $(cat "$TMP/wait.b$r.json")"
	# the replaced instance: shut down once, after its handler returned
	wait_until "shutdown() of the instance replaced by reload $r" 10 lines_at_least "$TMP/hang.txt" "^shutdown$" "$r"
	[ "$(grep -c '^shutdown$' "$TMP/hang.txt")" = "$r" ] ||
		fail "shutdown() calls after $r reloads: $(grep -c '^shutdown$' "$TMP/hang.txt")"
	returned=$(grep -n " b$r 1 returned" "$TMP/hang.txt" | cut -d: -f1)
	shut=$(grep -n '^shutdown$' "$TMP/hang.txt" | sed -n "${r}p" | cut -d: -f1)
	[ -n "$returned" ] && [ "$returned" -lt "$shut" ] ||
		fail "shutdown() came before handle() of b$r returned: $(cat "$TMP/hang.txt")"
done
pass "two reloads during a running handler: each replaced instance shut down once after the handler returned"

wait_until "the replaced instances unloaded (one record file open)" 10 prints 1 open_fds_on "$TMP/hang.txt"
[ "$(metric_value eventsys_reload_undelivered_total)" = 0 ] ||
	fail "delivered events counted in eventsys_reload_undelivered_total: $(metric_value eventsys_reload_undelivered_total)"
[ "$(metric_value 'eventsys_plugin_undelivered_total{plugin="hang"}')" = 0 ] ||
	fail "delivered events counted in eventsys_plugin_undelivered_total"
! log_has "had no room" || fail "the log blames the new instance's room: $(grep 'had no room' "$LOG")"
! log_has "undelivered event" || fail "the log reports undelivered events: $(grep 'undelivered event' "$LOG")"
! log_has "still inside handle" || fail "the log gives up on a handler within its deadline"
pass "the delivered events are counted delivered, not undelivered; the replaced instances are unloaded"

# A stop while a reload waits for such a handler: the reload finishes
# (bounded by the handler's deadline), the daemon then stops cleanly and
# the replaced instance is still shut down.
wait_trigger b3
wait_until "the handler has b3" 10 lines_at_least "$TMP/hang.txt" " b3 1 entered" 1
settings 8003
render_config
kill -HUP "$DAEMON_PID"
wait_until "the reload started" 10 log_has "reload requested by signal SIGHUP"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE after a stop during the reload"
wait "$CLIENT" || true
jq -e '.outcomes.hang.status == "ok"' "$TMP/wait.b3.json" >/dev/null ||
	fail "b3 was delivered, its client was told otherwise: $(cat "$TMP/wait.b3.json")"
[ "$(grep -c '^shutdown$' "$TMP/hang.txt")" = 4 ] ||
	fail "shutdown() calls after 3 replaced instances and a stop: $(grep -c '^shutdown$' "$TMP/hang.txt") (expected 4)"
! sanitizer_report_in_log || fail "sanitizer report in the log"
pass "a stop during such a reload: exit 0, every instance shut down once"
