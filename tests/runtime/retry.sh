#!/bin/bash
# Retries follow the configured policy: a transient failure is retried with
# backoff until it succeeds; a permanent failure and exhausted attempts are
# dead-lettered with the plugin's reason.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin flaky
stage_plugin failing
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, level: debug}
plugins:
  directory: @PLUGDIR@
  defaults: {backoff_initial_ms: 50, backoff_max_ms: 200}
  settings:
    flaky:
      max_attempts: 4
      config: {record: @TMP@/flaky.txt, succeed_on_attempt: 3}
    failing:
      max_attempts: 5
      config: {record: @TMP@/failing.txt}
YAML
start_daemon

trigger flaky.job
expect_status 202
id=$(echo "$BODY" | jq -r .id)
wait_until "flaky succeeded on attempt 3" 5 lines_at_least "$TMP/flaky.txt" "flaky flaky.job $id 3 ok" 1
[ "$(lines_in "$TMP/flaky.txt" "$id 1 retry")" = 1 ] || fail "attempt 1 missing"
[ "$(lines_in "$TMP/flaky.txt" "$id 2 retry")" = 1 ] || fail "attempt 2 missing"
[ "$(lines_in "$TMP/flaky.txt" "$id")" = 3 ] || fail "more than 3 attempts"
# counted once handle() has returned, after its line was written
wait_until "the ok counted" 10 prints 1 plugin_counter flaky ok
[ "$(plugin_counter flaky retried)" = 2 ] || fail "retried counter"
expect_log "event $id (flaky.job): attempt 1 failed (temporarily unavailable (test)); retrying"
pass "a transient failure is retried and succeeds on attempt 3"

trigger fail.job
id=$(echo "$BODY" | jq -r .id)
wait_until "failure dead-lettered" 5 log_has "event $id (fail.job) dead-lettered after 1 attempt: downstream rejected the event (test)"
[ "$(lines_in "$TMP/failing.txt" "$id")" = 1 ] || fail "a permanent failure was retried"
[ "$(plugin_counter failing failed)" = 1 ] || fail "failed counter"
pass "a permanent failure is dead-lettered at once, with the plugin's reason"

request GET /health
echo "$BODY" | jq -e '.status == "ok"' >/dev/null || fail "health before the failures: $BODY"
for i in $(seq 1 12); do trigger "fail.n$i"; expect_status 202; done
failing_health() {
	request GET /health
	echo "$BODY" | jq -e '.status == "degraded" and .components.event_manager == "degraded"
		and (.reasons.event_manager | test("plugin .failing.: failing \\([0-9]+ of the last [0-9]+ deliveries failed\\)"))' >/dev/null
}
wait_until "health degraded by failures" 5 failing_health
pass "a plugin failing more than health.failure_ratio (0.5) of its recent deliveries makes /health degraded, saying why"

stop_daemon TERM
