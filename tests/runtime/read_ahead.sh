#!/bin/bash
# A client that sends requests without reading the answers holds at most
# the read-ahead bound (the largest head and body) of the daemon's memory:
# past it the daemon stops reading that connection (TCP pushes back on the
# client), other clients are served, and the connection is cut at
# server.request_timeout_ms, counted and logged as a connection closed
# with answers unread.  Before the bound, evhttp read on while it was
# stalled writing answers and one connection grew the daemon by gigabytes;
# before the count, the cut was in no metric and no log line.
# Three floods: 40000 pipelined GETs then a body without a token (the gate
# holds it pending) streamed on; pipelined GETs with a valid token; and
# pipelined GETs with no tokens configured.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resource_lib.sh"
trap '' PIPE
# Under AddressSanitizer freed memory waits in a quarantine (256 MB): the
# thousands of requests answered before the client's window fills would
# count as growth.  Keep it small so RSS measures what is held.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1:thread_local_quarantine_size_kb=64"

TOKEN=trigger-token-0123456789abcdef
CAP_MB=400 # what a flood may send at most (the bound is about 2.1 MB)
hex() { printf '%b' "$1" | od -An -v -tx1 | tr -d ' \n'; }

# flood NAME FIRST COUNT THEN REPEAT: send FIRST COUNT times, THEN once and
# REPEAT on without reading; checks what that did to the daemon
flood() {
	local name=$1 out="$TMP/$1.json"
	python3 "$(dirname "$0")/unread_answers.py" "$PORT" "$DAEMON_PID" 4 "$CAP_MB" "$out" \
		"$(hex "$2")" "$3" "$(hex "$4")" "$(hex "$5")" &
	local client=$!
	wait_until "$name: the flooding client finished" 45 bash -c "! kill -0 $client"
	wait "$client" || fail "$name: the flooding client failed"
	local growth sent
	growth=$(jq -r .rss_growth_kb "$out")
	sent=$(jq -r .sent_bytes "$out")
	echo "$name: $(cat "$out")"
	[ "$(jq -r .held_back "$out")" = true ] ||
		fail "$name: the daemon read all $((sent >> 20)) MB sent without the answers being read"
	[ "$growth" -le 16384 ] || fail "$name: the daemon's RSS grew by $((growth / 1024)) MB from one connection"
	[ "$(jq -r .health "$out")" = true ] || fail "$name: /health did not answer another client during the flood"
	[ "$(jq -r .closed_after_s "$out")" != null ] || fail "$name: the connection was not cut within 30 s"
	awk -v s="$(jq -r .closed_after_s "$out")" 'BEGIN { exit !(s <= 15) }' ||
		fail "$name: the connection was cut only after $(jq -r .closed_after_s "$out") s (request_timeout_ms 3000)"
	pass "$name: the daemon stopped reading after $((sent >> 10)) KiB, grew by $growth kB, kept serving /health" \
		"and cut the connection after $(jq -r .closed_after_s "$out") s"
}

GET='GET /health HTTP/1.1\r\nHost: t\r\n\r\n'
GET_TOKEN="GET /health HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer $TOKEN\r\n\r\n"
A100=$(printf 'A%.0s' $(seq 1 100))

stage_plugin recorder
write_config <<YAML
server: {port: @PORT@, request_timeout_ms: 3000}
logging: {format: text, access_log: false}
plugins: {directory: @PLUGDIR@}
auth:
  tokens:
    - {name: deployer, role: trigger, token: $TOKEN}
YAML
start_daemon
flood "GETs then a token-less body" "$GET" 40000 \
	'POST /api/events/trigger HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n' "$A100"
flood "GETs with a valid token" "$GET_TOKEN" 1 "" "$GET_TOKEN"
# each cut is counted as a client that did not read its answers, not as a
# request cut at the deadline, and logged: a line with the client, then
# counts (within 10 s of each other, or a line again)
unread='eventsys_http_connections_closed_total{reason="answers_unread"}'
wait_until "2 connections counted closed with answers unread" 5 prints 2 metric_value "$unread"
[ "$(metric_value 'eventsys_http_connections_closed_total{reason="request_deadline"}')" = 0 ] ||
	fail "a client not reading its answers was counted as a request cut at the deadline"
grep -q 'bytes of answers unwritten: its client did not read them within server.request_timeout_ms, or went away (client=127.0.0.1:' "$LOG" ||
	fail "no line for the first cut saying why and naming the client"
# the cuts the lines count: each first line's own, and every count line's
unread_logged() {
	{
		grep -o 'answers unwritten: .*; [0-9]* closed so)' "$LOG" | sed 's/.*; \([0-9]*\) closed so)/\1/'
		grep -o '\] [0-9]* more connections closed with answers unwritten' "$LOG" | awk '{ print $2 }'
	} | awk '{ n += $1 } END { print n + 0 }'
}
stop_daemon TERM
[ "$(unread_logged)" = 2 ] || fail "the log lines count $(unread_logged) cuts by the stop; there were 2"
pass "both cuts counted among connections closed with answers unread, and in the log lines by the stop"
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"

write_config <<YAML
server: {port: @PORT@, request_timeout_ms: 3000}
logging: {format: text, access_log: false}
plugins: {directory: @PLUGDIR@}
YAML
start_daemon
flood "GETs without tokens configured" "$GET" 1 "" "$GET"
wait_until "the cut counted" 5 prints 1 metric_value "$unread"
trigger after.flood
expect_status 202
pass "after the floods events are accepted"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
