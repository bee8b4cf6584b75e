#!/bin/bash
# Every log line is valid UTF-8, in both formats, whatever bytes a client
# puts in a request path: bytes that are not valid UTF-8 (a lone 0xff, an
# overlong C0 80) are written as the text \xNN, valid UTF-8 stays as it is,
# and each JSON line parses as JSON.  Before, such bytes reached the JSON
# log raw and the line was not valid UTF-8 (nor JSON a parser accepts).
set -eu
. "$(dirname "$0")/lib.sh"

# raw_request BYTES: send BYTES as they are and read the answer
raw_request() {
	python3 - "$PORT" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1"))
try:
    while s.recv(4096):
        pass
except socket.timeout:
    pass
PY
}
send_paths() {
	raw_request 'GET /he\xff\xc0\x80 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	raw_request 'GET /cut\xe2\x82 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	raw_request 'GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
	curl -s -o /dev/null "http://127.0.0.1:$PORT/health"
}
# check_log FORMAT: every line valid UTF-8 (and JSON); the paths as expected
cat > "$TMP/check.py" <<'PY'
import json, sys
fmt, path = sys.argv[1], sys.argv[2]
seen = []
for n, raw in enumerate(open(path, "rb").read().splitlines(), 1):
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        sys.exit(f"line {n} is not valid UTF-8 ({e}): {raw!r}")
    if fmt == "json":
        try:
            line = json.loads(line)["msg"]
        except ValueError as e:
            sys.exit(f"line {n} is not JSON ({e}): {raw!r}")
    seen.append(line)
for want in ["GET /he\\xff\\xc0\\x80 404", "GET /cut\\xe2\\x82 404", "GET /caf\u00e9 404"]:
    if not any(want in l for l in seen):
        sys.exit(f"no log line has {want!r}")
PY

for format in json text; do
	write_config <<YAML
server: {port: @PORT@}
logging: {format: $format, level: info, access_log: true}
plugins: {directory: @PLUGDIR@}
YAML
	start_daemon
	send_paths
	wait_until "the access log shows /health" 5 log_has 'GET /health 200'
	# each HTTP thread flushes its own access-log buffer: a stop flushes both
	stop_daemon TERM
	[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
	python3 "$TMP/check.py" "$format" "$LOG" || fail "$format log: see above"
	pass "$format log: every line valid UTF-8; invalid bytes as \\xNN, é kept"
done
