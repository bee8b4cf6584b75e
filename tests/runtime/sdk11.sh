#!/bin/bash
# Every function plugin ABI 1.1 added, through a test plugin (tests/plugins/
# sdk11.c) that writes what each returned: event attributes in order with
# their types (a JSON 3 or false stays an Integer or Boolean), the
# content type, non-JSON data as bytes, the time as written, the deadline,
# the redelivered flag, exact numbers in event_json, emit_event with source,
# attributes and the parent link, the config readers (doubles, map keys,
# lists of maps, secrets, null as absent), plugin metrics in /metrics
# (promtool-clean, bad names refused and reported once), log escaping and
# log_enabled.
set -eu
. "$(dirname "$0")/lib.sh"

export ES_TEST_SDK_SECRET=env-secret-value-1234
printf 'file-secret-value\n' > "$TMP/secret.txt"
unset ES_TEST_SDK_UNSET || true
stage_plugin sdk11
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, level: info}
plugins:
  directory: @PLUGDIR@
  settings:
    sdk11:
      timeout_ms: 3000
      config:
        record: @TMP@/record.jsonl
        ratio: 0.25
        count: 3
        word: abc
        headers: {x-first: "1", x-second: "2", x-third: "3"}
        targets: [{url: "http://a.example", weight: 1}, {url: "http://b.example", weight: 7}]
        nothing: null
        tilde: ~
        quoted_null: "null"
        from_env: {env: ES_TEST_SDK_SECRET}
        from_file: {file: @TMP@/secret.txt}
        from_unset: {env: ES_TEST_SDK_UNSET}
YAML
start_daemon
init=$(head -1 "$TMP/record.jsonl")
echo "$init" | jq -e '.abi_minor == 1 and .has_1_1 == 1' >/dev/null || fail "init: $init"
echo "$init" | jq -e '.ratio_status == 0 and .ratio_x1000 == 250 and .int_as_double_status == 0 and .int_as_double == 3
	and .word_as_double_status == 2' >/dev/null || fail "config_double: $init"
echo "$init" | jq -e '.headers_status == 0 and .header_keys == ["x-first","x-second","x-third"] and .key_past_end_status == 1' \
	>/dev/null || fail "config_map_size/config_map_key: $init"
echo "$init" | jq -e '.target1_status == 0 and .target1_url == "http://b.example" and .target1_weight == 7
	and .target9_status == 1' >/dev/null || fail "a list of maps: $init"
echo "$init" | jq -e '.null_status == 1 and .null_value == "untouched" and .tilde_status == 1
	and .quoted_null_status == 0 and .quoted_null == "null"' >/dev/null || fail "null as absent: $init"
pass "config: doubles, map keys in order, lists of maps by index, null and ~ absent (\"null\" quoted is a string)"
echo "$init" | jq -e '.secret_env_status == 0 and .secret_env_len == 21 and .secret_file_status == 0
	and .secret_file_len == 17 and .secret_unset_status == 3 and .secret_small_status == 3
	and .secret_absent_status == 1 and .secret_shape_status == 2' >/dev/null || fail "config_secret: $init"
expect_log "config.from_unset: environment variable ES_TEST_SDK_UNSET is not set or empty"
expect_log "config.from_env: the secret in ES_TEST_SDK_SECRET is longer than the 3 bytes the plugin takes"
! log_has "env-secret-value" && ! log_has "file-secret-value" || fail "a secret reached the log"
pass "config_secret: from an environment variable or a file (newline removed); unset, too long, absent, wrong shape; never logged"
echo "$init" | jq -e '.log_debug == 0 and .log_error == 1' >/dev/null || fail "log_enabled: $init"
expect_log 'a line with\\x0aa newline and \\x1b\[31mescape\\x1b\[0m'
[ "$(grep -c 'a newline' "$LOG")" = 1 ] || fail "the plugin's line was split"
pass "log_enabled follows the level; log() escapes newlines and control bytes"

ce=application/cloudevents+json
request POST /api/events/trigger '{"specversion":"1.0","id":"ce-1","source":"/src","type":"sdk.text",
	"time":"2024-05-01T12:00:00.5+02:00","subject":"s-1","datacontenttype":"text/plain","tenant":"acme",
	"count":3,"flag":false,"data":"hi\nthere"}' $ce
expect_status 202
printf '\0\1\376\377' > "$TMP/bytes.bin"
curl -s -o /dev/null -H 'ce-specversion: 1.0' -H 'ce-id: ce-2' -H 'ce-source: /b' -H 'ce-type: sdk.binary' -H 'ce-count: 3' \
	-H 'Content-Type: application/octet-stream' --data-binary "@$TMP/bytes.bin" "http://127.0.0.1:$PORT/api/events/trigger"
