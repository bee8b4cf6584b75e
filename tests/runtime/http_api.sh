#!/bin/bash
# Every endpoint of the HTTP API and every error a caller can get, over real
# HTTP, as a user would meet them with curl.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
stage_plugin failing
stage_plugin slow
stage_plugin example
write_config <<'YAML'
server: {port: @PORT@}
event: {max_event_size: 2048, sync_timeout_ms: 4000}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  defaults: {backoff_initial_ms: 10, backoff_max_ms: 20}
  settings:
    recorder: {subscribe: ["**"], config: {record: @TMP@/recorder.txt}}
    failing: {subscribe: ["fail.*"]}
    slow: {subscribe: ["slow.*"], config: {delay_ms: 6000}}
YAML
start_daemon

# ---- trigger ----
request POST /api/events/trigger '{"name":"order.created","data":{"n":1}}'
expect_status 202
grep -qi '^Content-Type: application/json; charset=utf-8' "$TMP/headers" || fail "202 without the JSON content type"
echo "$BODY" | jq -e '(.id|length) == 36 and .name == "order.created" and .matched == ["recorder"]' >/dev/null ||
	fail "202 body: $BODY"
pass "trigger answers 202 with the id, the name and the matched plugins"

request POST /api/events/trigger '{"name": "a", "data": {"x": tru}}'
expect_status 400
expect_body '"error":"bad_request"'
expect_body 'malformed JSON at byte 2'
request POST /api/events/trigger '{"data":{}}'
expect_status 400
expect_body 'missing field \"name\"'
request POST /api/events/trigger '{"name":"bad name!"}'
expect_status 400
expect_body 'invalid \"name\": event name has an invalid character at byte 3'
request POST /api/events/trigger '{"name":"a..b"}'
expect_status 400
expect_body 'empty segment'
pass "malformed JSON, a missing name and an invalid name are 400 with the reason"

big=$(head -c 3000 /dev/zero | tr '\0' 'x')
request POST /api/events/trigger "{\"name\":\"a\",\"data\":\"$big\"}"
expect_status 413
expect_body '"error":"too_large"'
expect_body 'event.max_event_size is 2048'
# far over the limit: refused from the Content-Length, without reading the body
huge_status=$(head -c 10000000 /dev/zero | curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	--data-binary @- "http://127.0.0.1:$PORT/api/events/trigger")
[ "$huge_status" = 413 ] || fail "a 10 MB body got $huge_status"
pass "bodies over event.max_event_size are 413"

request POST /api/events/trigger 'name=a' application/x-www-form-urlencoded
expect_status 415
expect_body "not 'application/x-www-form-urlencoded'"
pass "a wrong Content-Type is 415 naming the accepted types"

request GET /api/events/trigger
expect_status 405
grep -qi '^Allow: POST' "$TMP/headers" || fail "405 without Allow"
request DELETE /health
expect_status 405
grep -qi '^Allow: GET, HEAD' "$TMP/headers" || fail "405 without Allow on /health"
request GET /nope
expect_status 404
expect_body '"error":"not_found"'
# a fixed route with a '/' after it is not the /api/events/{id} route's 405
request POST /api/events/trigger/ '{"name":"a"}'
expect_status 404
expect_body "did you mean POST /api/events/trigger?"
request GET /health/
expect_status 404
expect_body "did you mean GET /health?"
# with a method the route does not take, a trailing "/" is not read as that route (a GET of
# /api/events/trigger/ reads the event whose id is "trigger/")
request POST /health/ '{"name":"a"}'
expect_status 404
expect_body "no such endpoint (see"
pass "wrong methods are 405 with Allow; unknown paths are 404, a trailing '/' naming the endpoint meant"

# ---- synchronous trigger ----
request POST '/api/events/trigger?wait=true' '{"name":"fail.now"}'
expect_status 200
echo "$BODY" | jq -e '.status == "failed" and .outcomes.failing.status == "failed"
	and .outcomes.failing.error == "downstream rejected the event (test)" and .outcomes.recorder.status == "ok"' >/dev/null ||
	fail "sync body: $BODY"
request POST /api/events/trigger '{"name":"order.sync","sync":true}'
expect_status 200
echo "$BODY" | jq -e '.status == "ok" and .outcomes.recorder.attempts == 1' >/dev/null || fail "sync body: $BODY"
pass "?wait=true and \"sync\": true answer 200 with each plugin's outcome"

