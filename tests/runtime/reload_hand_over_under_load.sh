#!/bin/bash
# A reload that replaces a plugin while clients keep its queue full loses
# nothing accepted: the new instance's queue is full of new events when the
# old one hands over what it had not started, so the hand-over claims the
# new queue's slots as they are given back (new events are refused with 503
# meanwhile, and answered) instead of counting the accepted ones
# undelivered.  (It used to find no room under load and drop them,
# counted in eventsys_reload_undelivered_total.)
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin slow
settings() { # TIMEOUT_MS
	CONFIG_HEAD='event: {shutdown_timeout_ms: 300}' write_plugin_settings <<YAML
    slow: {workers: 1, queue_size: 20, timeout_ms: $1, config: {record: @TMP@/slow.txt, delay_ms: 20}}
YAML
	[ -z "${PORT:-}" ] || render_config
}
settings 5000
start_daemon

# load CLIENT: triggers until $TMP/stop exists, one line "ID STATUS" each
load() {
	local i=0 status
	while [ ! -e "$TMP/stop" ]; do
		i=$((i + 1))
		status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
			-d "{\"name\":\"slow.load\",\"id\":\"c$1-$i\"}" "http://127.0.0.1:$PORT/api/events/trigger") ||
			status=000
		echo "c$1-$i $status" >> "$TMP/sent.$1"
	done
}
# queue_full: the 503s say the plugin's queue is full (the load keeps it so)
queue_full() {
	cat "$TMP"/sent.* 2>/dev/null | grep -q ' 503$'
}

rm -f "$TMP/stop"
load 1 & loader1=$!
load 2 & loader2=$!
load 3 & loader3=$!
wait_until "the load filling slow's queue (a 503)" 20 queue_full

settings 6000 # replaced: its timeout changed
kill -HUP "$DAEMON_PID"
wait_until "the reload to end" 30 log_has "reload by signal SIGHUP: ok"
# the new instance under the same load for a moment, then stop
wait_until "a 503 after the reload" 20 queue_full
touch "$TMP/stop"
wait "$loader1" "$loader2" "$loader3"

accepted=$(cat "$TMP"/sent.* | awk '$2 == 202' | wc -l)
refused=$(cat "$TMP"/sent.* | awk '$2 == 503' | wc -l)
other=$(cat "$TMP"/sent.* | awk '$2 != 202 && $2 != 503' | wc -l)
[ "$other" = 0 ] || fail "$other requests answered neither 202 nor 503: $(cat "$TMP"/sent.* | awk '$2 != 202 && $2 != 503' | head -3)"
# delivered_or_lost: every accepted event recorded or counted undelivered
delivered_or_lost() {
	[ $(($(lines_in "$TMP/slow.txt" "slow.load") + $(metric_value eventsys_reload_undelivered_total))) -ge "$accepted" ]
}
wait_until "every accepted event delivered or counted undelivered" 40 delivered_or_lost
lost=$(metric_value eventsys_reload_undelivered_total)
handed=$(metric_value eventsys_reload_handed_over_total)
[ "$lost" = 0 ] || fail "$lost accepted events counted undelivered by the reload ($handed handed over)"
[ -n "$handed" ] && [ "$handed" -gt 0 ] ||
	fail "nothing was handed over (eventsys_reload_handed_over_total '$handed'): the old instance had no backlog"
cat "$TMP"/sent.* | awk '$2 == 202 {print $1}' | sort > "$TMP/accepted.txt"
awk '{print $3}' "$TMP/slow.txt" | sort > "$TMP/delivered.txt"
missing=$(comm -23 "$TMP/accepted.txt" "$TMP/delivered.txt" | wc -l)
[ "$missing" = 0 ] || fail "$missing accepted events never delivered: $(comm -23 "$TMP/accepted.txt" "$TMP/delivered.txt" | head -3)"
dupes=$(uniq -d "$TMP/delivered.txt" | wc -l)
[ "$dupes" = 0 ] || fail "$dupes events delivered twice"
pass "a reload under load: $accepted accepted, all delivered once ($handed handed over, 0 undelivered), $refused refused with 503"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
! sanitizer_report_in_log || fail "sanitizer report in the log"
