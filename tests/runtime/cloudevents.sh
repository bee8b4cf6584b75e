#!/bin/bash
# CloudEvents 1.0 in its three HTTP modes on the trigger endpoint:
# structured, binary and batch; type becomes the event name.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin log
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    log: {config: {path: @TMP@/events.log}}
YAML
start_daemon

request POST /api/events/trigger '{"specversion":"1.0","id":"ce-1","source":"/shop","type":"order.created",
	"time":"2024-05-01T10:00:00Z","subject":"order-7","datacontenttype":"application/json","tenant":"acme",
	"data":{"total":3}}' application/cloudevents+json
expect_status 202
expect_body '{"id":"ce-1","name":"order.created","matched":["log"]}'
wait_until "structured event logged" 5 lines_at_least "$TMP/events.log" '"id":"ce-1"' 1
line=$(grep '"id":"ce-1"' "$TMP/events.log")
echo "$line" | jq -e '.source == "/shop" and .time == "2024-05-01T10:00:00.000000Z" and .data.total == 3
	and .attributes.subject == "order-7" and .attributes.tenant == "acme"' >/dev/null || fail "structured: $line"
pass "structured mode: type is the name; id, source, time, data and extensions are kept"

curl -s -o "$TMP/body" -w '%{http_code}' -H 'ce-specversion: 1.0' -H 'ce-id: ce-2' -H 'ce-source: /billing' \
	-H 'ce-type: invoice.paid' -H 'ce-region: eu%2Dwest' -H 'Content-Type: application/json' \
	-d '{"amount":10}' "http://127.0.0.1:$PORT/api/events/trigger" > "$TMP/status"
[ "$(cat "$TMP/status")" = 202 ] || fail "binary JSON: $(cat "$TMP/status") $(cat "$TMP/body")"
curl -s -o /dev/null -H 'ce-specversion: 1.0' -H 'ce-id: ce-3' -H 'ce-source: /b' -H 'ce-type: note.added' \
	-H 'Content-Type: text/plain' -d 'hello there' "http://127.0.0.1:$PORT/api/events/trigger"
wait_until "binary events logged" 5 lines_at_least "$TMP/events.log" '"id":"ce-3"' 1
grep '"id":"ce-2"' "$TMP/events.log" | jq -e '.data.amount == 10 and .attributes.region == "eu-west"' >/dev/null ||
	fail "binary JSON: $(grep '"id":"ce-2"' "$TMP/events.log")"
grep '"id":"ce-3"' "$TMP/events.log" | jq -e '.data == "hello there" and .attributes.datacontenttype == "text/plain"' \
	>/dev/null || fail "binary text: $(grep '"id":"ce-3"' "$TMP/events.log")"
pass "binary mode: ce-* headers (percent-decoded) are the attributes, the body is the data"

request POST /api/events/trigger '[{"specversion":"1.0","id":"b-1","source":"s","type":"x.one"},
	{"specversion":"1.0","id":"b-2","source":"s"},
	{"specversion":"1.0","id":"b-3","source":"s","type":"x.three","data_base64":"AAEC"}]' \
	application/cloudevents-batch+json
expect_status 207
echo "$BODY" | jq -e '.accepted == 2 and .results[1].status == 400 and (.results[1].message|contains("type"))' \
	>/dev/null || fail "batch: $BODY"
wait_until "batch logged" 5 lines_at_least "$TMP/events.log" '"id":"b-3"' 1
grep '"id":"b-3"' "$TMP/events.log" | jq -e '.data == "AAEC" and .attributes.dataencoding == "base64"' >/dev/null ||
	fail "data_base64: $(grep '"id":"b-3"' "$TMP/events.log")"
pass "batch mode: each CloudEvent is answered on its own; data_base64 is kept as base64"

request POST /api/events/trigger '{"specversion":"0.3","id":"x","source":"s","type":"t"}' application/cloudevents+json
expect_status 400
expect_body "unsupported CloudEvents specversion '0.3'"
request POST /api/events/trigger '{"specversion":"1.0","source":"s","type":"t"}' application/cloudevents+json
expect_status 400
expect_body 'missing CloudEvents attribute id'
request POST /api/events/trigger '{"specversion":"1.0","id":"x","source":"s","type":"t","data":1,"data_base64":"AA=="}' \
	application/cloudevents+json
expect_status 400
expect_body 'data or data_base64, not both'
request POST /api/events/trigger '{"specversion":"1.0","id":"x","source":"s","type":"t","Bad-Name":"v"}' \
	application/cloudevents+json
expect_status 400
expect_body "attribute name 'Bad-Name' is invalid"
status=$(curl -s -o "$TMP/body" -w '%{http_code}' -H 'ce-specversion: 1.0' -H 'ce-id: y' -H 'ce-type: t' \
	-H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$PORT/api/events/trigger")
[ "$status" = 400 ] && grep -q 'missing CloudEvents attribute source' "$TMP/body" || fail "binary without source: $status"
pass "invalid CloudEvents are 400 naming the attribute"

stop_daemon TERM
