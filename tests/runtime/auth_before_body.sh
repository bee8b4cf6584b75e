#!/bin/bash
# With tokens configured, a request that declares a body but has no valid
# token is answered 401 right after its headers: the body is never read, so
# clients without a token cannot make the daemon hold their bodies (up to
# 2 x event.max_event_size + 64 KiB each).
set -eu
. "$(dirname "$0")/lib.sh"
trap '' PIPE # writes to a connection the daemon closed fail; they must not end the test

stage_plugin recorder
TOKEN=trigger-token-0123456789abcdef
write_config <<YAML
server: {port: @PORT@}
logging: {format: text, access_log: true}
plugins: {directory: @PLUGDIR@}
auth:
  tokens:
    - {name: deployer, role: trigger, token: $TOKEN}
YAML
start_daemon

CONNS=60
BODY_BYTES=2000000 # declared; under the 2 x 1 MiB + 64 KiB libevent would take
head_without_token() {
	printf 'POST /api/events/trigger HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %s\r\n%s\r\n' \
		"$BODY_BYTES" "${1:-}"
}
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$DAEMON_PID/status"; }

# ---- each is answered 401 after its headers, without sending any body ----
declare -a fds
for i in $(seq 1 $CONNS); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	fds[$i]=$fd
	if [ $((i % 2)) = 0 ]; then
		head_without_token "Authorization: Bearer wrong-token-0123456789abcdef"$'\r\n' >&$fd
	else
		head_without_token >&$fd
	fi
done
for i in $(seq 1 $CONNS); do
	fd=${fds[$i]}
	line=
	IFS= read -r -t 5 line <&$fd || true
	case "$line" in
	"HTTP/1.1 401"*) ;;
	*) fail "connection $i (headers sent, body not): expected a 401 within 5 s, got '${line%$'\r'}'" ;;
	esac
	rest=$(timeout 5 cat <&$fd || true)
	case "$rest" in *'"error":"unauthorized"'*) ;; *) fail "connection $i: the 401 has no JSON error: $rest" ;; esac
	exec {fd}>&-
done
pass "$CONNS connections without a valid token, body declared but not sent: each answered 401 after its headers"

# ---- bodies sent anyway are not held ----
before=$(kib VmRSS)
for i in $(seq 1 $CONNS); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	fds[$i]=$fd
	head_without_token >&$fd
done
for i in $(seq 1 $CONNS); do
	# the daemon closes these: the writes fail, or end in a socket buffer
	timeout 10 head -c 1500000 /dev/zero >&${fds[$i]} 2>/dev/null || true
done
peak=$(kib VmHWM)
now=$(kib VmRSS)
for i in $(seq 1 $CONNS); do exec {fd}>&-; done
grown=$(((now - before) / 1024))
echo "RSS before ${before} KiB, after ${now} KiB (peak ${peak} KiB): +${grown} MiB while $CONNS clients sent 1.5 MB bodies each"
[ "$grown" -lt 40 ] || fail "the daemon grew by ${grown} MiB while $CONNS clients without a token sent bodies"
pass "bodies of clients without a token are not held (+${grown} MiB for $CONNS x 1.5 MB)"

# ---- pipelined: an earlier answer is written first ----
exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
{ printf 'GET /ready HTTP/1.1\r\nHost: t\r\n\r\n'; head_without_token; } >&$fd
answers=$(timeout 5 cat <&$fd || true)
exec {fd}>&-
statuses=$(printf '%s' "$answers" | grep -ao 'HTTP/1.1 [0-9]*' | tr '\n' ' ')
first=$(echo "$statuses" | cut -d' ' -f1-2)
second=$(echo "$statuses" | cut -d' ' -f3-4)
case "$first" in "HTTP/1.1 200"*) ;; *) fail "pipelined /ready was not answered first: $answers" ;; esac
case "$second" in "HTTP/1.1 401"*) ;; *) fail "the pipelined request without a token was not answered 401: $answers" ;; esac
pass "pipelined after /ready: /ready answered 200, then the request without a token 401"

# another transfer coding is a body too: 401 without a token, before its 501
exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /api/events/trigger HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nxxxx' >&$fd || true
answers=$(timeout 5 cat <&$fd || true)
exec {fd}>&-
case "$answers" in "HTTP/1.1 401"*'"error":"unauthorized"'*) ;; *) fail "Transfer-Encoding: gzip without a token: $answers" ;; esac
pass "a body in another transfer coding without a token: 401, closed"

# ---- with the token, the same connection goes on as before ----
exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
ev='{"name":"gate.ok"}'
{
	printf 'GET /health HTTP/1.1\r\nHost: t\r\n\r\n'
	printf 'POST /api/events/trigger HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
		"$TOKEN" "${#ev}" "$ev"
} >&$fd
answers=$(timeout 5 cat <&$fd || true)
exec {fd}>&-
[ "$(printf '%s' "$answers" | grep -ao 'HTTP/1.1 20[02]' | wc -l)" = 2 ] || fail "with the token: $answers"
pass "a request with the token and a body is served (after an unauthenticated /health on the same connection)"

# a tab after the colon (RFC 9110 allows it) reads as a space does
exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /api/events/trigger HTTP/1.1\r\nHost: t\r\nAuthorization:\tBearer %s\r\nContent-Type:\tapplication/json\r\nContent-Length:\t%s\r\nConnection: close\r\n\r\n%s' \
	"$TOKEN" "${#ev}" "$ev" >&$fd
answers=$(timeout 5 cat <&$fd || true)
exec {fd}>&-
case "$answers" in "HTTP/1.1 202"*) ;; *) fail "headers with a tab after the colon: $answers" ;; esac
pass "Authorization, Content-Type and Content-Length with a tab after the colon: 202"

# the refusal's log lines name the client, also when the client closes as
# soon as it has the answer (curl does: 36 of 40 lines said "client=?").
# The access lines, one per refusal (the WARN lines have a budget: more
# than 100 refusals came in the last 10 s)
refusals() { grep -c '\[access\] POST /api/events/trigger 401 .* client=127\.0\.0\.1:[0-9]' "$LOG" || true; }
before=$(refusals)
for i in $(seq 10); do
	curl -s -m 5 -o /dev/null -H 'Content-Type: application/json' -d '{"name":"gate.who"}' \
		"http://127.0.0.1:$PORT/api/events/trigger" || true
done
ten_more_logged() { [ "$(refusals)" -ge $((before + 10)) ]; }
wait_until "the 10 refusals are logged" 10 ten_more_logged
! grep -q 'client=?' "$LOG" || fail "a refusal was logged without its client: $(grep -c 'client=?' "$LOG")"
pass "each refusal before the body is logged with its client's address"

# a refusal has its access log line, as every answer: without a token
# "token=-", with a valid one (refused for its framing) the token's name
expect_log '\[access\] POST /api/events/trigger 401 [0-9]* bytes [0-9.]* ms client=127\.0\.0\.1:[0-9]* token=-'
exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /api/events/trigger?x=1 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\nContent-Length: +5\r\n\r\n' "$TOKEN" >&$fd
answers=$(timeout 5 cat <&$fd || true)
exec {fd}>&-
case "$answers" in "HTTP/1.1 400"*) ;; *) fail "Content-Length: +5 with the token: $answers" ;; esac
expect_log '\[access\] POST /api/events/trigger 400 [0-9]* bytes [0-9.]* ms client=127\.0\.0\.1:[0-9]* token=deployer'
pass "refusals before the body have their access log lines, with the token's name when it was valid"

request GET /health
expect_status 200
stop_daemon
