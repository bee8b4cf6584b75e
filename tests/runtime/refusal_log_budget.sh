#!/bin/bash
# A client that opens connection after connection only to be refused
# cannot write as many log lines as it likes: each refusal has its own WARN
# line up to 100 in 10 s, the rest are counted into one line, written
# within the interval even when nothing else comes and at the stop, and
# the lines add up to every refusal.  Each refusal is still answered and
# counted in the metrics.  Two cases, a daemon each: heads without Host
# (400, refused by the request-head gate) and a token guessed on a request
# without a body (401, refused by the handlers).  Before, each was a line.
set -eu
. "$(dirname "$0")/lib.sh"

# flood REQUEST ANSWER-START [ANSWER-PART]: sends REQUEST 250 times, 25
# connections at a time, and prints how many answers began with
# ANSWER-START and held ANSWER-PART.  "%06d" in REQUEST is the request's
# number.
flood() {
	python3 - "$PORT" "$1" "$2" "${3:-}" <<'PY'
import socket, sys, threading
port, request, start, part = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), sys.argv[4].encode()
got = []
def one(i):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall((request.replace("%06d", "%06d" % i)).encode().decode("unicode_escape").encode())
    out = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        out += d
    got.append(out.startswith(start) and part in out)
for k in range(10):
    ts = [threading.Thread(target=one, args=(k * 25 + j,)) for j in range(25)]
    for t in ts: t.start()
    for t in ts: t.join()
print(sum(got))
PY
}

counted() { grep -o 'warn  \[http\] [0-9]* more requests refused without a line of their own' "$LOG" |
	awk '{ n += $3 } END { print n + 0 }'; }

# lines_add_up WHAT OWN-LINE: at most 100 (and nearly that many) of the 250
# refusals have a line of their own; the others are counted, within the
# interval with nothing else arriving, and all of them by the stop
lines_add_up() {
	local own
	own=$(lines_in "$LOG" "$2")
	[ "$own" -le 100 ] || fail "$own $1 had a line of their own; at most 100 in 10 s"
	[ "$own" -ge 90 ] || fail "only $own $1 had a line of their own"
	wait_until "the count of the $1 without a line" 25 prints $((250 - own)) counted
	stop_daemon TERM
	[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
	[ "$(counted)" = $((250 - own)) ] || fail "the lines count $(counted) $1 besides the $own of their own"
	pass "the log has $own lines for $1 and the count of the other $((250 - own)): 250 in all"
}

# ---- heads without Host: the gate's 400 ----
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, access_log: false}
plugins:
  directory: @PLUGDIR@
YAML
start_daemon
answered=$(flood 'GET /health HTTP/1.1\r\n\r\n' 'HTTP/1.1 400 ')
[ "$answered" = 250 ] || fail "$answered of 250 requests without Host were answered 400"
wait_until "250 refusals counted" 5 prints 250 metric_value 'eventsys_http_connections_closed_total{reason="bad_framing"}'
pass "each of 250 requests without Host is answered 400 and counted"
lines_add_up "requests without Host" 'request refused after its headers (400): an HTTP/1.1 request needs a Host header'

# ---- unknown tokens on requests without a body: the handlers' 401 ----
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, access_log: false}
plugins:
  directory: @PLUGDIR@
auth:
  tokens:
    - {name: ops, role: admin, token: admin-token-0123456789abcdef}
YAML
start_daemon
answered=$(flood 'GET /api/plugins HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer guess-%06d-0123456789abcdef\r\n\r\n' \
	'HTTP/1.1 401 ' 'invalid_token')
[ "$answered" = 250 ] || fail "$answered of 250 unknown tokens were answered 401 invalid_token"
wait_until "250 unknown tokens counted" 5 prints 250 metric_value 'eventsys_api_events_total{result="unauthorized"}'
pass "each of 250 unknown tokens is answered 401 and counted"
lines_add_up "unknown tokens" 'request with an unknown bearer token refused'
grep -q 'request with an unknown bearer token refused (client=127.0.0.1:' "$LOG" || fail "the lines do not name the client"
