#!/bin/bash
# An isolated plugin's process keeps its answers until the batch is done
# (one send per batch).  When it dies in the middle of a batch, the crash
# still names exactly the event in its hands, and the deliveries it handled
# before keep their result:
#   - a fatal signal (a fault, abort()): the process's signal handler sends
#     the kept answers before it dies, so each of those deliveries is
#     handled once;
#   - SIGKILL (nothing runs after it, as for an out-of-memory kill): the
#     answers are lost, the daemon learns from the progress page which
#     deliveries returned; they are delivered again (at least once, never a
#     failed attempt), the crash is still the poison event's alone.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin crash
write_plugin_settings <<'YAML'
    crash:
      isolation: process
      workers: 1
      timeout_ms: 20000
      max_attempts: 3
      backoff_initial_ms: 20
      backoff_max_ms: 20
      quarantine_after: 0
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

# slow-X holds the process for 300 ms: the rest queue up behind it and are
# sent together, three innocent events before the poison one, one after.
# (A long deadline: a message carries as many deliveries as finish within
# a quarter of it at the measured time per delivery, so the whole case
# fits in one batch after slow-X.)
plugin_running() { [ "$(plugin_field crash .processes.running)" = 1 ]; }
send_case() { # TAG POISON_NAME
	wait_until "the plugin's process running" 10 plugin_running
	request POST /api/events/batch "[{\"name\":\"slow.$1\",\"id\":\"slow-$1\"},
		{\"name\":\"fine.1\",\"id\":\"fine-$1-1\"},{\"name\":\"fine.2\",\"id\":\"fine-$1-2\"},
		{\"name\":\"fine.3\",\"id\":\"fine-$1-3\"},{\"name\":\"$2\",\"id\":\"poison-$1\"},
		{\"name\":\"fine.4\",\"id\":\"fine-$1-4\"}]"
	expect_status 202
	wait_until "poison-$1 dead-lettered" 30 \
		log_has "event poison-$1 ($2) dead-lettered after 3 attempts: crashed the plugin 3 times"
	for e in "slow-$1" "fine-$1-1" "fine-$1-2" "fine-$1-3" "fine-$1-4"; do
		wait_until "$e handled" 10 lines_at_least "$TMP/crash.txt" " $e " 1
		[ "$(lines_in "$TMP/crash.txt" " $e ")" = "$(lines_in "$TMP/crash.txt" " $e 1 ok")" ] ||
			fail "$e was handled as a later attempt: $(grep " $e " "$TMP/crash.txt")"
	done
	[ "$(grep -c "poison-$1" "$STATE_DIRECTORY/crash-history")" = 3 ] ||
		fail "expected three crash-history lines for poison-$1: $(cat "$STATE_DIRECTORY/crash-history")"
	grep -q -e "fine-$1-" -e "slow-$1" "$STATE_DIRECTORY/crash-history" &&
		fail "an innocent event of the batch was recorded as a crash: $(cat "$STATE_DIRECTORY/crash-history")"
	return 0
}

# A fault and abort(): the kept answers reach the daemon; each innocent
# event is handled exactly once.
for c in segv:crash.now abort:crash.abort; do
	send_case "${c%%:*}" "${c#*:}"
	for e in slow-${c%%:*} fine-${c%%:*}-1 fine-${c%%:*}-2 fine-${c%%:*}-3 fine-${c%%:*}-4; do
		[ "$(lines_in "$TMP/crash.txt" " $e ")" = 1 ] || fail "$e was handled more than once: $(grep " $e " "$TMP/crash.txt")"
	done
done
expect_log "killed by SIGSEGV while handling event poison-segv (attempt 1); restarting it"
expect_log "killed by SIGABRT while handling event poison-abort (attempt 1); restarting it"
log_has "poison-segv.*handled before it" && fail "answers were lost with a fault"
log_has "poison-abort.*handled before it" && fail "answers were lost with abort()"

# SIGKILL: the answers of the three handled before the poison event died
# with the process; they are delivered again, the crash is poison-kill's.
send_case kill crash.sigkill
# (how many shared the poison event's batch depends on the measured time
# per delivery and on whether the process was still restarting)
line=$(grep "killed by SIGKILL while handling event poison-kill (attempt 1); restarting it" "$LOG") ||
	fail "expected poison-kill's first crash to be named for it"
lost=$(echo "$line" | sed -n 's/.*; \([0-9]*\) handled before it go.* back to the queue (the answers* died with the process).*/\1/p')
[ -n "$lost" ] && [ "$lost" -ge 1 ] || fail "expected answers lost with the process to be counted: $line"
handled=$(grep -c -e " slow-kill " -e " fine-kill-" "$TMP/crash.txt")
[ "$handled" -ge $((5 + lost)) ] || fail "$lost answers died with the process but only $((handled - 5)) deliveries were repeated"

# only the poison events' attempts failed
[ "$(plugin_field crash .counters.failed)" = 3 ] || fail "expected three failed deliveries, got $(plugin_field crash .counters.failed)"
[ "$(plugin_field crash .counters.retried)" = 6 ] || fail "expected six retries (the poison events'), got $(plugin_field crash .counters.retried)"
daemon_exited && fail "the daemon died"
stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
pass "isolated batches: answers kept until the batch ends survive a crash, and the crash names its own event"
