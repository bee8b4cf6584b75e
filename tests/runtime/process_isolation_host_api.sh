#!/bin/bash
# The host API works the same for a plugin in a child process: init()
# reads its config (a local copy) and logs (forwarded to the daemon's log
# under the plugin's name); handle() emits an event that the daemon admits
# through its normal pipeline (another plugin receives it), adds to a
# counter the daemon reports, and logs; shutdown() logs too.  The plugin's
# code runs in the child, not in the daemon.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin relay
stage_plugin recorder
write_plugin_settings <<'YAML'
    relay:
      isolation: process
      workers: 2
      config: {record: @TMP@/relay.txt, tag: "blue-42"}
    recorder: {subscribe: ["relay.out"], config: {record: @TMP@/recorder.txt}}
YAML
start_daemon

[ "$(plugin_field relay '.processes.running')" = 2 ] || fail "expected two relay processes (one per worker)"
pids=$(plugin_field relay '.processes.pids[]' | sort -n | tr '\n' ' ')
# config read in the child and its log line forwarded, once per child
[ "$(grep -c "\[relay\] relay ready: tag blue-42, pid " "$LOG")" = 2 ] ||
	fail "expected one 'relay ready: tag blue-42' line per child"
for pid in $pids; do
	[ "$pid" != "$DAEMON_PID" ] || fail "a listed child is the daemon itself"
	expect_log "\[relay\] relay ready: tag blue-42, pid $pid$"
done

for i in 1 2 3 4 5 6; do
	request POST /api/events/trigger "{\"name\":\"relay.in.$i\",\"id\":\"in-$i\"}"
	expect_status 202
done
wait_until "six relays" 10 lines_at_least "$TMP/relay.txt" "emit=0" 6
# emitted from the child, admitted by the daemon, delivered to the recorder
wait_until "six relay.out at the recorder" 10 lines_at_least "$TMP/recorder.txt" "recorder relay.out" 6
# the log line is a frame of its own, read by the daemon after the emit
# (the record line above is written by the child before it is read)
for i in 1 2 3 4 5 6; do
	wait_until "in-$i's log line" 10 log_has "\[relay\] relayed in-$i in pid [0-9]* (emit status 0)"
done
# handled in the children only
while read -r _ _ _ _ _ pid; do
	case " $pids" in *" ${pid#pid=} "*) ;; *) fail "handled in pid ${pid#pid=}, not one of the children ($pids)" ;; esac
done < "$TMP/relay.txt"
relayed=$(plugin_field relay .plugin_counters.relayed)
[ "$relayed" = 6 ] || fail "plugin counter relayed is '$relayed', not 6"
stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
# shutdown() ran in each child and its log line reached the daemon's log
[ "$(grep -c "\[relay\] relay stopping in pid" "$LOG")" = 2 ] || fail "expected shutdown() to log once per child"
total=$(sed -n 's/.*relay stopping in pid [0-9]* after \([0-9]*\) relayed.*/\1/p' "$LOG" | paste -sd+ | bc)
[ "$total" = 6 ] || fail "the children's own globals add up to $total relayed, not 6"
pass "log, config, emit and counters work from isolated children; globals are per child"
