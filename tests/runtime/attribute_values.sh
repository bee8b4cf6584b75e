#!/bin/bash
# Attribute values are held to one rule on every way in, and binary-mode
# headers are read as HTTP field values:
#  - subject, dataschema and datacontenttype must not be empty in a plain
#    trigger and in emit_event() too (only CloudEvents modes refused them);
#  - whitespace (SP and HTAB) around a ce-* header or the Content-Type is
#    not part of the value (a leading tab was kept, and "\tapplication/json"
#    made JSON data bytes of an unknown type);
#  - binary mode without a Content-Type takes the body as JSON (it became
#    bytes with no content type, which plugins read as JSON).
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin sdk11
stage_plugin misuse
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, level: info}
plugins:
  directory: @PLUGDIR@
  settings:
    sdk11: {subscribe: ["sdk.**"], config: {record: @TMP@/record.jsonl}}
    misuse: {config: {record: @TMP@/misuse.txt}}
YAML
start_daemon

for attr in subject dataschema datacontenttype; do
	request POST /api/events/trigger "{\"name\":\"sdk.plain\",\"attributes\":{\"$attr\":\"\"}}"
	expect_status 400
	expect_body "attribute \\\"$attr\\\" must not be empty"
done
request POST /api/events/batch '[{"name":"sdk.plain","attributes":{"subject":""}}]'
echo "$BODY" | jq -e '.results[0].status == 400' >/dev/null || fail "batch: $BODY"
pass "a plain trigger (and a batch item) with an empty subject, dataschema or datacontenttype: 400"

request POST /api/events/trigger '{"name":"misuse.empty_attrs"}'
expect_status 202
wait_until "the emits were tried" 5 lines_at_least "$TMP/misuse.txt" 'empty_attrs' 3
for attr in subject dataschema datacontenttype; do
	grep -q "^misuse.empty_attrs $attr 3$" "$TMP/misuse.txt" || fail "emit_event with an empty $attr: $(cat "$TMP/misuse.txt")"
	expect_log "attribute '$attr' must not be empty"
done
pass "emit_event() with an empty subject, dataschema or datacontenttype: ES_STATUS_INVALID, logged"

binary() { # ID CURL-ARGS...
	local id=$1
	shift
	STATUS=$(curl -s -o "$TMP/body" -w '%{http_code}' -H 'ce-specversion: 1.0' -H "ce-id: $id" -H 'ce-source: /b' \
		-H 'ce-type: sdk.binary' "$@" "http://127.0.0.1:$PORT/api/events/trigger")
	BODY=$(cat "$TMP/body")
}
line() { grep "\"id\":\"$1\"" "$TMP/record.jsonl"; }

binary ws-1 -H $'ce-subject:\tleading tab' -H $'ce-tenant: \t trailing too \t' -H $'Content-Type:\tapplication/json\t' \
	--data-binary '{"a":1}'
expect_status 202
wait_until "ws-1 handled" 5 line ws-1
line ws-1 | jq -e '.attributes == [["subject","leading tab"],["tenant","trailing too"],["datacontenttype","application/json"]]
	and .content_type == "application/json" and .bytes_hex == null' >/dev/null || fail "ws-1: $(line ws-1)"
pass "SP and HTAB around ce-* and Content-Type values are trimmed; a tab-led JSON type is JSON"

binary nct-1 -H 'Content-Type:' --data-binary '{"a":[1,2]}'
expect_status 202
wait_until "nct-1 handled" 5 line nct-1
line nct-1 | jq -e '.content_type == null and .has_data == 1 and .bytes_hex == null
	and (.event_json | contains("\"data\":{\"a\":[1,2]}"))' >/dev/null || fail "nct-1: $(line nct-1)"
binary nct-2 -H 'Content-Type:' --data-binary 'not json'
expect_status 400
expect_body "taken as JSON (no Content-Type)"
pass "binary mode without a Content-Type: the body is JSON (data as JSON, no content type); not JSON is a 400"
