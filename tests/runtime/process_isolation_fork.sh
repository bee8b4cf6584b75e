#!/bin/bash
# An isolated plugin that forks in handle(): the process it forked shares
# the channel, but the daemon notices its child's end by the child's exit,
# not by the channel's end: a crash is a crash at once (not a deadline
# overrun), and a stop does not wait for event.shutdown_timeout_ms.  Each
# child leads its own process group, killed with it: nothing the plugin
# forked outlives its process or the daemon.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin misbehave
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, access_log: false}
event: {shutdown_timeout_ms: 20000}
plugins:
  directory: @PLUGDIR@
  settings:
    misbehave:
      isolation: process
      workers: 1
      max_attempts: 1
      timeout_ms: 20000
      config: {record: @TMP@/misbehave.txt, fork_pid_file: @TMP@/forked.pid}
YAML
let_fatal_signals_kill
# gone: no such process, or a zombie waiting for a parent that is not ours
gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
alive() { ! gone "$1"; }
fork_one() { # fork_one ID: the pid of the process the plugin forked
	rm -f "$TMP/forked.pid"
	request POST /api/events/trigger "{\"name\":\"mb.fork\",\"id\":\"$1\"}"
	expect_status 202
	wait_until "$1 handled" 10 lines_at_least "$TMP/misbehave.txt" "misbehave mb.fork $1 " 1
	FORKED=$(cat "$TMP/forked.pid")
	alive "$FORKED" || fail "the forked process $FORKED is not running"
}
start_daemon

fork_one fork-1
t0=$(date +%s%N)
request POST /api/events/trigger '{"name":"mb.crash","id":"crash-1"}'
expect_status 202
wait_until "crash-1 crashed its process" 10 log_has "plugin process [0-9]* killed by SIGSEGV while handling event crash-1"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 10000 ] || fail "the crash was noticed after $ms ms"
log_has "overran" && fail "the crash was taken for a deadline overrun"
wait_until "the process forked before the crash ended with it" 10 gone "$FORKED"
pass "a crash is noticed at once although a forked process holds the channel; the fork ends with it"

fork_one fork-2
t0=$(date +%s%N)
stop_daemon
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
expect_log "plugin process [0-9]* stopped"
[ "$ms" -lt 10000 ] || fail "the stop took $ms ms (event.shutdown_timeout_ms is 20000)"
wait_until "the forked process ended with the daemon" 10 gone "$FORKED"
pass "stop in $ms ms with a forked process; nothing left behind"
