#!/bin/bash
# Request framing that libevent would read leniently (a smuggling hazard)
# or answer with an HTML page is refused in JSON right after the head, with
# or without tokens configured, and the connection is closed: two different
# Content-Length headers (libevent took the first), a Content-Length with a
# sign or other non-digits, Content-Length beside Transfer-Encoding, a
# Transfer-Encoding libevent does not de-chunk (identity, empty, "chunked,
# chunked", two headers), an Expect other than 100-continue (417),
# and heads that libevent and a proxy in front may read differently: a
# space before a header's colon ("Content-Length : N" is no Content-Length
# to libevent, which then read the body as the next request), a body on
# HEAD (libevent reads none: the same), a NUL in a header (libevent cut the
# value there: "ce-id: a<NUL>b" reached plugins as the id "a"), another
# control byte, and obsolete line folding.  A missing, doubled or malformed
# Host is refused (RFC 9112 section 3.2), and a method or target libevent
# would answer with its HTML page is refused in JSON (501, 400).
# What libevent refuses as too large with an HTML page and no log line is
# refused by the daemon first, in JSON, logged and counted: a Content-Length
# beyond libevent's body limit (413, before any body is sent) and a head
# beyond 16 KiB, in one line or many (431).
# A refused head after a good request is answered after that request.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resource_lib.sh"
. "$(dirname "$0")/refusal_lib.sh"
trap '' PIPE

stage_plugin recorder
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, access_log: true}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
YAML
start_daemon

EVENT='{"name":"frame.ok"}' # 19 bytes
POST='POST /api/events/trigger HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n'

refused "two different Content-Length" 400 bad_request "different values" \
	"${POST}Content-Length: 19\r\nContent-Length: 5\r\n\r\n$EVENT"
refused "Content-Length: +19" 400 bad_request "1 to 19 digits" "${POST}Content-Length: +19\r\n\r\n$EVENT"
refused "Content-Length: 0x13" 400 bad_request "1 to 19 digits" "${POST}Content-Length: 0x13\r\n\r\n$EVENT"
refused "Content-Length with Transfer-Encoding" 400 bad_request "not both" \
	"${POST}Content-Length: 19\r\nTransfer-Encoding: chunked\r\n\r\n13\r\n$EVENT\r\n0\r\n\r\n"
refused "Transfer-Encoding: identity" 400 bad_request "not a framing" \
	"${POST}Transfer-Encoding: identity\r\n\r\n$EVENT"
refused "an empty Transfer-Encoding" 400 bad_request "not a framing" "${POST}Transfer-Encoding:\r\n\r\n$EVENT"
refused "Transfer-Encoding: chunked, chunked" 400 bad_request "not a framing" \
	"${POST}Transfer-Encoding: chunked, chunked\r\n\r\n13\r\n$EVENT\r\n0\r\n\r\n"
refused "two Transfer-Encoding headers" 400 bad_request "more than once" \
	"${POST}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n13\r\n$EVENT\r\n0\r\n\r\n"
refused "Expect: foo" 417 expectation_failed "100-continue" "${POST}Expect: foo\r\nContent-Length: 19\r\n\r\n$EVENT"

# a proxy that reads '_' as '-' in header names would frame these bodies otherwise
refused "Transfer_Encoding beside Content-Length" 400 bad_request "Content_Length or Transfer_Encoding" \
	"${POST}Transfer_Encoding: chunked\r\nContent-Length: 19\r\n\r\n$EVENT"
refused "Content_Length" 400 bad_request "Content_Length or Transfer_Encoding" "${POST}Content_Length: 5\r\n\r\n$EVENT"
refused "a space before a header's colon" 400 bad_request "before its colon" \
	"${POST}Content-Length : 38\r\n\r\nGET /api/plugins HTTP/1.1\r\nHost: t\r\n\r\n"
refused "a body on HEAD" 400 bad_request "HEAD or TRACE request has no body" \
	"HEAD /health HTTP/1.1\r\nHost: t\r\nContent-Length: 38\r\n\r\nGET /api/plugins HTTP/1.1\r\nHost: t\r\n\r\n"
