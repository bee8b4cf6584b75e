#!/bin/bash
# Bytes a client controls never reach the text log raw, so a client cannot
# forge log lines or drive the terminal of whoever reads the log: a byte
# that is not UTF-8 in a request path is written as \xNN in the access log;
# ESC, CR, DEL and NUL in a request line (sent over a raw socket, as no HTTP
# client would) are refused with 400 before the request is read, and the
# log names the byte by its code, as is a tab in it; an event name is
# checked the same way.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, level: info, access_log: true}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
YAML
start_daemon

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
raw_request 'GET /esc\x1b[31mred\x7f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
raw_request 'GET /cr\rINJECTED info [access] fake HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
raw_request 'GET /nul\x00after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
raw_request 'GET /tab\there HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
raw_request 'GET /caf\xe9x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
raw_request 'GET /del\x7f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
# the event name is client text as well, logged when the queue refuses it
curl -s -o /dev/null -H 'Content-Type: application/json' --data-binary '{"name":"a\u001bb"}' \
	"http://127.0.0.1:$PORT/api/events/trigger" || true
curl -s -o /dev/null "http://127.0.0.1:$PORT/health"
wait_until "the access log shows the last request" 5 log_has '\[access\] GET /health 200'

expect_log 'request refused while its head was read (400): the request line has the control byte 0x1b'
expect_log 'request refused while its head was read (400): the request line has the control byte 0x0d'
expect_log 'request refused while its head was read (400): the request line has the control byte 0x00'
expect_log 'request refused while its head was read (400): the request line has the control byte 0x7f'
# a tab in the target: a request line a proxy may split otherwise, refused
expect_log 'request refused while its head was read (400): the request line is not METHOD, one space, the target'
expect_log '\[access\] GET /caf\\xe9x 404 '
pass "a request line with ESC, CR, NUL, DEL or a tab is refused and logged by what is wrong; a byte not UTF-8 in a path is logged as \\xe9"

LC_ALL=C grep -q $'\x1b' "$LOG" && fail "a raw ESC reached the log"
LC_ALL=C grep -q $'\r' "$LOG" && fail "a raw CR reached the log"
LC_ALL=C grep -q $'\x7f' "$LOG" && fail "a raw DEL reached the log"
LC_ALL=C grep -q $'\t' "$LOG" && fail "a raw TAB reached the log"
[ "$(tr -d '\n' < "$LOG" | LC_ALL=C tr -d '\000' | wc -c)" = "$(tr -d '\n' < "$LOG" | wc -c)" ] ||
	fail "a raw NUL reached the log"
# every line is a log line: none was started by a client's LF
bad=$(LC_ALL=C grep -cv '^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T' "$LOG" || true)
[ "$bad" = 0 ] || fail "$bad log lines do not start with a timestamp (a forged line?)"
pass "no raw control byte in the log; every line starts with its timestamp"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
