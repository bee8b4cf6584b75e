#!/bin/bash
# A slowloris -- 50 connections each sending its request one byte at a
# time, reconnecting when cut -- does not hold the daemon: every connection
# is answered 408 and cut when server.request_timeout_ms has passed for the
# whole request (bytes trickling in do not reset it), /health keeps answering within its
# deadline, the daemon's CPU time and log stay small, and it serves as
# usual once the attackers go.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resource_lib.sh"

stage_plugin recorder
write_config <<'YAML'
server: {port: @PORT@, threads: 2, request_timeout_ms: 1500}
logging: {format: text, access_log: false}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
YAML
start_daemon

begin_episode
python3 "$(dirname "$0")/slow_client.py" "$PORT" 50 6 0.25 "$TMP/slow.json" &
attack=$!
probe_health_while "$attack" 1.0
wait "$attack"
end_episode

stat_of() { jq -r ".$1" "$TMP/slow.json"; }
echo "slowloris: $(cat "$TMP/slow.json"); daemon CPU ${EPISODE_CPU_S}s, $EPISODE_LOG_LINES log lines," \
	"/health worst ${HEALTH_WORST_S}s over $HEALTH_PROBES probes"
awk -v a="$(stat_of max_age_s)" 'BEGIN { exit !(a <= 2.5) }' ||
	fail "a slow connection stayed open $(stat_of max_age_s) s; the whole-request deadline is 1.5 s"
[ "$(stat_of closed_by_server)" -ge 100 ] || fail "only $(stat_of closed_by_server) slow connections were cut"
# each cut request is answered (a client may miss the answer only when the
# close overtakes it: a byte it sent as the answer went out)
[ "$(stat_of answered_408)" -ge $(($(stat_of closed_by_server) * 9 / 10)) ] ||
	fail "only $(stat_of answered_408) of $(stat_of closed_by_server) cut connections were answered 408"
pass "each slow connection is cut and answered 408 when its whole request is not in after 1.5 s (longest: $(stat_of max_age_s) s)"

[ "$HEALTH_PROBES" -ge 5 ] || fail "only $HEALTH_PROBES /health probes ran"
pass "/health answered all $HEALTH_PROBES probes during the attack within 1 s (worst ${HEALTH_WORST_S} s)"
cpu_at_most 1.5
[ "$EPISODE_LOG_LINES" -le 5 ] || fail "$EPISODE_LOG_LINES log lines during the attack"
pass "the attack cost ${EPISODE_CPU_S} s of daemon CPU in 6 s and $EPISODE_LOG_LINES log lines"

cut=$(metric 'eventsys_http_connections_closed_total{reason="request_deadline"}')
[ "$cut" -ge 100 ] || fail "metrics count $cut connections cut at the deadline"
wait_until "the slow connections are gone" 5 metric_is eventsys_http_connections 0
trigger after.attack
expect_status 202
expect_body '"matched":["recorder"]'
pass "after the attack: $cut cuts counted in the metrics, no connection left, events accepted"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