refused "a NUL in a header's value" 400 bad_request "control byte 0x00" \
	"POST /api/events/trigger HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nce-specversion: 1.0\r\nce-source: /s\r\nce-type: frame.nul\r\nce-id: nulid\\x00-tail\r\nContent-Length: 1\r\n\r\nx"
refused "a control byte in a header's name" 400 bad_request "control byte 0x01" \
	"${POST}X\\x01Y: 1\r\nContent-Length: 19\r\n\r\n$EVENT"
refused "a tab before chunked (another framing to libevent)" 400 bad_request "a tab before the value of Transfer-Encoding" \
	"${POST}Transfer-Encoding:\tchunked\r\n\r\n13\r\n$EVENT\r\n0\r\n\r\n"
refused "a tab before 100-continue" 400 bad_request "a tab before the value of Expect" \
	"${POST}Content-Length: 19\r\nExpect:\t100-continue\r\n\r\n$EVENT"
refused "obsolete line folding" 400 bad_request "line folding" \
	"${POST}X-Note: a\r\n b\r\nContent-Length: 19\r\n\r\n$EVENT"
refused "a header line without a colon" 400 bad_request "has no colon" "GET /health HTTP/1.1\r\nHost: t\r\nFoo\r\n\r\n"
SLOW=6,0.02 refused "a header line without a colon, sent 6 bytes at a time" 400 bad_request "has no colon" \
	"GET /health HTTP/1.1\r\nHost: t\r\nFoo\r\n\r\n"
# libevent heeds Expect from HTTP/1.1 on, 1.2 included, and reads versions
# loosely ("HTTP/01.1" is 1.1 to it)
refused "Expect: foo on HTTP/1.2" 417 expectation_failed "100-continue" \
	"POST /api/events/trigger HTTP/1.2\r\nHost: t\r\nExpect: foo\r\nContent-Length: 19\r\n\r\n$EVENT"
refused "the version HTTP/01.1" 400 bad_request "an HTTP/1.x version" \
	"POST /api/events/trigger HTTP/01.1\r\nHost: t\r\nExpect: foo\r\nContent-Length: 19\r\n\r\n$EVENT"
# a head sent in small writes is read whole: libevent's buffer holds it in
# many small pieces (the check once looked at the first 16 only, and what
# came after 15 KB of padding was not read at all)
pad=$(head -c 16000 /dev/zero | tr '\0' 'p')
SLOW=100,0.002 refused "a HEAD with a body after 16000 bytes sent 100 at a time" 400 bad_request "" \
	"HEAD /health HTTP/1.1\r\nHost: t\r\nX-Pad: $pad\r\nContent-Length: 86\r\n\r\nPOST /api/events/trigger HTTP/1.1\r\nHost: t\r\nContent-Length: 19\r\n\r\n{\"name\":\"smuggled\"}"
SLOW=100,0.002 refused "a NUL after 16000 bytes sent 100 at a time" 400 bad_request "control byte 0x00" \
	"${POST}X-Pad: $pad\r\nce-id: a\\x00b\r\nContent-Length: 19\r\n\r\n$EVENT"
# CONNECT: libevent reads a body after it but keeps the connection open
# after any answer to it, so a body it could not read (another coding, a
# broken chunk) was read as the next request
HEAD_SMUGGLE='HEAD /health HTTP/1.1\r\nHost: t\r\nContent-Length: 86\r\n\r\nPOST /api/events/trigger HTTP/1.1\r\nHost: t\r\nContent-Length: 19\r\n\r\n{"name":"smuggled"}'
refused "CONNECT with Transfer-Encoding: gzip" 400 bad_request "CONNECT request has no body" \
	"CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nTransfer-Encoding: gzip\r\n\r\n$HEAD_SMUGGLE"
refused "CONNECT with a chunk size libevent cannot read" 400 bad_request "CONNECT request has no body" \
	"CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n$HEAD_SMUGGLE"
