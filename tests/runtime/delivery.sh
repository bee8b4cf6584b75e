#!/bin/bash
# Events reach the plugins whose subscriptions match, and only those: the
# real daemon, the bundled log and example plugins and a recorder, over HTTP.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
stage_plugin log
stage_plugin example
write_config <<'YAML'
server: {port: @PORT@, threads: 2}
logging: {level: info, format: json}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder:
      subscribe: ["order.*", "**.audit"]
      config: {record: @TMP@/recorder.txt}
    log:
      config: {path: @TMP@/events.log}
    example:
      subscribe: ["example.**"]
YAML
start_daemon

trigger order.created '{"total": 12.5, "items": ["a", "b"]}'
expect_status 202
expect_body '"name":"order.created"'
expect_body '"matched":["log","recorder"]'
id=$(echo "$BODY" | jq -r .id)
[ ${#id} = 36 ] || fail "no generated event id in $BODY"
wait_until "recorder got order.created" 5 lines_at_least "$TMP/recorder.txt" "recorder order.created $id 1 ok" 1
wait_until "log plugin wrote the event" 5 lines_at_least "$TMP/events.log" "\"id\":\"$id\"" 1
line=$(grep "\"id\":\"$id\"" "$TMP/events.log")
[ "$(echo "$line" | jq -c .data)" = '{"total":12.5,"items":["a","b"]}' ] || fail "log line data: $line"
pass "a matching event reaches every subscribed plugin with its data"

request POST /api/events/trigger '{"name":"billing.invoice.audit","id":"inv-42","source":"billing","attributes":{"tenant":"acme"}}'
expect_status 202
expect_body '"id":"inv-42"'
wait_until "recorder got the ** match" 5 lines_at_least "$TMP/recorder.txt" "billing.invoice.audit inv-42" 1
wait_until "log wrote the attributes" 5 lines_at_least "$TMP/events.log" '"attributes":{"tenant":"acme"}' 1
pass "caller-supplied id, source and attributes are kept; ** patterns match"

trigger order.created.v2
expect_status 202
expect_body '"matched":["log"]'
trigger example.hello '{"x":1}'
expect_body '"matched":["example","log"]'
wait_until "example plugin logged" 5 log_has '"component":"example","msg":"received example.hello'
[ "$(lines_in "$TMP/recorder.txt" "order.created.v2")" = 0 ] || fail "order.* matched order.created.v2"
pass "non-matching plugins do not receive the event"

# Every plugin instance counts what it received.
wait_until "recorder counted 2 ok" 5 counter_at_least recorder ok 2
[ "$(plugin_counter recorder received)" = 2 ] || fail "recorder received != 2"
[ "$(plugin_counter log received)" = 4 ] || fail "log received != 4"
curl -s "http://127.0.0.1:$PORT/api/plugins" | jq -e '.plugins[] | select(.name=="example") | .plugin_counters.seen == 1' >/dev/null ||
	fail "example's own counter not reported"
pass "GET /api/plugins reports each plugin's counters"

request GET /health
expect_status 200
echo "$BODY" | jq -e '.status == "ok" and (.timestamp|type) == "string" and .components.event_manager == "ok"
	and (.components|has("database")) and (.components|has("metrics"))' >/dev/null || fail "health: $BODY"
pass "GET /health has the documented shape"

# logrotate: move the file away, SIGHUP, the plugin writes a new one.
mv "$TMP/events.log" "$TMP/events.log.1"
kill -HUP "$DAEMON_PID"
wait_until "log plugin reopened" 5 log_has "reopened $TMP/events.log"
trigger order.paid
wait_until "new log file written" 5 lines_at_least "$TMP/events.log" order.paid 1
[ "$(lines_in "$TMP/events.log.1" order.paid)" = 0 ] || fail "event went to the rotated file"
pass "SIGHUP makes the log plugin reopen its file (logrotate)"

grep -v '^{' "$LOG" | grep -q . && fail "a non-JSON log line with logging.format json: $(grep -v '^{' "$LOG" | head -1)"
jq -e 'has("time") and has("level") and has("component") and has("msg")' "$LOG" >/dev/null || fail "JSON log lines lack fields"
pass "log lines are JSON with time, level, component and msg"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
