#!/bin/bash
# Hot reload with real .so files copied in and out of a real plugin
# directory: add, remove, replace (v1 -> v2), a broken replacement and a
# broken config that change nothing, live settings, and the reload report.
set -eu
. "$(dirname "$0")/lib.sh"

export ES_TEST_ADMIN_TOKEN=admin-token-0123456789abcdef
API_TOKEN=$ES_TEST_ADMIN_TOKEN
admin() { # METHOD PATH
	STATUS=$(curl -s -o "$TMP/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $ES_TEST_ADMIN_TOKEN" \
		"http://127.0.0.1:$PORT$2")
	BODY=$(cat "$TMP/body")
}
generation() { admin GET /api/admin/reload; echo "$BODY" | jq -r .generation; }
generation_is() { [ "$(generation)" = "$1" ]; }
trigger_token() { # NAME
	STATUS=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $ES_TEST_ADMIN_TOKEN" \
		-H 'Content-Type: application/json' -d "{\"name\":\"$1\"}" "http://127.0.0.1:$PORT/api/events/trigger")
	BODY=$(cat "$TMP/body")
}

stage_plugin recorder
stage_plugin versioned_v1 versioned
stage_plugin log
stage_plugin slow
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, level: info}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
    versioned: {config: {record: @TMP@/versioned.txt}}
    log: {config: {path: @TMP@/events.log}}
    flaky: {config: {record: @TMP@/flaky.txt, succeed_on_attempt: 1}, subscribe: ["**"]}
    slow: {workers: 1, subscribe: ["slow.*"], config: {delay_ms: 1000, record: @TMP@/slow.txt}}
auth:
  tokens:
    - {name: ops, role: admin, token_env: ES_TEST_ADMIN_TOKEN}
YAML
start_daemon
[ "$(generation)" = 1 ] || fail "generation at start: $(generation)"

# ---- add ----
stage_plugin flaky
kill -HUP "$DAEMON_PID"
wait_until "reload with flaky" 10 generation_is 2
wait_until "audit line" 5 log_has "\[audit\] reload by signal SIGHUP: ok, generation 2, .*plugins added: flaky"
trigger_token after.add
expect_status 202
expect_body '"flaky"'
wait_until "flaky got the next event" 5 lines_at_least "$TMP/flaky.txt" "flaky after.add" 1
pass "a plugin dropped into the directory receives the next event after SIGHUP"

# ---- replace v1 -> v2 (install renames: a new file, never an overwrite) ----
trigger_token before.replace
wait_until "v1 handled it" 5 lines_at_least "$TMP/versioned.txt" "before.replace .* v1" 1
install -m 0644 "$ES_TEST_PLUGINS/versioned_v2.so" "$PLUGDIR/versioned.so"
admin POST /api/admin/reload
[ "$STATUS" = 200 ] || fail "reload endpoint: $STATUS $BODY"
echo "$BODY" | jq -e '.generation == 3 and .last.result == "ok" and .last.by == "api token ops"
	and (.last.changes|contains("plugins replaced: versioned"))' >/dev/null || fail "report: $BODY"
trigger_token after.replace
wait_until "v2 handled it" 5 lines_at_least "$TMP/versioned.txt" "after.replace .* v2" 1
[ "$(lines_in "$TMP/versioned.txt" "after.replace .* v1")" = 0 ] || fail "v1 still received events"
wait_until "v1 retired" 5 log_has "plugin 'versioned' (.*versioned.so) retired"
pass "a replaced plugin (v1 -> v2) takes over at the switch; the old instance drains and is unloaded"

# ---- broken replacement: v2 keeps serving ----
install -m 0644 "$ES_TEST_PLUGINS/wrong_abi.so" "$PLUGDIR/versioned.so"
admin POST /api/admin/reload
[ "$STATUS" = 422 ] || fail "a broken replacement reloaded with $STATUS: $BODY"
echo "$BODY" | jq -e '.generation == 3 and .last.result == "failed"
	and (.last.error|contains("versioned.so: plugin refused: plugin was built for ABI 2.0"))' >/dev/null ||
	fail "report: $BODY"
expect_log "\[audit\] reload by api token ops: failed .* generation 3 kept: .*versioned.so: plugin refused"
trigger_token after.broken
wait_until "v2 still serving" 5 lines_at_least "$TMP/versioned.txt" "after.broken .* v2" 1
pass "a broken replacement aborts the reload; v2 keeps serving"
install -m 0644 "$ES_TEST_PLUGINS/versioned_v2.so" "$PLUGDIR/versioned.so"

# ---- remove ----
rm "$PLUGDIR/flaky.so"
admin POST /api/admin/reload
[ "$STATUS" = 200 ] || fail "reload after removing: $STATUS $BODY"
echo "$BODY" | jq -e '(.last.changes|contains("plugins removed: flaky"))' >/dev/null || fail "report: $BODY"
trigger_token after.remove
expect_status 202
echo "$BODY" | jq -e '.matched | index("flaky") == null' >/dev/null || fail "flaky still matched: $BODY"
expect_log "plugin 'flaky' (.*flaky.so) retired"
pass "a removed plugin stops receiving events and is retired"