refused "Transfer-Encoding in HTTP/1.0" 400 bad_request "HTTP/1.0 request (RFC 9112 section 6.1)" \
	"POST /api/events/trigger HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n13\r\n$EVENT\r\n0\r\n\r\n"
# request lines a proxy in front may split otherwise than libevent
for line in 'GET\t/health HTTP/1.1' ' GET /health HTTP/1.1' 'GET /a b HTTP/1.1'; do
	refused "the request line '$line'" 400 bad_request "one space, the target, one space" "$line\r\nHost: t\r\n\r\n"
done
# Host (RFC 9112 section 3.2: a server MUST answer 400): missing in
# HTTP/1.1, given twice, or not a host and port; a proxy in front routes a
# request by it
refused "HTTP/1.1 without Host" 400 bad_request "needs a Host header" "GET /health HTTP/1.1\r\n\r\n"
refused "a POST without Host" 400 bad_request "needs a Host header" \
	"POST /api/events/trigger HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 19\r\n\r\n$EVENT"
refused "Host twice" 400 bad_request "Host is given more than once" "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
refused "Host twice in HTTP/1.0" 400 bad_request "Host is given more than once" \
	"GET /health HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"
for host in 'a/b' 'a b' 'user@a' 'a?b' '\xc3\xa9.example' 'a:b:c' ']a[' '[::1' 'a]' ':80' 'a:-1' \
	'a:99999999999' 'a:65536' 'a:80:80' '::::' '%' 'a%zz' '[a@b]'; do
	refused "Host: $host" 400 bad_request "not a host name or address" "GET /health HTTP/1.1\r\nHost: $host\r\n\r\n"
done
# methods and targets libevent would answer with an HTML page
for method in FOO get PROPFIND G; do
	refused "the method $method" 501 not_implemented "the method '$method' is not one this server knows" \
		"$method / HTTP/1.1\r\nHost: t\r\n\r\n"
done
for target in 'http://a:zz/' 'http://[::1/' '//[zz]/'; do
	refused "the target $target" 400 bad_request "not a URI this server can read" "GET $target HTTP/1.1\r\nHost: t\r\n\r\n"
done
refused "CONNECT to a:zz" 400 bad_request "not a URI this server can read" "CONNECT a:zz HTTP/1.1\r\nHost: t\r\n\r\n"
# lines libevent refuses as it reads them, sent a few bytes at a time: the
# JSON refusal goes out when the line arrives, not at the end of the head
SLOW=8,0.01 refused "a folded first header line, sent 8 bytes at a time" 400 bad_request "line folding" \
	"GET /health HTTP/1.1\r\n X: y\r\nHost: t\r\n\r\n"
SLOW=8,0.01 refused "a CR inside a header value, sent 8 bytes at a time" 400 bad_request "control byte 0x0d" \
	"GET /health HTTP/1.1\r\nHost: t\r\nX-A: b\rc\r\n\r\n"

# too large: libevent's body limit is 2 x event.max_event_size (1 MiB) + 64 KiB
refused "a Content-Length beyond the body limit" 413 too_large "reads at most 2162688" \
	"${POST}Content-Length: 2162689\r\n\r\n"
big=$(head -c 17000 /dev/zero | tr '\0' 'a')
refused "a header line of 17000 bytes" 431 headers_too_large "request head is over 16384 bytes" \
	"${POST}X-Big: $big\r\nContent-Length: 19\r\n\r\n$EVENT"
many=
for i in $(seq 1 40); do many="${many}X-Part-$i: $(head -c 500 /dev/zero | tr '\0' 'b')\r\n"; done
refused "40 header lines of 500 bytes" 431 headers_too_large "request head is over 16384 bytes" \
	"${POST}${many}Content-Length: 19\r\n\r\n$EVENT"
