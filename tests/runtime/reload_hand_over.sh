#!/bin/bash
# A reload that replaces a plugin with a backlog longer than
# event.shutdown_timeout_ms loses nothing: what the old instance has not
# started by the deadline is handed to the new instance (in order, each
# once), a ?wait=true client gets the real outcome, and the hand-over is
# logged and counted.  A removed plugin's leftovers are not delivered: they
# are logged and counted in a metric that outlives the instance.  (Both
# used to be dropped: one log line, and the undelivered counter belonged
# to the old instance, gone with it.)
set -eu
. "$(dirname "$0")/lib.sh"

N=40
stage_plugin slow
settings() { # TIMEOUT_MS [ENABLED]
	CONFIG_HEAD='event: {shutdown_timeout_ms: 500}' write_plugin_settings <<YAML
    slow: {enabled: ${2:-true}, workers: 1, timeout_ms: $1, config: {record: @TMP@/slow.txt, delay_ms: 150}}
YAML
	[ -z "${PORT:-}" ] || render_config
}
settings 5000
start_daemon

metric() {
	curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

# ---- replaced: 40 x 150 ms of work against a 500 ms deadline (the old
# instance cannot drain it even when the reload itself is slow; a handler
# is shorter than the 200 ms a stop waits beyond its deadline) ----
# batch: a backlog at once, however slowly curl runs on a loaded machine
batch() { # NAME PREFIX COUNT
	local i body=
	for i in $(seq 1 "$3"); do body="$body${body:+,}{\"name\":\"$1\",\"id\":\"$2$i\"}"; done
	request POST /api/events/batch "[$body]"
	expect_status 202
}
batch slow.a e $((N - 1))
# the last one waits for its outcome across the swap
curl -s -m 30 -o "$TMP/waiter.json" -w '%{http_code}' -H 'Content-Type: application/json' \
	-d "{\"name\":\"slow.a\",\"id\":\"e$N\"}" "http://127.0.0.1:$PORT/api/events/trigger?wait=true" \
	> "$TMP/waiter.status" &
waiter=$!
wait_until "all $N events queued to slow" 5 counter_at_least slow received $N

settings 6000
request POST /api/admin/reload
expect_status 200
wait_until "slow recorded all $N accepted events" 40 lines_at_least "$TMP/slow.txt" "slow.a" $N
awk '{print $3}' "$TMP/slow.txt" > "$TMP/order.txt"
dupes=$(sort "$TMP/order.txt" | uniq -d | wc -l)
[ "$dupes" = 0 ] || fail "$dupes events were delivered twice: $(sort "$TMP/order.txt" | uniq -d | head -3)"
[ "$(sort -u "$TMP/order.txt" | wc -l)" = $N ] || fail "not every accepted event was delivered: $(cat "$TMP/order.txt")"
seq 1 $N | sed 's/^/e/' > "$TMP/expected.txt"
cmp -s "$TMP/order.txt" "$TMP/expected.txt" || fail "delivered out of order: $(tr '\n' ' ' < "$TMP/order.txt")"
wait $waiter || fail "the ?wait=true request failed"
[ "$(cat "$TMP/waiter.status")" = 200 ] || fail "?wait=true answered $(cat "$TMP/waiter.status"): $(cat "$TMP/waiter.json")"
[ "$(jq -r '.outcomes.slow.status' "$TMP/waiter.json")" = ok ] ||
	fail "?wait=true did not get the handed-over delivery's outcome: $(cat "$TMP/waiter.json")"
expect_log "handed to the new instance"
handed=$(metric eventsys_reload_handed_over_total)
[ -n "$handed" ] && [ "$handed" -gt 0 ] || fail "eventsys_reload_handed_over_total is '$handed'"
[ "$(metric eventsys_reload_undelivered_total)" = 0 ] || fail "a replaced plugin's events counted undelivered"
[ "$(metric 'eventsys_plugin_undelivered_total{plugin="slow"}')" = 0 ] || fail "slow counts undelivered events"
pass "a reload replaced slow with a backlog: all $N delivered once, in order ($handed handed over, the waiter got ok)"

# ---- removed: the leftovers are counted and logged, not silent ----
batch slow.b r 20
settings 6000 false
request POST /api/admin/reload
expect_status 200
expect_log "retired with [0-9]* undelivered events (it was removed from the config)"
lost=$(metric eventsys_reload_undelivered_total)
delivered=$(lines_in "$TMP/slow.txt" "slow.b")
[ -n "$lost" ] && [ "$lost" -gt 0 ] || fail "eventsys_reload_undelivered_total is '$lost' after a removed plugin's backlog"
[ $((lost + delivered)) = 20 ] || fail "20 accepted: $delivered delivered + $lost counted undelivered"
pass "a removed plugin's $lost undelivered events are logged and counted ($delivered delivered)"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
! sanitizer_report_in_log || fail "sanitizer report in the log"
