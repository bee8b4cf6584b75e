#!/bin/bash
# The webhook plugin end to end against a real HTTP server on loopback:
# CloudEvents structured JSON, an HMAC-SHA256 signature anyone can verify,
# retry on 5xx and connection errors, dead letter on 4xx, a per-request timeout.
set -eu
. "$(dirname "$0")/lib.sh"
[ -f "$ES_BUNDLED_PLUGINS/webhook/.libs/webhook.so" ] || { echo "webhook plugin not built: skipped"; exit 77; }
SINK="$ES_TOP_BUILDDIR/tests/helpers/http_sink"
SINK_PID=
stop_sink() { if [ -n "$SINK_PID" ]; then kill "$SINK_PID" 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; SINK_PID=; fi; }
trap 'stop_sink; cleanup' EXIT
start_sink() { # STATUS...
	stop_sink
	rm -f "$TMP/sink.port" "$TMP/requests.jsonl"
	"$SINK" "$TMP/requests.jsonl" "$TMP/sink.port" "$@" &
	SINK_PID=$!
	wait_until "the sink is listening" 5 test -s "$TMP/sink.port"
	SINK_PORT=$(cat "$TMP/sink.port")
}
requests() { lines_in "$TMP/requests.jsonl" '"method"'; }
requests_at_least() { [ "$(requests)" -ge "$1" ]; }

export ES_TEST_WEBHOOK_SECRET=s3cr3t-signing-key
stage_plugin webhook
start_sink 200
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  defaults: {backoff_initial_ms: 20, backoff_max_ms: 50}
  settings:
    webhook:
      subscribe: ["order.*"]
      max_attempts: 3
      config: {url: "http://127.0.0.1:@SINKPORT@/hook", secret_env: ES_TEST_WEBHOOK_SECRET, timeout_ms: 500}
YAML
sed -i "s/@SINKPORT@/$SINK_PORT/" "$CONFIG.in"
start_daemon
expect_log "posting events to http://127.0.0.1:$SINK_PORT/hook (signed, structured mode, timeout 500 ms)"

request POST /api/events/trigger '{"name":"order.created","id":"wh-1","source":"shop","data":{"total":9.5}}'
expect_status 202
wait_until "the webhook was called" 5 requests_at_least 1
req=$(head -1 "$TMP/requests.jsonl")
echo "$req" | jq -e '.path == "/hook" and .headers["content-type"] == "application/cloudevents+json"
	and .headers["x-event-id"] == "wh-1"' >/dev/null || fail "request: $req"
body=$(echo "$req" | jq -r .body)
echo "$body" | jq -e '.specversion == "1.0" and .id == "wh-1" and .type == "order.created" and .source == "shop"
	and .data.total == 9.5 and (has("time")|not)' >/dev/null || fail "CloudEvent body: $body"
pass "each event is POSTed as a CloudEvents structured document"

sig=$(echo "$req" | jq -r '.headers["x-event-signature"]')
expected="sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$ES_TEST_WEBHOOK_SECRET" | sed 's/^.*= //')"
[ "$sig" = "$expected" ] || fail "signature $sig, expected $expected"
log_has "$ES_TEST_WEBHOOK_SECRET" && fail "the secret appeared in the log"
pass "X-Event-Signature is the HMAC-SHA256 of the body with the configured secret"

start_sink 503 200
sed -i "s/127.0.0.1:[0-9]*\/hook/127.0.0.1:$SINK_PORT\/hook/" "$CONFIG.in"
stop_daemon TERM
start_daemon
request POST /api/events/trigger '{"name":"order.paid","id":"wh-2"}'
wait_until "retried after 503" 5 requests_at_least 2
wait_until "counted ok" 5 counter_at_least webhook ok 1
[ "$(plugin_counter webhook retried)" = 1 ] || fail "retried counter"
pass "a 5xx answer is retried, and the retry succeeds"

start_sink 400
sed -i "s/127.0.0.1:[0-9]*\/hook/127.0.0.1:$SINK_PORT\/hook/" "$CONFIG.in"
stop_daemon TERM
start_daemon
request POST /api/events/trigger '{"name":"order.bad","id":"wh-3"}'
wait_until "4xx dead-lettered" 5 log_has "event wh-3 (order.bad) dead-lettered after 1 attempt: POST .*: HTTP 400"
[ "$(requests)" = 1 ] || fail "a 4xx was retried"
pass "a 4xx answer is a permanent failure: dead-lettered with the status"

start_sink 200@3000
sed -i "s/127.0.0.1:[0-9]*\/hook/127.0.0.1:$SINK_PORT\/hook/" "$CONFIG.in"
stop_daemon TERM
start_daemon
request POST /api/events/trigger '{"name":"order.slow","id":"wh-4"}'
wait_until "timeouts dead-lettered" 10 log_has "event wh-4 (order.slow) dead-lettered after 3 attempts: POST .*Timeout"
pass "a slow endpoint hits the per-request timeout and is retried, then dead-lettered"

port=$SINK_PORT
stop_sink
request POST /api/events/trigger '{"name":"order.nobody","id":"wh-5"}'
wait_until "connection refused dead-lettered" 10 log_has "event wh-5 (order.nobody) dead-lettered after 3 attempts: POST http://127.0.0.1:$port/hook: Couldn't connect"
pass "connection errors are retried, then dead-lettered"
stop_daemon TERM