# pipelined answers before an unfinished request line beyond the limit are
# all sent first (the last one was replaced by the 431)
gets=
for i in $(seq 1 10); do gets="${gets}GET /health HTTP/1.1\r\nHost: t\r\n\r\n"; done
out=$(raw "${gets}GET /$big HTTP/1.1\r\nHost: t\r\n\r\n")
[ "$(printf '%s' "$out" | grep -o 'HTTP/1.1 200 ' | wc -l)" = 10 ] ||
	fail "ten pipelined GETs before a long request line: $(printf '%s' "$out" | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' ')"
case "$out" in *'HTTP/1.1 431 '*'headers_too_large'*) ;; *) fail "no 431 after the ten GETs: $(printf '%s' "$out" | tail -c 300)" ;; esac
pass "ten pipelined GETs, then a request line over 16 KiB: ten 200s, then the 431"
# the limit's edge, as libevent counts it (line ends not counted): a request
# line of 16384 bytes is read, one of 16385 refused, with CRLF or a bare LF
# (HTTP/1.0: the request line is the whole head, no Host needed)
line16384="GET /$(head -c 16370 /dev/zero | tr '\0' 'e') HTTP/1.0"
for end in '\r\n' '\n'; do
	out=$(raw "${line16384}${end}${end}")
	case "$out" in "HTTP/1.0 404 "*) ;; *) fail "a request line of 16384 bytes ($end): $(printf '%s' "$out" | head -c 200)" ;; esac
	refused "a request line of 16385 bytes ($end)" 431 headers_too_large "(16385 so far" "${line16384}x${end}${end}"
done
# a HEAD before a head too large: the 431 to the GET has its body
out=$(raw "HEAD /health HTTP/1.1\r\nHost: t\r\n\r\nGET /$big HTTP/1.1\r\nHost: t\r\n\r\n")
case "$out" in *'HTTP/1.1 431 '*'"error":"headers_too_large"'*) ;; *) fail "a HEAD, then a 431: $(printf '%s' "$out" | tail -c 300)" ;; esac
pass "a HEAD answered, then a head too large: the 431 has its body"
[ ! -s "$TMP/recorder.txt" ] || fail "a refused head reached the plugin: $(cat "$TMP/recorder.txt")"
pass "none of the refused heads reached the plugin"

# after a good request with a body, on the same connection
out=$(raw "${POST}Content-Length: 19\r\n\r\n${EVENT}${POST}Content-Length: +19\r\n\r\n$EVENT")
[ "$(printf '%s' "$out" | grep -o 'HTTP/1.1 [0-9]*' | wc -l)" = 2 ] || fail "pipelined: expected two answers: $out"
printf '%s' "$out" | head -1 | grep -q '^HTTP/1.1 202' || fail "pipelined: the good request was not answered first: $out"
case "$out" in *'HTTP/1.1 400 '*'1 to 19 digits'*) ;; *) fail "pipelined: the bad head was not refused after it: $out" ;; esac
pass "a bad head after a good request with a body: the good one is answered 202, then the 400"
# pipelined requests and then a half-close: every one is answered (libevent
# read the end of the stream while it wrote the first answer and closed,
# in about half of the connections: the other answers were lost)
EVENT3='{"name":"frame.half"}' # 21 bytes
answered=0
for i in $(seq 10); do
	out=$(RAW_HALF_CLOSE=1 raw "${POST}Content-Length: 21\r\n\r\n$EVENT3${POST}Content-Length: 21\r\n\r\n$EVENT3${POST}Content-Length: 21\r\n\r\n$EVENT3")
	[ "$(printf '%s' "$out" | grep -o 'HTTP/1.1 202' | wc -l)" = 3 ] && answered=$((answered + 1))
