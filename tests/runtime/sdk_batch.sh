#!/bin/bash
# SDK 1.1 handle_batch with a real batch sink plugin, in-process and with
# `isolation: process`: under load batches form (sizes above 1, never above
# batch_max); a lone event waits batch_linger_ms for company, two events
# sent within it arrive in one call; results are per event: an event
# refused inside a batch is retried on its own (the others of its batch are
# not delivered again) and one that fails is dead-lettered on its own.
# Isolated, a crash inside a batch call fails each event of the call once
# and sends each alone afterwards, where the crash names its event.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin batch
let_fatal_signals_kill

# calls_with FILE: one line per event record, "<size of its call> <name> <id> <attempt> <outcome>"
calls_with() {
	awk '$1 == "call" { size = $2; next } $1 == "batch" { print size, $2, $3, $4, $5 }' "$1"
}

run_case() {
	local isolation=$1 rec=$TMP/batch-$1.txt
	write_config <<YAML
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    batch:
      isolation: $isolation
      workers: 1
      batch_max: 5
      batch_linger_ms: 500
      max_attempts: 3
      backoff_initial_ms: 20
      backoff_max_ms: 20
      config: {record: $rec, delay_ms: 100}
YAML
	start_daemon

	# load: 30 events at once, one refused once, one refused for good
	local list
	list=$(for i in $(seq 1 14); do printf '{"name":"e.%d","id":"e-%d"},' "$i" "$i"; done)
	list="$list"'{"name":"fail.once.a","id":"f-once"},{"name":"fail.always.b","id":"f-always"},'
	list="$list"$(for i in $(seq 15 28); do printf '{"name":"e.%d","id":"e-%d"},' "$i" "$i"; done)
	request POST /api/events/batch "[${list%,}]"
	expect_status 202
	wait_until "$isolation: the 28 events handled" 30 lines_at_least "$rec" "^batch e\." 28
	wait_until "$isolation: f-once handled on its retry" 10 lines_at_least "$rec" " f-once 2 ok" 1
	wait_until "$isolation: f-always dead-lettered" 10 log_has "event f-always (fail.always.b) dead-lettered after 1 attempt: rejected"
	local sizes max
	sizes=$(awk '$1 == "call" { print $2 }' "$rec" | sort -n | uniq -c | tr '\n' ' ')
	max=$(awk '$1 == "call" { print $2 }' "$rec" | sort -n | tail -1)
	[ "$max" -gt 1 ] || fail "$isolation: no batch formed under load (call sizes: $sizes)"
	[ "$max" -le 5 ] || fail "$isolation: a call above batch_max 5 (call sizes: $sizes)"
	for i in $(seq 1 28); do
		[ "$(lines_in "$rec" " e-$i ")" = 1 ] || fail "$isolation: e-$i not handled exactly once: $(grep " e-$i " "$rec")"
		[ "$(lines_in "$rec" " e-$i 1 ok")" = 1 ] || fail "$isolation: e-$i not handled as attempt 1"
	done
	# the refused event came again on its own attempt; nothing else did
	[ "$(lines_in "$rec" " f-once 1 retry")" = 1 ] || fail "$isolation: f-once was not refused once"
	[ "$(lines_in "$rec" " f-once ")" = 2 ] || fail "$isolation: f-once handled $(lines_in "$rec" " f-once ") times"
	[ "$(lines_in "$rec" " f-always ")" = 1 ] || fail "$isolation: f-always was delivered again"
	[ "$(plugin_counter batch retried)" = 1 ] || fail "$isolation: expected one retry, got $(plugin_counter batch retried)"
	[ "$(plugin_counter batch failed)" = 1 ] || fail "$isolation: expected one failed delivery"

	# linger: a lone event waits batch_linger_ms (500) before its call
	local t0 t1
	t0=$(date +%s%N)
	request POST '/api/events/trigger?wait=true' '{"name":"lone.1","id":"lone-1"}'
	t1=$(date +%s%N)
	expect_status 200
	[ $(((t1 - t0) / 1000000)) -ge 500 ] || fail "$isolation: lone-1 answered after $(((t1 - t0) / 1000000)) ms, before the linger"
	[ "$(calls_with "$rec" | awk '$3 == "lone-1" { print $1 }')" = 1 ] || fail "$isolation: lone-1 not in a call of its own"
	# two events within the linger share a call
	trigger pair.1
	expect_status 202
	trigger pair.2
	expect_status 202
	wait_until "$isolation: the pair handled" 10 lines_at_least "$rec" "^batch pair\." 2
	[ "$(calls_with "$rec" | awk '$2 ~ /^pair\./ { print $1 }' | sort -u)" = 2 ] ||
		fail "$isolation: pair.1 and pair.2 were not handled in one call: $(calls_with "$rec" | grep pair)"

	if [ "$isolation" = process ]; then
		# a crash inside a call of three: each fails once (no event is
		# named), then each goes alone; the crash then names crash-1
		request POST /api/events/batch '[{"name":"c.1","id":"c-1"},{"name":"crash.x","id":"crash-1"},{"name":"c.2","id":"c-2"}]'
		expect_status 202
		wait_until "crash-1 dead-lettered" 20 log_has "event crash-1 (crash.x) dead-lettered after 3 attempts"
		expect_log "killed by SIGSEGV during handle_batch() of 3 events from c-1 (attempt 1); restarting it; each is retried on its own"
		expect_log "killed by SIGSEGV while handling event crash-1 (attempt 2)"
		for e in c-1 c-2; do
			wait_until "$e handled" 10 lines_at_least "$rec" " $e 2 ok" 1
			# its first attempt died with the call (c-1 may have been
			# handled before the fault: at least once); the second is the last
			[ "$(lines_in "$rec" " $e 2 ok")" = 1 ] || fail "$e: attempt 2 not handled once"
			[ "$(lines_in "$rec" " $e 3 ")" = 0 ] || fail "$e was delivered a third time"
		done
		grep -q "c-[12]" "$STATE_DIRECTORY/crash-history" && fail "an innocent event was recorded as a crash"
		[ "$(grep -c "crash-1" "$STATE_DIRECTORY/crash-history")" = 2 ] || fail "expected two crashes named crash-1"
	fi
	daemon_exited && fail "$isolation: the daemon died"
	stop_daemon
	[ "$EXIT_CODE" = 0 ] || fail "$isolation: daemon exited with $EXIT_CODE"
}

run_case in-process
run_case process
pass "handle_batch in-process and isolated: batches of 2..5 under load, linger respected, retries and dead letters per event"
