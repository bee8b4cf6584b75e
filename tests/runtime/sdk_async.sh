#!/bin/bash
# SDK 1.1 handle_async with a real plugin that completes its deliveries from
# its own thread (tests/plugins/async.c): completed under the deadline an
# event is delivered (and retried on ES_RETRY); completed after it, the
# delivery is a timeout and retried, the late completion is counted and
# logged once and harms nothing (the plugin reads the event when it
# completes, past the deadline: a sanitizer build catches a freed one); a
# plugin that never completes fills its queue and events are answered 503,
# each started one dead-lettered (nothing lost silently); a reload and a
# SIGTERM with deliveries outstanding time them out, then call shutdown(),
# whose completions are late and harmless; a handle_async() call that
# itself overruns the deadline abandons its worker like a stuck handle().  `isolation: process` is refused
# for such a plugin, with the reason.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin async
REC=$TMP/async.txt

settings() { # TIMEOUT_MS
	write_plugin_settings <<YAML
    async:
      workers: 2
      queue_size: 8
      timeout_ms: $1
      max_attempts: 3
      backoff_initial_ms: 20
      backoff_max_ms: 20
      config: {record: $REC, late_ms: 2500}
YAML
}

metric() { # NAME: its value for plugin="async" in /metrics
	curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v n="$1" '$1 == n "{plugin=\"async\"}" { print $2 }'
}

# ---- isolation: process is refused, saying why ----
write_plugin_settings <<YAML
    async:
      isolation: process
YAML
check_config 1
case "$CHECK_OUT" in
*"isolation: process is not supported for a plugin with handle_async()"*) ;;
*) fail "isolation refused without the reason: $CHECK_OUT" ;;
esac

# ---- completions under and after the deadline ----
settings 400
start_daemon
request POST '/api/events/trigger?wait=true' '{"name":"ok.1","id":"ok-1"}'
expect_status 200
[ "$(lines_in "$REC" "^async ok.1 ok-1 1 ok 0$")" = 1 ] || fail "ok-1 not completed once: $(cat "$REC")"
# the answer may go out just before the pool gives the record back
wait_until "no delivery outstanding after ok-1" 5 prints 0 plugin_field async .async.outstanding

request POST '/api/events/trigger?wait=true' '{"name":"retry.once.a","id":"retry-a"}'
expect_status 200
[ "$(lines_in "$REC" "^async retry.once.a retry-a 1 retry 0$")" = 1 ] || fail "retry-a: no ES_RETRY on attempt 1"
[ "$(lines_in "$REC" "^async retry.once.a retry-a 2 ok 0$")" = 1 ] || fail "retry-a: not delivered on attempt 2"
[ "$(plugin_counter async retried)" = 1 ] || fail "expected one retry, got $(plugin_counter async retried)"

# attempt 1 completed 2500 ms after its start, past the 400 ms deadline
request POST '/api/events/trigger?wait=true' '{"name":"late.once.b","id":"late-b"}'
expect_status 200
[ "$(lines_in "$REC" "^async late.once.b late-b 2 ok 0$")" = 1 ] || fail "late-b: attempt 2 did not decide the delivery"
[ "$(plugin_counter async timed_out)" = 1 ] || fail "expected one timeout, got $(plugin_counter async timed_out)"
[ "$(plugin_field async .async.expired_open)" = 1 ] || fail "the timed-out delivery is not held against the bound"
wait_until "the late completion of late-b" 10 lines_at_least "$REC" "^async late.once.b late-b 1 ok 1$" 1
[ "$(plugin_field async .async.late_completions)" = 1 ] || fail "the late completion was not counted"
[ "$(plugin_field async .async.expired_open)" = 0 ] || fail "the late completion did not give its slot back"
[ "$(metric eventsys_plugin_async_late_completions_total)" = 1 ] || fail "/metrics: late completions not 1"
[ "$(metric eventsys_plugin_async_outstanding)" = 0 ] || fail "/metrics: outstanding not 0"
[ "$(lines_in "$LOG" "completed after its deadline")" = 1 ] || fail "the late completion was not logged once"
[ "$(plugin_counter async ok)" = 3 ] || fail "expected 3 deliveries ok, got $(plugin_counter async ok)"
[ "$(plugin_counter async failed)" = 0 ] || fail "a delivery failed"