done
[ "$answered" = 10 ] || fail "three pipelined requests, then a half-close: all three answered on $answered of 10 connections"
wait_until "the 30 events reached the plugin" 5 lines_at_least "$TMP/recorder.txt" frame.half 30
pass "three pipelined requests, then a half-close: all answered, on each of 10 connections"
# an empty line before a request line is ignored (RFC 9112 section 2.2: a
# line end after a body, not counted in its Content-Length), one per
# request; it was libevent's HTML 400
statuses() { printf '%s' "$1" | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' '; }
GET_CLOSE='GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
out=$(raw "${POST}Content-Length: 19\r\n\r\n${EVENT}\r\n$GET_CLOSE")
[ "$(statuses "$out")" = "HTTP/1.1 202 HTTP/1.1 200 " ] || fail "a line end after a body, then a GET: $(statuses "$out")"
out=$(raw "\r\n$GET_CLOSE")
[ "$(statuses "$out")" = "HTTP/1.1 200 " ] || fail "an empty line first on a connection: $(statuses "$out")"
# behind a request without a body, still unread when the empty line comes,
# and before a request with a body
out=$(raw "GET /health HTTP/1.1\r\nHost: t\r\n\r\n\r\n${POST}Content-Length: 19\r\n\r\n${EVENT}\n$GET_CLOSE")
[ "$(statuses "$out")" = "HTTP/1.1 200 HTTP/1.1 202 HTTP/1.1 200 " ] ||
	fail "a GET, an empty line, a POST, an empty line, a GET: $(statuses "$out")"
SLOW=1,0.005 raw "${POST}Content-Length: 19\r\n\r\n${EVENT}\r\n$GET_CLOSE" > "$TMP/slow.out"
[ "$(statuses "$(cat "$TMP/slow.out")")" = "HTTP/1.1 202 HTTP/1.1 200 " ] ||
	fail "a line end after a body, sent a byte at a time: $(statuses "$(cat "$TMP/slow.out")")"
# one before each of several pipelined requests without a body, all in one
# write: the gate reads ahead of libevent, and each line waits its turn
GET_KEEP='GET /health HTTP/1.1\r\nHost: t\r\n\r\n'
out=$(raw "${GET_KEEP}\r\n${GET_KEEP}\r\n${GET_KEEP}\r\n${POST}Content-Length: 19\r\n\r\n${EVENT}\r\n$GET_CLOSE")
[ "$(statuses "$out")" = "HTTP/1.1 200 HTTP/1.1 200 HTTP/1.1 200 HTTP/1.1 202 HTTP/1.1 200 " ] ||
	fail "GET, empty line, GET, empty line, GET, empty line, POST, empty line, GET: $(statuses "$out")"
pass "an empty line before a request line is ignored: after a body, first on a connection, pipelined, sent a byte at a time"
refused "two empty lines before a request line" 400 bad_request "more than one empty line" "\r\n\r\n$GET_CLOSE"
out=$(raw "${POST}Content-Length: 19\r\n\r\n${EVENT}\r\n\r\n$GET_CLOSE")
[ "$(statuses "$out")" = "HTTP/1.1 202 HTTP/1.1 400 " ] || fail "a body, then two empty lines: $(statuses "$out")"
pass "two empty lines before a request line: 400"
# after an answer that closes the connection nothing more is read: no
# refusal of a bad head pipelined behind it
out=$(raw "${POST}Content-Length: 19\r\nConnection: close\r\n\r\n${EVENT}GET /health HTTP/1.1\r\nFoo\r\n\r\n")
[ "$(printf '%s' "$out" | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' ')" = "HTTP/1.1 202 " ] ||
	fail "a bad head behind Connection: close: $(printf '%s' "$out" | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' ')"
pass "a bad head pipelined behind Connection: close is neither read nor answered"
# libevent writes "Connection: close" into the answer to a CONNECT that
# asked for it but kept the connection and answered what came next
for next in "$GET_CLOSE" 'GET /health HTTP/1.1\r\nHost: a b\r\n\r\n' 'GET /he'; do
	out=$(raw "CONNECT a:80 HTTP/1.1\r\nHost: a:80\r\nConnection: close\r\n\r\n$next")
	[ "$(statuses "$out")" = "HTTP/1.1 404 " ] || fail "CONNECT with Connection: close, then '$next': $(statuses "$out")"
	case "$out" in *"NOT CLOSED"*) fail "CONNECT with Connection: close: the connection stayed open" ;; esac