request POST /api/events/trigger '{"name":"sdk.plain","id":"p-1","data":{"big":9007199254740993,"x":[1.0e400]}}'
request POST /api/events/trigger '{"specversion":"1.0","id":"ce-3","source":"/e","type":"sdk.nodata"}' $ce
wait_until "four events handled" 5 lines_at_least "$TMP/record.jsonl" '"id"' 4
line() { grep "\"id\":\"$1\"" "$TMP/record.jsonl"; }
line ce-1 | jq -e '.attributes == [["subject","s-1"],["datacontenttype","text/plain"],["tenant","acme"],["count","3"],["flag","false"]]
	and .attribute_types == [0,0,0,1,2] and .attribute_type_past_end == 1 and .attribute_type_past_end_value == 99
	and (.event_json | contains("\"tenant\":\"acme\",\"count\":3,\"flag\":false"))
	and .attribute_past_end == 1 and .content_type == "text/plain" and .has_data == 1
	and .bytes_hex == "68690a7468657265" and .bytes_len == 8 and .time_text == "2024-05-01T12:00:00.5+02:00"
	and .redelivered == 0 and .attempt == 1 and .deadline_left_ms > 0 and .deadline_left_ms <= 3000' >/dev/null ||
	fail "text CloudEvent: $(line ce-1)"
line ce-2 | jq -e '.attributes == [["count","3"],["datacontenttype","application/octet-stream"],["dataencoding","base64"]]
	and .attribute_types == [0,0,0] and .content_type == "application/octet-stream" and .bytes_hex == "0001feff" and .bytes_len == 4
	and .time_text == null' >/dev/null || fail "binary CloudEvent: $(line ce-2)"
line p-1 | jq -e '.content_type == null and .has_data == 1 and .bytes_hex == null and .bytes_len == 0
	and .time_text == null and (.event_json | contains("{\"big\":9007199254740993,\"x\":[1.0e400]}"))' >/dev/null ||
	fail "plain event: $(line p-1)"
line ce-3 | jq -e '.has_data == 0 and .bytes_hex == null and .content_type == null' >/dev/null ||
	fail "no data: $(line ce-3)"
pass "event: attributes in order with their types (JSON 3 and false an Integer and a Boolean, a ce-* header a String), content type, data bytes (text, binary; none for JSON), time as written, deadline, attempt, exact numbers in event_json"

request POST /api/events/trigger '{"name":"sdk.emit","id":"parent-1"}'
expect_status 202
wait_until "the emitted child was handled" 5 grep -q '"source":"custom/source"' "$TMP/record.jsonl"
line parent-1 | jq -e '.emit_status == 0 and .emit_forged_parent_status == 3 and .emit_bad_name_status == 3
	and .emit_small_struct_status == 3 and .emit_control_source_status == 3
	and .emit_control_attribute_status == 3' >/dev/null ||
	fail "emit_event statuses: $(line parent-1)"
child=$(grep '"source":"custom/source"' "$TMP/record.jsonl")
echo "$child" | jq -e '.attributes == [["tenant","acme"],["trace","t-1"],["parentid","parent-1"]]
	and .id != "parent-1" and (.event_json | contains("\"data\":{\"from\":\"parent\"}"))' >/dev/null ||
	fail "the emitted child: $child"
expect_log "emit of 'sdk.child' refused: attribute 'parentid' is set by the host"
expect_log "emit of 'sdk.child' refused: attribute name 'Bad' has a character other than a-z and 0-9"
expect_log "emit of 'sdk.child' refused: source holds the control character U+000A at byte 7 of its text"
expect_log "emit of 'sdk.child' refused: attribute 'tenant' holds the control character U+001B at byte 4 of its text"
pass "emit_event: source and attributes kept, a new id, parentid links the child to the event handled; bad attributes and a source with a control character refused with the reason"

curl -s "http://127.0.0.1:$MPORT/metrics" > "$TMP/metrics.txt"
grep -q '^eventsys_plugin_custom_total{plugin="sdk11",name="handled"} 6$' "$TMP/metrics.txt" ||
	fail "handled counter: $(grep 'sdk11' "$TMP/metrics.txt" | grep counter_total | head -3)"
grep -q '^eventsys_plugin_custom_value{plugin="sdk11",name="last_size"} [0-9-]*$' "$TMP/metrics.txt" || fail "the gauge is missing"
[ "$(grep -c '^eventsys_plugin_custom_total{plugin="sdk11"' "$TMP/metrics.txt")" = 31 ] ||
	fail "expected 31 counters (32 names, one a gauge): $(grep -c '^eventsys_plugin_custom_total{plugin="sdk11"' "$TMP/metrics.txt")"
grep -q '^eventsys_plugin_metric_refused_total{plugin="sdk11"} 8$' "$TMP/metrics.txt" ||
	fail "refused names: $(grep metric_refused "$TMP/metrics.txt")"
[ "$(grep -c "metric .* refused" "$LOG")" = 1 ] || fail "a refused metric name was logged $(grep -c "metric .* refused" "$LOG") times"
expect_log "metric 'Bad-Name' refused: a name is 1-31 characters"
linted=" (promtool not installed: not linted)"
promtool_checked "$TMP/metrics.txt" && linted=" (promtool check metrics passes)"
pass "plugin counters and gauges in /metrics with a plugin label$linted; refused names counted, logged once"
stop_daemon TERM
