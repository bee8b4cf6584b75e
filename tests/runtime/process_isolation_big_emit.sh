#!/bin/bash
# emit() of data larger than event.max_event_size from an isolated plugin
# returns ES_STATUS_INVALID (logged), as in-process, however large: the
# child refuses what the daemon would refuse instead of sending a frame the
# daemon cannot take (which ended the child as a protocol error).  The same
# from init(): the plugin starts.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin misbehave
config() { # config INIT_EMIT_BYTES
	write_config <<YAML
server: {port: @PORT@}
logging: {format: text, access_log: false}
event: {max_event_size: 100000}
plugins:
  directory: @PLUGDIR@
  settings:
    misbehave:
      isolation: process
      workers: 1
      config: {record: @TMP@/misbehave.txt, init_emit_bytes: $1}
YAML
}
pid_now() { curl -s "http://127.0.0.1:$PORT/api/plugins" | jq -r '.plugins[] | select(.name == "misbehave") | .processes.pids[0]'; }

config 0
start_daemon
first_pid=$(pid_now)
# 100 000 bytes is allowed; one more is refused by the daemon; 300 000
# (more than the limit plus the frame's slack) by the child itself
for n in 100000 100001 300000 4000000; do
	trigger mb.bigemit "$n"
	expect_status 202
	wait_until "the emit of $n bytes" 10 lines_at_least "$TMP/misbehave.txt" "misbehave mb.bigemit .* emit-status" 1
	got=$(grep "mb.bigemit" "$TMP/misbehave.txt" | tail -1 | sed 's/.*emit-status //')
	want=3
	[ "$n" = 100000 ] && want=0
	[ "$got" = "$want" ] || fail "emit of $n bytes returned $got, expected $want"
	: > "$TMP/misbehave.txt" # the plugin appends to the same file
done
expect_log "emit of 'mb.emitted' refused: data is 300000 bytes, more than the 100000 allowed"
log_has "broke the channel protocol" && fail "a big emit ended the plugin's process"
[ "$(pid_now)" = "$first_pid" ] || fail "the plugin's process changed (was $first_pid, now $(pid_now))"
stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
pass "a big emit in handle() is refused with ES_STATUS_INVALID, the process lives"

config 300000
start_daemon
expect_log "init() emit of 300000 bytes: status 3"
[ -n "$(pid_now)" ] || fail "the plugin did not start"
trigger mb.after
expect_status 202
wait_until "mb.after handled" 10 lines_at_least "$TMP/misbehave.txt" "misbehave mb.after " 1
stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
pass "a big emit in init() is refused with ES_STATUS_INVALID, the plugin starts"