done
pass "the answer to a CONNECT with Connection: close closes the connection: nothing after it is read"
# "close" among a Connection header's options closes after the answer
# wherever it is (RFC 9110 section 7.6.1); libevent heeded only a first
# Connection line that is exactly "close", and answered what came next
for asked in 'Connection: keep-alive\r\nConnection: close' 'Connection: keep-alive, Close' 'Connection: close , TE' \
	'Connection: TE\r\nConnection: ,close'; do
	out=$(raw "GET /health HTTP/1.1\r\nHost: t\r\n$asked\r\n\r\n$GET_KEEP")
	[ "$(statuses "$out")" = "HTTP/1.1 200 " ] || fail "'$asked', then a GET: $(statuses "$out")"
	case "$out" in *"NOT CLOSED"*) fail "'$asked': the connection stayed open" ;; esac
	case "$out" in *$'\r\nConnection: close\r\n'*) ;; *) fail "'$asked': the answer does not say Connection: close" ;; esac
done
# HTTP/1.0, where libevent took a first line starting "keep-alive" as keep-alive
out=$(raw 'GET /health HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\nGET /health HTTP/1.0\r\n\r\n')
[ "$(printf '%s' "$out" | grep -o 'HTTP/1.[01] [0-9]*' | tr '\n' ' ')" = "HTTP/1.0 200 " ] ||
	fail "HTTP/1.0 with 'keep-alive, close', then a GET: $out"
case "$out" in *$'\r\nConnection: close\r\n'*) ;; *) fail "HTTP/1.0 with 'keep-alive, close': the answer says $out" ;; esac
# the metrics listener, which has no request-head gate, too
out=$(python3 "$ES_TOP_SRCDIR/tests/runtime/raw_http.py" "$MPORT" \
	'GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, close\r\n\r\nGET /metrics HTTP/1.1\r\nHost: t\r\n\r\n')
[ "$(statuses "$out")" = "HTTP/1.1 200 " ] || fail "metrics: 'keep-alive, close', then a GET: $(statuses "$out")"
# and a CONNECT there: answered (404: its target is not /metrics) with its length, and closed (libevent
# alone gave an HTML 501 without a length, then answered what followed)
out=$(python3 "$ES_TOP_SRCDIR/tests/runtime/raw_http.py" "$MPORT" \
	'CONNECT a:80 HTTP/1.1\r\nHost: a:80\r\n\r\nGET /metrics HTTP/1.1\r\nHost: t\r\n\r\n')
[ "$(statuses "$out")" = "HTTP/1.1 404 " ] || fail "metrics: a CONNECT, then a GET: $(statuses "$out")"
case "$out" in *"NOT CLOSED"* | *'<html'* | *'<HTML'*) fail "metrics: a CONNECT: $out" ;; esac
out=$(raw "${POST}Content-Length: 19\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n${EVENT}$GET_KEEP")
[ "$(statuses "$out")" = "HTTP/1.1 202 " ] || fail "a POST with a second Connection line 'close', then a GET: $(statuses "$out")"
out=$(raw "${POST}Transfer-Encoding: chunked\r\nConnection: te, close\r\n\r\n13\r\n$EVENT\r\n0\r\n\r\n$GET_KEEP")
[ "$(statuses "$out")" = "HTTP/1.1 202 " ] || fail "a chunked POST with 'te, close', then a GET: $(statuses "$out")"
# pipelined: the request before it is answered, the one after it is not
out=$(raw "${GET_KEEP}GET /health HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, close\r\n\r\n$GET_KEEP")
[ "$(statuses "$out")" = "HTTP/1.1 200 HTTP/1.1 200 " ] || fail "GET, GET with 'keep-alive, close', GET: $(statuses "$out")"
case "$out" in *"NOT CLOSED"*) fail "GET, GET with 'keep-alive, close', GET: the connection stayed open" ;; esac
# options that are not "close" keep it open
out=$(raw "GET /health HTTP/1.1\r\nHost: t\r\nConnection: closed, keep-alive\r\nConnection: TE\r\n\r\n$GET_CLOSE")
[ "$(statuses "$out")" = "HTTP/1.1 200 HTTP/1.1 200 " ] || fail "'closed, keep-alive' and 'TE', then a GET: $(statuses "$out")"
pass "Connection: close among other options or lines closes after the answer; 'closed' does not"

