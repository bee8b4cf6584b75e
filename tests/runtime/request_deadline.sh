#!/bin/bash
# A request that has not arrived whole within server.request_timeout_ms is
# answered 408 in JSON, written to the access log and counted, and its
# connection closed -- whether its request line, its headers or its body
# (sized or chunked) was missing, and without a body for a HEAD.  Before,
# the connection was closed with no answer and no log line.  A connection
# with no request under way (nothing sent since the accept, or since the
# last answer on a kept-alive connection) is closed quietly, as HTTP allows,
# and not counted, on the metrics listener too.  The 408s' log lines are
# summarised (a slowloris makes one a connection) and add up to the count,
# which is written within its interval even when nothing else happens.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/refusal_lib.sh"
trap '' PIPE

write_config <<'YAML'
server: {port: @PORT@, request_timeout_ms: 600}
logging: {format: text, access_log: true}
plugins:
  directory: @PLUGDIR@
YAML
start_daemon

# timed_out WHAT BYTES: BYTES, sent and never finished, are answered 408
# and closed at the deadline (not before it, and not much after)
timed_out() {
	local start took_ms
	start=$(date +%s%N)
	refused "$1" 408 request_timeout "did not arrive whole within server.request_timeout_ms (600 ms)" "$2"
	took_ms=$((($(date +%s%N) - start) / 1000000))
	[ "$took_ms" -ge 550 ] || fail "$1: answered after $took_ms ms, before the 600 ms deadline"
	[ "$took_ms" -le 3000 ] || fail "$1: answered after $took_ms ms; the deadline is 600 ms"
}

timed_out "half a request line" 'GET /hea'
timed_out "a head without its end" 'GET /health HTTP/1.1\r\nHost: a\r\n'
timed_out "a body shorter than its Content-Length" \
	'POST /api/events/trigger HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"name":'
timed_out "a chunked body without its last chunk" \
	'POST /api/events/trigger HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"nam'
timed_out "a HEAD without its end" 'HEAD /health HTTP/1.1\r\nHost: a\r\n'
# behind a request answered on the same connection: the deadline counts
# from that answer, and the 408 follows it
out=$(raw 'GET /health HTTP/1.1\r\nHost: a\r\n\r\nPOST /api/events/trigger HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"name":')
statuses=$(printf '%s' "$out" | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' ')
[ "$statuses" = "HTTP/1.1 200 HTTP/1.1 408 " ] || fail "a GET, then a POST whose body stops: $statuses"
case "$out" in *"NOT CLOSED"*) fail "a GET, then a POST whose body stops: the connection stayed open" ;; esac
pass "a body that stops behind an answered request: 200, then 408, closed"

# one WARN line with the first client (the count of the others comes
# later: below)
[ "$(lines_in "$LOG" 'warn .*request answered 408 and its connection closed')" = 1 ] ||
	fail "expected one first 408 line: $(grep 'answered 408' "$LOG")"
log_has 'request answered 408 and its connection closed: the request did not arrive whole within server.request_timeout_ms (600 ms) (client=127.0.0.1:[0-9]*; 1 answered 408); further ones are counted' ||
	fail "the first 408 line does not say why and who: $(grep 'answered 408' "$LOG")"

# the access log has a line for each 408, with the method and path when
# the request line had arrived
expect_log 'access\] - - 408 '
expect_log 'access\] GET /health 408 '
expect_log 'access\] HEAD /health 408 0 bytes'
# (each HTTP thread writes its access lines in batches: wait for them)
wait_until "three POST 408 access lines" 10 prints 3 lines_in "$LOG" 'access\] POST /api/events/trigger 408 '
pass "each 408 has its access line"

# A kept-alive connection after its answer, and one that never sends: no
# request is under way, so no answer; closed at the deadline.
out=$(raw 'GET /health HTTP/1.1\r\nHost: a\r\n\r\n')
[ "$(printf '%s' "$out" | grep -c '^HTTP/1.1 ')" = 1 ] || fail "expected one answer, got: $out"
case "$out" in "HTTP/1.1 200 "*) ;; *) fail "expected the 200 alone: $out" ;; esac
case "$out" in *"NOT CLOSED"*) fail "an idle kept-alive connection stayed open past the deadline" ;; esac
out=$(raw '')
[ -z "$out" ] || fail "a connection that sent nothing got: $out"
# the metrics listener's too: a scraper keeping its connection between
# scrapes is not a request cut
out=$(PORT=$MPORT raw 'GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n')
case "$out" in "HTTP/1.1 200 "*) ;; *) fail "metrics: expected a 200: $(printf '%s' "$out" | head -3)" ;; esac
case "$out" in *"NOT CLOSED"*) fail "an idle metrics connection stayed open past the deadline" ;; esac
pass "idle connections are closed at the deadline without an answer"

[ "$(metric_value 'eventsys_http_connections_closed_total{reason="request_deadline"}')" = 6 ] ||
	fail "request_deadline: $(metric_value 'eventsys_http_connections_closed_total{reason="request_deadline"}')"
[ "$(metric_value 'eventsys_http_connections_closed_total{reason="bad_framing"}')" = 0 ] ||
	fail "a 408 was counted as bad framing"
# and among the answers by route, as the handlers' answers are: the three
# POSTs to the trigger, the GET and the HEAD of /health, and the request
# line that never arrived whole; not among the durations (those are of the
# two 200s of /health above alone)
for route in '/api/events/trigger 3 0' '/health 2 2' 'other 1 0'; do
	set -- $route
	got=$(metric_value "eventsys_http_requests_total{route=\"$1\",code=\"4xx\"}")
	[ "$got" = "$2" ] || fail "route $1: $got 4xx answers counted, expected $2"
	got=$(metric_value "eventsys_http_request_duration_seconds_count{route=\"$1\"}")
	[ "$got" = "$3" ] || fail "route $1: $got durations observed, expected $3"
done
pass "metrics: the 6 requests cut at the deadline, not the idle connections; each 408 among the answers by route"

# The metrics listener has no 408 (it does not read heads itself), but a
# request cut there is counted.
out=$(PORT=$MPORT raw 'GET /metr')
[ -z "$out" ] || fail "metrics: a cut request got: $out"
wait_until "the metrics listener's cut request counted" 5 \
	prints 7 metric_value 'eventsys_http_connections_closed_total{reason="request_deadline"}'
pass "the metrics listener's cut request is counted"

# the count of the five 408s after the first is written once 10 s have
# passed since its line, with no further traffic (on a slow machine a tick
# may have written part of it already), and nothing more at the stop
later_408s() { grep -o 'warn  \[http\] [0-9]* more requests answered 408' "$LOG" | awk '{ n += $3 } END { print n + 0 }'; }
wait_until "the count of the later 408s" 25 prints 5 later_408s
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
[ "$(later_408s)" = 5 ] || fail "the 408 lines count $(later_408s) after the first: $(grep 'answered 408' "$LOG")"
pass "the 408s' log lines add up to 6: one with the first client, then a count of 5 without further traffic"