# a wait the daemon cannot read is refused, not taken as "do not wait"
for q in 'wait=yes' 'wait=%74ru' 'wait=true&wait=false' 'w%61it=true&wait=0' 'wait=true%00'; do
	request POST "/api/events/trigger?$q" '{"name":"order.unclear"}'
	expect_status 400
	expect_body 'query parameter wait'
done
request POST '/api/events/trigger?wait=false' '{"name":"order.unclear","sync":true}'
expect_status 400
expect_body 'give one of them'
# what clients send for "true": Python's requests writes True, a form %74rue
for q in 'wait' 'wait=' 'wait=True' 'a=1&w%61it=%74rue' 'wait=1'; do
	request POST "/api/events/trigger?$q" '{"name":"order.sync"}'
	expect_status 200
	echo "$BODY" | jq -e '.status == "ok"' >/dev/null || fail "?$q did not wait: $BODY"
done
request POST '/api/events/batch?wait=true' '[{"name":"order.batch"}]'
expect_status 400
expect_body 'not taken by the batch endpoint'
pass "?wait=yes, given twice, or false against \"sync\": true are 400; True, %74rue and a bare ?wait wait; a batch refuses ?wait=true"

# the batch endpoint's 415 names its own two types
request POST /api/events/batch '{"specversion":"1.0"}' 'application/cloudevents+json'
expect_status 415
expect_body "must be application/json or application/cloudevents-batch+json, not 'application/cloudevents+json'"
pass "a batch in a single event's media type is 415 naming the batch's types"

t0=$(date +%s%N)
request POST '/api/events/trigger?wait=true' '{"name":"slow.job"}'
ms=$((($(date +%s%N) - t0) / 1000000))
expect_status 504
echo "$BODY" | jq -e '.status == "timeout" and .outcomes.slow.status == "pending" and .outcomes.recorder.status == "ok"' \
	>/dev/null || fail "timeout body: $BODY"
[ $ms -ge 4000 ] && [ $ms -lt 7000 ] || fail "the sync timeout took $ms ms (configured 4000)"
pass "a synchronous trigger that outlives event.sync_timeout_ms answers 504 with what is known ($ms ms)"

# While a synchronous trigger waits, the loop thread keeps serving others:
# health checks sent once it waits are all answered before its 504 (had
# they queued behind it, the waiter would be gone when they return).
curl -s -o "$TMP/wait.json" -H 'Content-Type: application/json' -d '{"name":"slow.two"}' \
	"http://127.0.0.1:$PORT/api/events/trigger?wait=true" &
waiter=$!
waiting() { curl -s "http://127.0.0.1:$MPORT/metrics" | grep -qx 'eventsys_http_waiters 1'; }
wait_until "the synchronous trigger waits" 10 waiting
t0=$(date +%s%N)
for i in 1 2 3 4 5; do request GET /health; expect_status 200; done
ms=$((($(date +%s%N) - t0) / 1000000))
kill -0 "$waiter" 2>/dev/null || fail "the synchronous trigger was answered before 5 health checks ($ms ms): they waited for it"
wait $waiter
jq -e '.status == "timeout"' "$TMP/wait.json" >/dev/null || fail "the waiting trigger's answer: $(cat "$TMP/wait.json")"
pass "a waiting synchronous trigger does not hold up other requests (5 health checks in $ms ms, all while it waited)"

# ---- test endpoint ----
request POST /api/events/test
expect_status 200
echo "$BODY" | jq -e '.name == "system.test" and .status == "ok" and (.matched|index("example")) != null
	and .outcomes.example.status == "ok"' >/dev/null || fail "test body: $BODY"
id=$(echo "$BODY" | jq -r .id)
wait_until "example logged the test event" 5 log_has "\[example\] received system.test (id $id"
expect_log "test event requested"
pass "POST /api/events/test sends system.test through the pipeline and reports each outcome"

# ---- batch ----
request POST /api/events/batch '[{"name":"b.one"},{"nmae":"typo"},{"name":"b.three","id":"b-3"}]'
expect_status 207
echo "$BODY" | jq -e '.accepted == 2 and .rejected == 1 and .results[0].status == 202 and .results[1].status == 400
	and (.results[1].message|contains("unknown field")) and .results[2].id == "b-3"' >/dev/null || fail "batch: $BODY"
