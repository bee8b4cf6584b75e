#!/bin/bash
# A chunked body's framing is read strictly, as it arrives, and what
# libevent would read leniently (a body a proxy in front frames otherwise)
# or answer with an HTML 413 is refused in JSON and closed: a chunk size
# that is not hex digits alone ("0x13", "+13", "13 junk" were sizes to
# libevent), a chunk extension, an empty line where a size belongs (libevent
# skipped it), data not followed by its line end (libevent read on), a
# field after the last chunk (libevent added it to the request's headers,
# unchecked: "ce-id: a<NUL>b" reached plugins as the id "a"), and chunks
# beyond the body limit (413).  Good chunked bodies, in pieces or
# pipelined, are accepted, and their events reach the plugin as sent.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resource_lib.sh"
. "$(dirname "$0")/refusal_lib.sh"
trap '' PIPE

stage_plugin recorder
# the body limit is 2 x max_event_size + 64 KiB = 67584 bytes
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, access_log: true}
event: {max_event_size: 1024}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
YAML
start_daemon

POST='POST /api/events/trigger HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n'
BAD='{"name":"chunk.bad"}' # 20 bytes: 0x14

refused "a chunk size libevent cannot read" 400 bad_request "1 to 16 hex digits alone" "${POST}\r\nzz\r\n$BAD\r\n0\r\n\r\n"
for size in '0x14' '+14' ' 14' '14 ' '14 junk' '00000000000000014'; do
	refused "the chunk size '$size'" 400 bad_request "1 to 16 hex digits alone" "${POST}\r\n$size\r\n$BAD\r\n0\r\n\r\n"
done
refused "a chunk extension" 400 bad_request "a chunk extension" "${POST}\r\n14;a=b\r\n$BAD\r\n0\r\n\r\n"
refused "an empty line between chunks" 400 bad_request "1 to 16 hex digits alone" \
	"${POST}\r\na\r\n${BAD:0:10}\r\n\r\na\r\n${BAD:10}\r\n0\r\n\r\n"
refused "data not followed by its line end" 400 bad_request "not followed by a line end" "${POST}\r\n14\r\n${BAD}0\r\n\r\n"
refused "data longer than its size" 400 bad_request "longer than its size" "${POST}\r\n13\r\n${BAD}\r\n0\r\n\r\n"
refused "a trailer field" 400 bad_request "a field after the last chunk" "${POST}\r\n14\r\n$BAD\r\n0\r\nX-Trailer: 1\r\n\r\n"
refused "a trailer ce-id with a NUL" 400 bad_request "a field after the last chunk" \
	"${POST}ce-specversion: 1.0\r\nce-type: chunk.bad\r\nce-source: /t\r\n\r\n14\r\n$BAD\r\n0\r\nce-id: a\x00b\r\n\r\n"
refused "a line of 40 bytes where a size belongs" 400 bad_request "over 32 bytes" \
	"${POST}\r\n$(head -c 40 /dev/zero | tr '\0' '0')\r\n"
# beyond the body limit: one chunk, or chunks adding up to more
refused "a chunk of 4 GiB" 413 too_large "the chunked body is over 67584 bytes" "${POST}\r\nFFFFFFFF\r\n"
refused "a chunk size of 16 hex digits" 413 too_large "the chunked body is over 67584 bytes" "${POST}\r\nFFFFFFFFFFFFFFFF\r\n"
refused "chunks adding up to more than the limit" 413 too_large "the chunked body is over 67584 bytes" \
	"${POST}\r\n10000\r\n$(head -c 65536 /dev/zero | tr '\0' ' ')\r\n1000\r\n"
# the line end after the last chunk counts with the head against its 16
# KiB, as libevent counts it (it answered an HTML 413): with a head of
# exactly 16384 bytes (line ends not counted), a CR whose LF has not come
# yet is over it.  Sent whole, the same request is read.
pad_to() { # HEAD BYTES: a header line that makes the head HEAD that many bytes
	local head
	head=$(printf "$1" | tr -d '\r\n' | wc -c)
	printf 'X-Pad: %s\\r\\n' "$(head -c $(($2 - head - 7)) /dev/zero | tr '\0' 'p')"
}
full_head="${POST}$(pad_to "$POST" 16384)\r\n"
SLOW=@-1,0.3 refused "a head of 16384 bytes and the last CRLF in two pieces" 431 headers_too_large \
	"counts the line end after the last chunk" "${full_head}14\r\n$BAD\r\n0\r\n\r\n"
# sent a few bytes at a time, the refusal goes out when the bad line arrives
SLOW=5,0.01 refused "data not followed by its line end, sent 5 bytes at a time" 400 bad_request "not followed by a line end" \
	"${POST}\r\n14\r\n${BAD}XY\r\n0\r\n\r\n"
# a refused body after a good request: the good one is answered first
out=$(raw "GET /health HTTP/1.1\r\nHost: t\r\n\r\n${POST}\r\n0x14\r\n$BAD\r\n0\r\n\r\n")
[ "$(printf '%s' "$out" | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' ')" = "HTTP/1.1 200 HTTP/1.1 400 " ] ||
	fail "a GET, then a bad chunked body: $(printf '%s' "$out" | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' ')"