# ---- broken config: nothing changes ----
cp "$CONFIG" "$TMP/good.yaml"
printf 'logging:\n  level: debug\n  formt: json\n' >> "$CONFIG"
before=$(generation)
kill -HUP "$DAEMON_PID"
wait_until "failed reload reported" 10 log_has "reload by signal SIGHUP: failed"
expect_log "config.yaml:[0-9]*:[0-9]*: duplicate key 'logging'"
[ "$(generation)" = "$before" ] || fail "a broken config changed the generation"
admin GET /api/admin/reload
echo "$BODY" | jq -e '.last.result == "failed" and (.last.error|contains("duplicate key"))' >/dev/null ||
	fail "report: $BODY"
trigger_token after.badconfig
wait_until "still routed as before" 5 lines_at_least "$TMP/recorder.txt" "after.badconfig" 1
log_has "DEBUG\|debug .*\[" && fail "the log level changed although the reload failed"
pass "a broken config is reported (file:line:column) and leaves everything as it was"

# ---- live settings: log level, routes; restart-only keys are named ----
cp "$TMP/good.yaml" "$CONFIG"
sed -i 's/level: info/level: debug/; s/recorder: {config/recorder: {subscribe: ["only.this"], config/' "$CONFIG"
# (PORT + 1 is the metrics port: the same port for both is refused)
sed -i "s/port: $PORT/port: $((PORT + 2))/" "$CONFIG"
admin POST /api/admin/reload
[ "$STATUS" = 200 ] || fail "reload: $STATUS $BODY"
echo "$BODY" | jq -e '(.last.changes|contains("plugins replaced: recorder")) and (.last.changes|contains("logging.level"))
	and (.last.changes|contains("needs a restart: server.port"))' >/dev/null || fail "report: $BODY"
expect_log "server.port changed but needs a restart"
trigger_token other.event
echo "$BODY" | jq -e '.matched | index("recorder") == null' >/dev/null || fail "the new subscription was not applied: $BODY"
trigger_token only.this
echo "$BODY" | jq -e '.matched | index("recorder") != null' >/dev/null || fail "recorder lost its new route: $BODY"
request GET /health
expect_status 200
pass "routes and log level change live; a port change is named as needing a restart"

# ---- unchanged plugins are untouched; the log plugin reopens its file ----
received_before=$(plugin_counter log received)
mv "$TMP/events.log" "$TMP/events.log.1"
kill -HUP "$DAEMON_PID"
wait_until "reopened" 5 log_has "\[log\] reopened $TMP/events.log"
trigger_token after.rotate
wait_until "new log file" 5 lines_at_least "$TMP/events.log" after.rotate 1
[ "$(plugin_counter log received)" -gt "$received_before" ] || fail "the log plugin's counters were reset"
pass "an unchanged plugin keeps its counters across reloads and reopens its file (logrotate)"

# ---- requests during a reload coalesce into one more reload ----
before=$(generation)
for i in 1 2 3 4; do trigger_token "slow.job$i"; done
# slow's settings change: it is replaced, and its old instance drains 4 x 1 s
# (long enough for the 8 signals below to land inside it on a loaded machine)
sed -i 's/delay_ms: 1000/delay_ms: 1001/' "$CONFIG"
started_before=$(lines_in "$LOG" "reload requested by")
kill -HUP "$DAEMON_PID"
# The 8 signals must arrive while this reload runs (its old instance drains
# for about 4 s), not before the daemon has taken the first one: a pending signal
# merges with the next, whatever the reload does.
wait_until "the reload to start" 15 lines_at_least "$LOG" "reload requested by" $((started_before + 1))
for _ in 1 2 3 4 5 6 7 8; do kill -HUP "$DAEMON_PID"; sleep 0.05; done
wait_until "the reload and one coalesced reload" 15 generation_is $((before + 2))
sleep 1
[ "$(generation)" = $((before + 2)) ] || fail "8 SIGHUPs during a reload ran $(($(generation) - before - 1)) more reloads"
[ "$(lines_in "$TMP/slow.txt" "slow slow.job")" = 4 ] || fail "the retired instance did not deliver its queue"
pass "8 SIGHUPs during a running reload coalesced into one more; the retired instance delivered its queue first"

# ---- every restart-only key is named: the metrics listener's address too ----
grep -q '^metrics: {port: ' "$CONFIG" || fail "no metrics line to change: $(cat "$CONFIG")"
sed -i 's/^metrics: {port: /metrics: {host: localhost, port: /' "$CONFIG"
admin POST /api/admin/reload
[ "$STATUS" = 200 ] || fail "reload: $STATUS $BODY"
echo "$BODY" | jq -e '.last.result == "ok" and (.last.changes|test("needs a restart: [^;]*metrics[.]host"))' >/dev/null ||
	fail "a changed metrics.host is not named as needing a restart: $BODY"
expect_log "metrics.host changed but needs a restart"
pass "a changed metrics.host is named as needing a restart"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
