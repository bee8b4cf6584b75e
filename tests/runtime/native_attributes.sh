#!/bin/bash
# Native-event attributes follow the CloudEvents attribute-name rules: a-z
# and 0-9, 1 to 64 characters; dataencoding (the daemon's base64 marker) and
# the names of an event's own fields are refused, each with a 400 naming
# the rule, and nothing is delivered.  Before, any name was taken, so a
# client could forge "dataencoding":"base64" on its data.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin log
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, access_log: false}
plugins:
  directory: @PLUGDIR@
  settings:
    log: {config: {path: @TMP@/events.log}}
YAML
start_daemon

LONG=$(printf 'a%.0s' $(seq 1 65))
refused() { # NAME EXPECTED-MESSAGE-PART
	local body
	body=$(jq -cn --arg k "$1" '{name: "attr.bad", attributes: {($k): "base64"}}')
	request POST /api/events/trigger "$body"
	[ "$STATUS" = 400 ] || fail "attribute name '$1': expected 400, got $STATUS $BODY"
	echo "$BODY" | jq -e --arg m "$2" '.error == "bad_request" and (.message | contains($m))' >/dev/null ||
		fail "attribute name '$1': the message does not say '$2': $BODY"
}
refused dataencoding "is reserved: this server sets it to base64"
refused "" "is empty"
refused "a b" "has a character other than a-z and 0-9 at position 2"
refused Tenant "has a character other than a-z and 0-9 at position 1"
refused "$LONG" "is 65 characters long (at most 64)"
for field in id type specversion source time data; do
	refused "$field" "is reserved: it is an event field"
done
pass "dataencoding, empty, spaced, uppercase, 65-character and field names are refused with the rule they break"

request POST /api/events/batch '[{"name":"attr.batch","attributes":{"dataencoding":"base64"}}]'
expect_status 207
echo "$BODY" | jq -e '.accepted == 0 and .results[0].status == 400 and (.results[0].message | contains("is reserved"))' \
	>/dev/null || fail "batch: $BODY"
pass "the same rules hold for batch items"

request POST /api/events/trigger "{\"name\":\"attr.good\",\"id\":\"good\",\"attributes\":{\"tenant\":\"acme\",\"${LONG:1}\":\"x\"}}"
expect_status 202
wait_until "the good event logged" 5 lines_at_least "$TMP/events.log" '"id":"good"' 1
grep -q 'attr.bad\|attr.batch' "$TMP/events.log" && fail "a refused event was delivered: $(cat "$TMP/events.log")"
pass "valid names (64 characters too) are delivered; no refused event reached the plugin"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
