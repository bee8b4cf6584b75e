#!/bin/bash
# A plugin that calls exit(0) inside handle(), with `isolation: process`:
# its process must not pass for one that stopped in order.  The host treats
# it as a crash of the delivery in its hands: the process exits non-zero
# (logged with the event), the crash is recorded for the crash rules, the
# process is restarted, and the event is dead-lettered after max_crashes
# while the plugin's other events are delivered.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin crash
write_plugin_settings <<'YAML'
    crash:
      isolation: process
      workers: 1
      max_attempts: 5
      backoff_initial_ms: 20
      backoff_max_ms: 20
      max_crashes: 2
      config: {record: @TMP@/crash.txt}
YAML
start_daemon

request POST /api/events/trigger '{"name":"crash.exit","id":"exits-1"}'
expect_status 202
wait_until "exits-1 dead-lettered" 20 log_has "event exits-1 (crash.exit) dead-lettered after 2 attempts: crashed the plugin 2 times"
expect_log "handle() called exit(): the plugin's process ends as crashed"
expect_log "plugin process [0-9]* exited with status 70 while handling event exits-1 (attempt 1); restarting it"
expect_log "plugin process [0-9]* exited with status 70 while handling event exits-1 (attempt 2)"
[ "$(grep -c "exits-1" "$STATE_DIRECTORY/crash-history")" = 2 ] || fail "expected two crash-history lines for exits-1"
restarted() {
	local v
	v=$(plugin_field crash .processes.restarts)
	[ -n "$v" ] && [ "$v" -ge 2 ]
}
wait_until "the process restarted after each exit" 10 restarted
trigger fine.1
expect_status 202
wait_until "fine.1 handled by the restarted process" 10 lines_at_least "$TMP/crash.txt" "crash fine.1 " 1
[ "$(lines_in "$TMP/crash.txt" "crash.exit")" = 0 ] || fail "crash.exit was recorded as handled"
daemon_exited && fail "the daemon died"
stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
pass "exit() inside an isolated handle(): a crash of that delivery (exit status 70, recorded, restarted, dead-lettered after max_crashes)"