pass "a GET, then a bad chunked body: 200, then the 400"

# what stays accepted: sizes in either case and with leading zeros, bare
# LF line ends, a body in many pieces; the events reach the plugin whole
out=$(raw "${POST}Connection: close\r\n\r\n9\r\n{\"name\":\"\r\n000A\r\nchunk.ok.1\r\n2\r\n\"}\r\n0\r\n\r\n")
case "$out" in "HTTP/1.1 202 "*'"name":"chunk.ok.1"'*) ;; *) fail "a body in three chunks: $out" ;; esac
out=$(raw "${POST}Connection: close\n\n9\n{\"name\":\"\na\nchunk.ok.2\n2\n\"}\n0\n\n")
case "$out" in "HTTP/1.1 202 "*'"name":"chunk.ok.2"'*) ;; *) fail "bare LF line ends: $out" ;; esac
out=$(SLOW=3,0.005 raw "${POST}Connection: close\r\n\r\n9\r\n{\"name\":\"\r\nA\r\nchunk.ok.3\r\n2\r\n\"}\r\n0\r\n\r\n")
case "$out" in "HTTP/1.1 202 "*'"name":"chunk.ok.3"'*) ;; *) fail "a chunked body sent 3 bytes at a time: $out" ;; esac
# pipelined: a chunked request, then a GET, then one more chunked request
ok4='{"name":"chunk.ok.4"}' # 21 bytes: 0x15
out=$(raw "${POST}\r\n15\r\n$ok4\r\n0\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n${POST}Connection: close\r\n\r\n15\r\n${ok4/4/5}\r\n0\r\n\r\n")
[ "$(printf '%s' "$out" | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' ')" = "HTTP/1.1 202 HTTP/1.1 200 HTTP/1.1 202 " ] ||
	fail "pipelined chunked requests: $(printf '%s' "$out" | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' ')"
# an empty line after a chunked body is ignored, as after any body
out=$(raw "${POST}\r\n15\r\n${ok4/4/6}\r\n0\r\n\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
[ "$(printf '%s' "$out" | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' ')" = "HTTP/1.1 202 HTTP/1.1 200 " ] ||
	fail "a chunked body, an empty line, a GET: $(printf '%s' "$out" | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' ')"
# a head of exactly 16384 bytes with a chunked body sent whole is read
ok7='{"name":"chunk.ok.7"}'
out=$(raw "${POST}Connection: close\r\n$(pad_to "${POST}Connection: close\r\n" 16384)\r\n15\r\n$ok7\r\n0\r\n\r\n")
case "$out" in "HTTP/1.1 202 "*) ;; *) fail "a head of 16384 bytes with a chunked body: $(printf '%s' "$out" | head -c 300)" ;; esac
# a body of exactly the limit is read (and refused by the API as over max_event_size)
out=$(raw "${POST}Connection: close\r\n\r\n10000\r\n$(head -c 65536 /dev/zero | tr '\0' ' ')\r\n800\r\n$(head -c 2048 /dev/zero | tr '\0' ' ')\r\n0\r\n\r\n")
case "$out" in "HTTP/1.1 413 "*'max_event_size'*) ;; *) fail "a chunked body of exactly the limit: $(printf '%s' "$out" | head -c 300)" ;; esac
pass "chunk sizes in either case, with leading zeros, bare LF, in pieces and pipelined are read; a body of the limit is read"

for n in 1 2 3 4 5 6 7; do
	wait_until "the event chunk.ok.$n reached the plugin" 5 lines_at_least "$TMP/recorder.txt" "chunk.ok.$n" 1
done
! grep -q 'chunk.bad' "$TMP/recorder.txt" || fail "a refused body reached the plugin: $(grep chunk.bad "$TMP/recorder.txt")"
pass "the accepted events reached the plugin, none of the refused ones"

# refusals have their access log lines, as every answer
expect_log '\[access\] POST /api/events/trigger 400 [0-9]* bytes [0-9.]* ms client=127\.0\.0\.1:[0-9]* token=-'
expect_log '\[access\] POST /api/events/trigger 413 [0-9]* bytes [0-9.]* ms client=127\.0\.0\.1:[0-9]* token=-'
expect_log "request refused while its chunked body was read (400): a chunk size must be 1 to 16 hex digits"
expect_log "request refused while its chunked body was read (413): the chunked body is over 67584 bytes"
[ "$(metric 'eventsys_http_connections_closed_total{reason="too_large"}')" = 4 ] ||
	fail "metrics: $(metric 'eventsys_http_connections_closed_total{reason="too_large"}') closed as too large, 4 were refused"
[ "$(metric 'eventsys_http_connections_closed_total{reason="bad_framing"}')" = 16 ] ||
	fail "metrics: $(metric 'eventsys_http_connections_closed_total{reason="bad_framing"}') closed for framing, 16 were refused"
pass "each refusal is logged and counted"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
pass "stopped cleanly"
