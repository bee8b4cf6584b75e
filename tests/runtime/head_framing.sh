#!/bin/bash
# HEAD answers are headers only, with the Content-Length a GET's body would
# have, and the next answer on the kept-alive connection follows cleanly;
# every answer (CONNECT's 405 too) carries a Content-Length.  libevent 2.1
# wrote the body after a HEAD answer and no Content-Length for HEAD or
# CONNECT, so a pipelined next answer was read as part of the previous one.
set -eu
. "$(dirname "$0")/lib.sh"

write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, access_log: false}
plugins: {directory: @PLUGDIR@}
YAML
start_daemon

# pipeline PORT METHOD:PATH...: sends the requests on one connection (the
# last with Connection: close) and checks each answer's framing
cat > "$TMP/pipeline.py" <<'PY'
import socket, sys
port, reqs = int(sys.argv[1]), [a.split(":", 1) for a in sys.argv[2:]]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
for i, (method, path) in enumerate(reqs):
    close = "Connection: close\r\n" if i == len(reqs) - 1 else ""
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: t\r\n{close}\r\n".encode())
data = b""
while True:
    try:
        d = s.recv(65536)
    except socket.timeout:
        sys.exit("FRAMING the connection was not closed after the last answer")
    if not d:
        break
    data += d
for method, path in reqs:
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1.1 "):
        sys.exit(f"FRAMING {method} {path}: no answer head where one should start: {data[:80]!r}")
    fields = dict(l.split(b":", 1) for l in head.split(b"\r\n")[1:])
    fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
    if b"content-length" not in fields:
        sys.exit(f"FRAMING {method} {path}: no Content-Length: {head!r}")
    length = int(fields[b"content-length"])
    status = head.split(b" ")[1].decode()
    body_len = 0 if method == "HEAD" else length
    print(f"{method} {path} {status} content-length={length} body={rest[:body_len].decode()!r}")
    data = rest[body_len:]
if data:
    sys.exit(f"FRAMING bytes after the last answer: {data[:80]!r}")
PY
pipeline() { python3 "$TMP/pipeline.py" "$@" > "$TMP/pipeline.out" 2>&1 || fail "$(cat "$TMP/pipeline.out")"; }

pipeline "$PORT" HEAD:/health GET:/health HEAD:/ready GET:/ready
cat "$TMP/pipeline.out"
len_of() { awk -v r="$1" '$1 " " $2 == r { sub("content-length=", "", $4); print $4 }' "$TMP/pipeline.out"; }
[ "$(len_of "HEAD /health")" -gt 0 ] && [ "$(len_of "HEAD /health")" -ge $(($(len_of "GET /health") - 2)) ] ||
	fail "HEAD /health announces $(len_of "HEAD /health") bytes, GET /health has $(len_of "GET /health")"
[ "$(len_of "HEAD /ready")" = "$(len_of "GET /ready")" ] ||
	fail "HEAD /ready announces $(len_of "HEAD /ready") bytes, GET /ready has $(len_of "GET /ready")"
pass "HEAD /health and /ready: headers only with the GET's Content-Length; the next answers follow cleanly"

pipeline "$PORT" HEAD:/api/events/trigger CONNECT:/api/events/trigger GET:/api/events/trigger HEAD:/nope GET:/ready
cat "$TMP/pipeline.out"
grep -q '^HEAD /api/events/trigger 405 ' "$TMP/pipeline.out" || fail "HEAD on the trigger route is not a 405"
grep -q '^CONNECT /api/events/trigger 405 .*method_not_allowed' "$TMP/pipeline.out" || fail "CONNECT is not a JSON 405"
grep -q '^GET /ready 200 ' "$TMP/pipeline.out" || fail "the answer after them is not /ready's"
pass "405 to HEAD and CONNECT, 404 to HEAD: framed by Content-Length, HEAD without a body"

pipeline "$MPORT" HEAD:/metrics HEAD:/nope GET:/metrics
grep -q '^GET /metrics 200 .*eventsys_build_info' "$TMP/pipeline.out" || fail "$(cat "$TMP/pipeline.out")"
pass "the metrics listener frames HEAD answers the same way"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