# what stays accepted
out=$(raw "${POST}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n13\r\n$EVENT\r\n0\r\n\r\n")
case "$out" in "HTTP/1.1 202 "*) ;; *) fail "a chunked body was not accepted: $out" ;; esac
out=$(raw "${POST}Content-Length: 19\r\nContent-Length: 19\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n$EVENT")
case "$out" in *"HTTP/1.1 202 "*) ;; *) fail "an identical Content-Length twice with Expect: 100-continue: $out" ;; esac
out=$(raw "HEAD /health HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nX-Tab:\tvalue\r\nConnection: close\r\n\r\n")
case "$out" in "HTTP/1.1 200 "*) ;; *) fail "HEAD with Content-Length: 0 and a tab in a value: $out" ;; esac
out=$(raw "${POST}Transfer-Encoding: gzip, chunked\r\n\r\n13\r\n$EVENT\r\n0\r\n\r\n$HEAD_SMUGGLE")
case "$out" in "HTTP/1.1 501 "*'not_implemented'*) ;; *) fail "gzip, chunked: $out" ;; esac
case "$out" in *"NOT CLOSED"* | *'HTTP/1.1 200'*) fail "gzip, chunked: what followed was read: $out" ;; esac
# an absolute-form target (RFC 9112 section 3.2.2) is routed by its path,
# and its connection stays open for the next request
out=$(raw "GET http://127.0.0.1:$PORT/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
[ "$(printf '%s' "$out" | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' ')" = "HTTP/1.1 200 HTTP/1.1 200 " ] ||
	fail "an absolute-form target, then a second request: $(printf '%s' "$out" | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' ')"
# a head of about 16000 bytes is read (the limit is 16384)
out=$(raw "${POST}X-Big: $(head -c 15900 /dev/zero | tr '\0' 'c')\r\nContent-Length: 19\r\nConnection: close\r\n\r\n$EVENT")
case "$out" in "HTTP/1.1 202 "*) ;; *) fail "a head of 16000 bytes: $(printf '%s' "$out" | head -c 300)" ;; esac
# Host: empty (RFC 9112 allows it), names, addresses and ports, none in HTTP/1.0
for head in 'GET /health HTTP/1.1\r\nHost:\r\n' 'GET /health HTTP/1.1\r\nHost: [::1]:8080\r\n' \
	'GET /health HTTP/1.1\r\nHost: [::ffff:127.0.0.1]\r\n' 'GET /health HTTP/1.1\r\nHost: events.example.com:65535\r\n' \
	'GET /health HTTP/1.1\r\nHost: 127.0.0.1:0\r\n' 'GET /health HTTP/1.1\r\nHost: a%41_b~c\r\n' \
	'GET /health HTTP/1.1\r\nHost: example.com:\r\n' 'GET /health HTTP/1.0\r\n'; do
	out=$(raw "${head}Connection: close\r\n\r\n")
	case "$out" in "HTTP/1."[01]" 200 "*) ;; *) fail "$head: $out" ;; esac
done
pass "an empty Host, names, IPv4 and IPv6 addresses with and without ports, and HTTP/1.0 without Host are accepted"
# HTTP/1.9 is read as 1.1 and answered as 1.1 (RFC 9110 section 2.5), not
# as "HTTP/1.9 200"
out=$(raw "GET /health HTTP/1.9\r\nHost: t\r\nConnection: close\r\n\r\n")
case "$out" in "HTTP/1.1 200 "*) ;; *) fail "an HTTP/1.9 request: $(printf '%s' "$out" | head -1)" ;; esac
pass "an HTTP/1.9 request is answered HTTP/1.1"
pass "chunked, a repeated identical Content-Length, Expect: 100-continue, HEAD with Content-Length: 0, a tab in a value, a head of 16000 bytes and an absolute-form target are accepted; other codings stay 501 and close"