request POST /api/events/batch '[{"name":"b.four"},{"name":"b.five"}]'
expect_status 202
request POST /api/events/batch '{"name":"not.an.array"}'
expect_status 400
expect_body 'must be a JSON array'
wait_until "batch events delivered" 5 lines_at_least "$TMP/recorder.txt" "recorder b\." 4
pass "a batch answers per event: one bad event does not hide the others' outcome"

# ---- status endpoints ----
request GET /ready
expect_status 200
expect_body '"status":"ready"'
request GET /api/plugins
expect_status 200
echo "$BODY" | jq -e '[.plugins[].name] | sort == ["example","failing","recorder","slow"]' >/dev/null || fail "plugins: $BODY"
echo "$BODY" | jq -e '.plugins[] | select(.name=="recorder") | .abi == "1.1" and .queue_capacity == 1000
	and .workers == 4 and (.file|endswith("recorder.so")) and .counters.ok >= 1' >/dev/null || fail "recorder: $BODY"
pass "GET /ready and GET /api/plugins report state, queues and counters"

# ---- access log ----
wait_until "access log line" 5 log_has '\[access\] POST /api/events/trigger 202 [0-9]* bytes [0-9.]* ms client=127.0.0.1:[0-9]* token=-'
wait_until "access log line" 5 log_has '\[access\] GET /nope 404 '
pass "each request writes one access log line (method, path, status, bytes, latency, client, token)"

stop_daemon TERM

# ---- slow clients and header floods ----
write_config <<'YAML'
server: {port: @PORT@, threads: 1, request_timeout_ms: 500}
logging: {format: text}
plugins: {directory: @PLUGDIR@, load_unconfigured: false}
YAML
start_daemon
# A client that sends half a request and stalls is cut off...
# (the clock starts before the connection: the server's timeout cannot start
# earlier, so a slow fork of `date` on a loaded machine cannot shorten it)
t0=$(date +%s%N)
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /api/events/trigger HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"na' >&3
# ...while the only HTTP thread keeps serving others.
request GET /health
expect_status 200
closed=no
for _ in $(seq 1 60); do # 60 x 50 ms: 3 s at most
	rc=0
	timeout 0.05 cat <&3 >/dev/null 2>&1 || rc=$?
	# 124: still open after 50 ms; anything else: the server closed it
	if [ $rc -ne 124 ]; then closed=yes; break; fi
done
ms=$((($(date +%s%N) - t0) / 1000000))
exec 3>&-
[ $closed = yes ] || fail "a stalled client was not cut off within 3 s (request_timeout_ms 500)"
[ $ms -ge 400 ] || fail "the stalled client was cut off after only $ms ms"
pass "a stalled client is cut off after server.request_timeout_ms ($ms ms) and holds nothing meanwhile"

flood=$(head -c 20000 /dev/zero | tr '\0' 'a')
st=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Flood: $flood" "http://127.0.0.1:$PORT/health")
case "$st" in 4*|000) ;; *) fail "a 20 kB header got $st" ;; esac
request GET /health
expect_status 200
pass "a header flood (20 kB) is refused ($st) and the server carries on"
# Codings libevent does not implement are refused, in JSON like every error,
# right after the head: the body's bytes may meet a closed connection
trap '' PIPE
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /api/events/trigger HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n10\r\n{"name":"te.gz"}\r\n0\r\n\r\n' >&3 || true
reply=$(timeout 5 cat <&3 || true)
exec 3>&-
case "$reply" in
"HTTP/1.1 501"*'"error":"not_implemented"'*"Transfer-Encoding 'gzip, chunked' is not supported"*) ;;
*) fail "Transfer-Encoding: gzip, chunked got: $reply" ;;
esac
# A key given twice is refused: a plugin (or the database) would otherwise see
# one value while a log or a proxy upstream saw the other
request POST /api/events/trigger '{"name":"dup.a","name":"dup.b"}'
expect_status 400
expect_body 'field \"name\" appears more than once'
request POST /api/events/trigger '{"name":"dup.a","attributes":{"k":"1","k":"2"}}'
expect_status 400
expect_body 'attribute \"k\" appears more than once'
pass "a field or attribute given twice is 400 naming it"
request TRACE /health
expect_status 405
echo "$BODY" | jq -e '.error == "method_not_allowed"' >/dev/null || fail "TRACE: $BODY"
pass "Transfer-Encoding: gzip, chunked is 501 in JSON; TRACE is a JSON 405, not libevent's HTML page"
stop_daemon TERM
