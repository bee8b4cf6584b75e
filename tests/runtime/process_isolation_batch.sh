#!/bin/bash
# An isolated plugin gets its deliveries in batches (one message to its
# process, one answer per delivery as each is handled).  When the process
# dies in the middle of a batch, only the delivery in its hands counts as a
# failed (crashed) attempt: the ones it answered before keep their result,
# the ones after it go back to the queue untouched and are delivered once,
# as attempt 1, by the restarted process; the crash rules still count the
# poison event alone.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin crash
write_plugin_settings <<'YAML'
    crash:
      isolation: process
      workers: 1
      timeout_ms: 5000
      max_attempts: 3
      backoff_initial_ms: 20
      backoff_max_ms: 20
      config: {record: @TMP@/crash.txt}
YAML
let_fatal_signals_kill
start_daemon

# A backlog of quick events: the daemon learns how long a delivery takes
# and its batches grow.
warm=$(for i in $(seq 1 60); do printf '{"name":"warm.%d"},' "$i"; done)
request POST /api/events/batch "[${warm%,}]"
expect_status 202
wait_until "the warm-up events handled" 20 lines_at_least "$TMP/crash.txt" "crash warm\." 60

# slow.1 holds the process for 300 ms: the rest queue up behind it and
# are sent together, the poison event in the middle.
request POST /api/events/batch '[{"name":"slow.1","id":"slow-1"},{"name":"fine.a","id":"fine-a"},
	{"name":"crash.now","id":"poison-1"},{"name":"fine.b","id":"fine-b"},{"name":"fine.c","id":"fine-c"}]'
expect_status 202
wait_until "poison-1 dead-lettered" 20 log_has "event poison-1 (crash.now) dead-lettered after 3 attempts: crashed the plugin 3 times"
# the crash happened inside a batch with two deliveries after it
expect_log "killed by SIGSEGV while handling event poison-1 (attempt 1); restarting it; 2 later deliveries of its batch go back to the queue"
for e in fine-a fine-b fine-c slow-1; do
	wait_until "$e handled" 10 lines_at_least "$TMP/crash.txt" " $e " 1
	[ "$(lines_in "$TMP/crash.txt" " $e ")" = 1 ] || fail "$e was handled more than once: $(grep " $e " "$TMP/crash.txt")"
	[ "$(lines_in "$TMP/crash.txt" " $e 1 ok")" = 1 ] || fail "$e was not handled as attempt 1: $(grep " $e " "$TMP/crash.txt")"
done
[ "$(lines_in "$TMP/crash.txt" "crash warm\.")" = 60 ] || fail "a warm-up event was handled twice"
# only the poison event's attempts failed and only it was recorded as a crash
[ "$(plugin_field crash .counters.retried)" = 2 ] || fail "expected two retries (poison-1's), got $(plugin_field crash .counters.retried)"
[ "$(plugin_field crash .counters.failed)" = 1 ] || fail "expected one failed delivery"
[ "$(grep -c "poison-1" "$STATE_DIRECTORY/crash-history")" = 3 ] || fail "expected three crash-history lines for poison-1"
grep -q "fine-" "$STATE_DIRECTORY/crash-history" && fail "an innocent event of the batch was recorded as a crash"
daemon_exited && fail "the daemon died"
stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
pass "isolated batches: a crash in a batch fails only the delivery in the process's hands; the others are delivered once"