# each refusal has its access log line; "- -" when the request line did not arrive whole
expect_log '\[access\] FOO / 501 [0-9]* bytes [0-9.]* ms client=127\.0\.0\.1:[0-9]* token=-'
expect_log '\[access\] GET /health 400 [0-9]* bytes [0-9.]* ms client=127\.0\.0\.1:[0-9]* token=-'
expect_log '\[access\] - - 431 [0-9]* bytes [0-9.]* ms client=127\.0\.0\.1:[0-9]* token=-'
expect_log '\[access\] HEAD /health 400 0 bytes' # a refused HEAD's answer has no body
out=$(raw "TRACE /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
case "$out" in "HTTP/1.1 405 "*) ;; *) fail "TRACE: $(printf '%s' "$out" | head -1)" ;; esac
expect_log '\[access\] TRACE /health 405 ' # not "OTHER"
expect_log "request refused after its headers (400): Content-Length is given more than once"
expect_log "request refused after its headers (413): the body is 2162689 bytes (its Content-Length); this server reads at most 2162688 (event.max_event_size is 1048576)"
expect_log "request refused while its head was read (431): the request head is over 16384 bytes"
too_large=$(metric 'eventsys_http_connections_closed_total{reason="too_large"}')
[ "$too_large" = 7 ] || fail "metrics count $too_large connections closed for a request too large (7 were refused)"
refusals=$(metric 'eventsys_http_connections_closed_total{reason="bad_framing"}')
[ "$refusals" = 66 ] || fail "metrics count $refusals connections closed for bad framing (66 were refused)"
pass "each refusal is logged and counted (eventsys_http_connections_closed_total{reason=\"bad_framing\"} $refusals)"
# among the answers by route too, with the handlers' own 4xx and 5xx
answered=$(curl -s "http://127.0.0.1:$MPORT/metrics" |
	awk '/^eventsys_http_requests_total\{.*code="[45]xx"\}/ { n += $2 } END { print n + 0 }')
[ "$answered" -ge $((refusals + too_large)) ] ||
	fail "eventsys_http_requests_total counts $answered 4xx and 5xx answers; the gate alone refused $((refusals + too_large))"
pass "the refusals are among the answers by route ($answered 4xx and 5xx answers)"
# by the same route the handlers would count: a fixed route's path with a
# '/' after it is "other" for the methods that route takes (the handlers
# answer 404), the id route's for others
by_route() { metric "eventsys_http_requests_total{route=\"$1\",code=\"4xx\"}"; }
other=$(by_route other) by_id=$(by_route '/api/events/{id}')
for request in 'POST /api/events/trigger/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}' \
	'POST /api/events/trigger/ HTTP/1.1\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}' \
	'GET /api/events/trigger/ HTTP/1.1\r\nConnection: close\r\n\r\n'; do
	case "$(raw "$request")" in "HTTP/1.1 4"*) ;; *) fail "no 4xx for $request" ;; esac
done
# an absolute-form target with a long authority: its path says the route
long_authority=$(printf 'a%.0s' $(seq 1 200))
by_trigger=$(by_route /api/events/trigger)
out=$(raw "POST http://$long_authority/api/events/trigger HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}")
case "$out" in "HTTP/1.1 400 "*) ;; *) fail "two Content-Lengths under a long absolute-form target: $(printf '%s' "$out" | head -1)" ;; esac
[ "$(by_route /api/events/trigger)" = $((by_trigger + 1)) ] ||
	fail "a refusal of POST http://<200 bytes>/api/events/trigger was not counted under its route"
[ "$(by_route other)" = $((other + 2)) ] && [ "$(by_route '/api/events/{id}')" = $((by_id + 1)) ] ||
	fail "POST /api/events/trigger/ answered by the handlers and by the gate, GET without Host: other +$(($(by_route other) - other)), /api/events/{id} +$(($(by_route '/api/events/{id}') - by_id)); expected +2 and +1"
pass "a refusal of POST /api/events/trigger/ counts under route=\"other\", as the handlers' 404 does"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
