#!/bin/bash
# A client that opens connection after connection only to be refused (a
# head without Host, 400) cannot write as many log lines as it likes: each
# refusal has its own WARN line up to 100 in 10 s, the rest are counted
# into one line, written within the interval even when nothing else comes
# and at the stop, and the lines add up to every refusal.  Each refusal is
# still answered and counted in the metrics.  Before, each was a line.
set -eu
. "$(dirname "$0")/lib.sh"

write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, access_log: false}
plugins:
  directory: @PLUGDIR@
YAML
start_daemon

# 250 refused requests, 25 connections at a time
answered=$(python3 - "$PORT" <<'PY'
import socket, sys, threading
port = int(sys.argv[1])
got = []
def one():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /health HTTP/1.1\r\n\r\n")
    out = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        out += d
    got.append(out.startswith(b"HTTP/1.1 400 "))
for _ in range(10):
    ts = [threading.Thread(target=one) for _ in range(25)]
    for t in ts: t.start()
    for t in ts: t.join()
print(sum(got))
PY
)
[ "$answered" = 250 ] || fail "$answered of 250 requests without Host were answered 400"
wait_until "250 refusals counted" 5 prints 250 metric_value 'eventsys_http_connections_closed_total{reason="bad_framing"}'
pass "each of 250 requests without Host is answered 400 and counted"

own=$(lines_in "$LOG" 'request refused after its headers (400): an HTTP/1.1 request needs a Host header')
[ "$own" -le 100 ] || fail "$own refusals had a line of their own; at most 100 in 10 s"
[ "$own" -ge 90 ] || fail "only $own refusals had a line of their own"
# the rest are counted into a line within the interval, with nothing else
# arriving
counted() { grep -o 'warn  \[http\] [0-9]* more requests refused without a line of their own' "$LOG" |
	awk '{ n += $3 } END { print n + 0 }'; }
wait_until "the count of the refusals without a line" 25 prints $((250 - own)) counted
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
[ "$(counted)" = $((250 - own)) ] || fail "the lines count $(counted) refusals besides the $own of their own"
pass "the log has $own refusal lines and the count of the other $((250 - own)): 250 in all"
