#!/bin/bash
# A careless in-process plugin cannot hurt the daemon or the answers through
# the host API (tests/plugins/misuse.c):
#  - counter_add()/gauge_set() with a NULL name once the plugin has a metric
#    is refused, logged once and counted (it was strcmp() on NULL: SIGSEGV);
#  - a failure reason filling err[] without a NUL is cut at err_size - 1
#    (the host read past its stack buffer: an ASan report);
#  - a failure reason that is not UTF-8 reaches the ?wait=true answer, the
#    log and the dead letter as valid UTF-8 (invalid bytes as '?');
#  - gauges and counters in /api/plugins are exact integers (a double lost
#    the low bits of 2^53 + 1).
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin misuse
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: json, level: info}
plugins:
  directory: @PLUGDIR@
  settings:
    misuse: {workers: 1, max_attempts: 1, config: {record: @TMP@/record.txt}}
YAML
start_daemon

# answer_is_utf8_json: the last answer's body is valid UTF-8 and JSON
answer_is_utf8_json() {
	python3 -c 'import json,sys; json.loads(open(sys.argv[1],"rb").read().decode("utf-8"))' "$TMP/body"
}

request POST '/api/events/trigger?wait=true' '{"name":"misuse.null_metric"}'
expect_status 200
echo "$BODY" | jq -e '.outcomes.misuse.status == "ok"' >/dev/null || fail "null_metric: $BODY"
daemon_exited && fail "the daemon died on counter_add(NULL)"
request POST '/api/events/trigger?wait=true' '{"name":"misuse.null_metric"}'
expect_status 200
[ "$(grep -c "metric '(null)' refused: the name is NULL" "$LOG")" = 1 ] || fail "the NULL name not logged exactly once"
curl -s "http://127.0.0.1:$MPORT/metrics" | grep -q '^eventsys_plugin_metric_refused_total{plugin="misuse"} 4$' ||
	fail "the four refusals not counted: $(curl -s "http://127.0.0.1:$MPORT/metrics" | grep metric_refused)"
[ "$(plugin_counter misuse plugin_counters | jq -r .handled)" = 2 ] || fail "the valid counter did not count"
pass "counter_add/gauge_set with a NULL name: refused, logged once, counted; the daemon lives"

request POST '/api/events/trigger?wait=true' '{"name":"misuse.unterminated"}'
expect_status 200
answer_is_utf8_json || fail "the answer is not UTF-8 JSON: $BODY"
reason=$(echo "$BODY" | jq -r '.outcomes.misuse.error')
[ "$reason" = "$(printf 'x%.0s' $(seq 255))" ] || fail "the reason is not the plugin's 255 bytes: $reason"
pass "a reason without its NUL is cut at err_size - 1 (255 bytes), nothing read past it"

request POST '/api/events/trigger?wait=true' '{"name":"misuse.bad_utf8"}'
expect_status 200
answer_is_utf8_json || fail "the answer is not UTF-8 JSON: $(od -c "$TMP/body" | head)"
echo "$BODY" | jq -e '.outcomes.misuse.error == "bad ? byte and a cut ?"' >/dev/null || fail "reason: $BODY"
wait_until "the dead letter logged" 5 log_has 'misuse.bad_utf8'
python3 -c 'import sys; open(sys.argv[1],"rb").read().decode("utf-8")' "$LOG" || fail "the log is not UTF-8"
expect_log 'bad ? byte and a cut ?'
pass "a reason that is not UTF-8: the answer and the log carry it as valid UTF-8"

request POST '/api/events/trigger?wait=true' '{"name":"misuse.gauge"}'
expect_status 200
curl -s "http://127.0.0.1:$PORT/api/plugins" > "$TMP/plugins.json"
grep -q '"big":9007199254740993' "$TMP/plugins.json" || fail "gauge big not exact: $(cat "$TMP/plugins.json")"
grep -q '"low":-9223372036854775808' "$TMP/plugins.json" || fail "gauge low not exact: $(cat "$TMP/plugins.json")"
pass "/api/plugins shows int64 gauges exactly"

stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
