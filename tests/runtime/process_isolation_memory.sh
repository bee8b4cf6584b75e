#!/bin/bash
# An isolated plugin that leaks memory hits its memory_limit_mb and its
# process is restarted; the daemon and the other plugin carry on, and the
# plugin's later events are delivered by the new process.  (In a normal
# build malloc fails at the limit, RLIMIT_DATA, and this plugin writes
# through the NULL; under a sanitizer the daemon's RSS watch kills it.)
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin leak
stage_plugin recorder
write_plugin_settings <<'YAML'
    leak:
      isolation: process
      workers: 1
      memory_limit_mb: 200
      max_attempts: 1
      config: {record: @TMP@/leak.txt, leak_mb: 16}
    recorder: {workers: 1, config: {record: @TMP@/recorder.txt}}
YAML
let_fatal_signals_kill
start_daemon

[ "$(plugin_field leak .processes.memory_limit_mb)" = 200 ] || fail "the limit is not reported"
first_pid=$(plugin_field leak '.processes.pids[0]')
restarted() {
	local v
	v=$(plugin_field leak .processes.restarts)
	[ -n "$v" ] && [ "$v" -ge 1 ]
}
died() {
	grep -q "plugin process $first_pid .*while handling event\|plugin process $first_pid .*while idle\|plugin process $first_pid uses .*over its memory_limit_mb" "$LOG"
}
# 16 MiB per event: 200 MiB is reached within 13 events; send them one by
# one until the process dies (at most 40, 640 MiB without a limit).  No
# leaking event reaches the next process: it would leak at its exit.
i=0
while ! died; do
	i=$((i + 1))
	[ $i -le 40 ] || fail "no death after 40 leaking events: the memory limit is not enforced"
	trigger "leak.$i"
	expect_status 202
	wait_until "leak.$i handled or its process gone" 10 \
		bash -c "grep -q ' leak.$i ' '$TMP/leak.txt' || grep -q 'plugin process $first_pid ' '$LOG'"
done
wait_until "the process restarted" 10 restarted
log_has "plugin process $first_pid killed by SIG[A-Z]* while handling event" ||
	log_has "plugin process $first_pid uses [0-9]* MiB, over its memory_limit_mb of 200: killed" ||
	fail "no log line says why process $first_pid ended"
[ $i -ge 5 ] || fail "the process died after only $i events: the limit is far too low or it is not the leak"
daemon_exited && fail "the daemon died"
new_pid=$(plugin_field leak '.processes.pids[0]')
[ -n "$new_pid" ] && [ "$new_pid" != "$first_pid" ] || fail "no new process (was $first_pid, now '$new_pid')"
trigger fine.after
expect_status 202
wait_until "fine.after at the new process" 10 lines_at_least "$TMP/leak.txt" "leak fine.after " 1
wait_until "every event at the recorder" 10 lines_at_least "$TMP/recorder.txt" "recorder " $((i + 1))
stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
pass "the leaking process was replaced after $i events of 16 MiB under a 200 MiB limit"
