#!/bin/bash
# reopen() and shutdown() never run while handle() runs (the header's
# promise): the overlap plugin counts the handlers inside handle() and
# records what it saw when reopen()/shutdown() were called.  Then a
# shutdown() that overruns its deadline: the daemon still exits, on time,
# and says so.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin overlap
CONFIG_HEAD='event: {shutdown_timeout_ms: 2000}' write_plugin_settings <<'YAML'
    overlap: {workers: 4, timeout_ms: 5000, config: {record: @TMP@/overlap.txt, delay_ms: 300}}
YAML
start_daemon

# Busy handlers: a burst keeps all four workers inside handle() when SIGHUP comes.
for i in $(seq 1 12); do
	trigger "busy.$i"
	expect_status 202
done
wait_until "four handlers running" 5 lines_at_least "$TMP/overlap.txt" entered 4
kill -HUP "$DAEMON_PID"
wait_until "reopen() called" 10 lines_at_least "$TMP/overlap.txt" "^reopen" 1
wait_until "all 12 events handled" 10 lines_at_least "$TMP/overlap.txt" returned 12
[ "$(lines_in "$TMP/overlap.txt" "overlapped")" = 0 ] || fail "reopen() ran beside handle(): $(grep overlapped "$TMP/overlap.txt")"
pass "reopen() waited for the running handlers and none started meanwhile; all 12 events were handled"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
grep -q "^shutdown alone" "$TMP/overlap.txt" || fail "shutdown() not recorded alone: $(cat "$TMP/overlap.txt")"
pass "shutdown() ran after the last handler returned"

CONFIG_HEAD='event: {shutdown_timeout_ms: 500}' write_plugin_settings <<'YAML'
    overlap: {workers: 1, timeout_ms: 200, max_attempts: 1, config: {record: @TMP@/overlap2.txt, delay_ms: 5000, shutdown_ms: 30000}}
YAML
# A stuck handler: reopen() is skipped (and logged), not run beside it.
# It is stuck for 5 s, so that it still is when the reload comes, even on
# a sanitizer build whose reload is slow.
start_daemon
trigger "stuck.1"
expect_status 202
wait_until "the handler abandoned" 5 log_has "\[overlap\] handler overran its 200 ms deadline"
kill -HUP "$DAEMON_PID"
wait_until "reopen skipped" 5 log_has "\[overlap\] reopen() skipped: 1 handler still running past the 200 ms deadline"
[ "$(lines_in "$TMP/overlap2.txt" "^reopen")" = 0 ] || fail "reopen() was called beside a stuck handler"
pass "reopen() is skipped, and logged, while a handler is stuck"

# shutdown() taking 30 s: the daemon waits for it until the deadline, no longer.
wait_until "the stuck handler returned" 15 lines_at_least "$TMP/overlap2.txt" returned 1
t0=$(date +%s%N)
stop_daemon TERM
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
grep -q "^shutdown alone" "$TMP/overlap2.txt" || fail "shutdown() not called alone: $(cat "$TMP/overlap2.txt")"
expect_log "\[overlap\] shutdown() did not return before the shutdown deadline; left running, the plugin stays loaded"
[ "$ms" -lt 10000 ] || fail "the daemon took $ms ms to stop with a 30 s shutdown()"
pass "a shutdown() past its deadline is logged and the daemon exits 0 in $ms ms"