# attempt 1's call itself takes 1000 ms (past the 400 ms deadline) and
# completes from inside the call: the worker is abandoned like a stuck
# handle(), the delivery times out and is retried, the completion is late
request POST '/api/events/trigger?wait=true' '{"name":"block.once.c","id":"block-c"}'
expect_status 200
daemon_exited && fail "the daemon died when a handle_async() call overran its deadline"
[ "$(lines_in "$REC" "^async block.once.c block-c 2 ok 0$")" = 1 ] || fail "block-c: attempt 2 did not deliver it"
expect_log "asynchronous handler call did not return within 400 ms; worker abandoned"
wait_until "the blocked call's late completion" 10 lines_at_least "$REC" "^async block.once.c block-c 1 ok 1$" 1
wait_until "the abandoned worker joined" 10 log_has "a stuck worker returned from its handler and was joined"
[ "$(plugin_field async .async.late_completions)" = 2 ] || fail "the blocked call's completion was not counted late"

# ---- never completed: backpressure, not memory; nothing lost silently ----
request POST /api/events/batch "[$(for i in 1 2 3 4 5 6 7 8; do printf '{"name":"never.%d","id":"never-%d"},' "$i" "$i"; done | sed 's/,$//')]"
expect_status 202
wait_until "the 8 never-completed deliveries started" 10 counter_at_least async received 11
# each started one is outstanding (within its 400 ms) or timed out and still
# uncompleted: both hold the bound, so the sum is steady where either alone
# changes every 400 ms
held() { [ "$(plugin_field async '.async.outstanding + .async.expired_open')" -ge "$1" ]; }
wait_until "the 8 never-completed deliveries held" 10 held 8
trigger ok.2
expect_status 503
[ "$(plugin_counter async refused)" -ge 1 ] || fail "the refusal was not counted"
# each attempt times out; after 3 each is a dead letter, yet still uncompleted
wait_until "the never-completed events dead-lettered" 30 counter_at_least async failed 8
for i in 1 2 3 4 5 6 7 8; do
	expect_log "event never-$i (never.$i) dead-lettered after 3 attempts: timed out: not completed within 400 ms"
done
[ "$(plugin_field async .async.expired_open)" = 24 ] || fail "expected 24 timed-out handles, got $(plugin_field async .async.expired_open)"
trigger ok.3
expect_status 503
[ "$(metric eventsys_plugin_async_expired_open)" = 24 ] || fail "/metrics: expired_open not 24"

# ---- SIGTERM: shutdown() runs after them; its completions are late ----
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
expect_log "shutdown: 24 deliveries were outstanding, 24 completions were late"

# ---- reload with deliveries outstanding ----
: > "$REC"
settings 400
start_daemon
request POST /api/events/batch '[{"name":"never.r1","id":"never-r1"},{"name":"never.r2","id":"never-r2"}]'
expect_status 202
wait_until "2 deliveries held" 10 held 2
settings 500 # a changed setting: the running instance retires
render_config
kill -HUP "$DAEMON_PID"
wait_until "the retiring instance shut down" 30 log_has "shutdown: 6 deliveries were outstanding, 6 completions were late"
wait_until "the reload done" 10 prints 500 plugin_field async .timeout_ms
request POST '/api/events/trigger?wait=true' '{"name":"ok.4","id":"ok-4"}'
expect_status 200
[ "$(lines_in "$REC" "^async ok.4 ok-4 1 ok 0$")" = 1 ] || fail "the new instance did not deliver ok-4"
daemon_exited && fail "the daemon died"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
pass "handle_async: completions in time deliver and retry, late ones time out and are counted, a stalled plugin is answered 503, reload and SIGTERM time out what is outstanding"
