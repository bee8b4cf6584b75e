#!/bin/bash
# Files in the plugin directory that are not regular files -- a FIFO, a
# directory, a socket, a device, a symbolic link loop, each named *.so --
# are refused with one line saying what they are; nothing waits on them:
# not the start, not --check-config, not a reload.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
mkfifo -m 644 "$PLUGDIR/fifo.so"
mkdir -m 755 "$PLUGDIR/directory.so"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$PLUGDIR/socket.so"
chmod 644 "$PLUGDIR/socket.so"
mknod -m 644 "$PLUGDIR/device.so" c 1 3    # /dev/null's numbers
ln -s loop_b.so "$PLUGDIR/loop_a.so"
ln -s loop_a.so "$PLUGDIR/loop_b.so"
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
YAML
PORT=9; render_config   # --check-config binds nothing; start_daemon picks the real port

# --check-config: answers at once (a FIFO used to block it forever)
rc=0
out=$(timeout 10 "$ES_DAEMON" -c "$CONFIG" --check-config 2>/dev/null) || rc=$?
[ "$rc" != 124 ] || fail "--check-config hung on the odd files"
for f in "fifo.so: plugin refused: is a FIFO" "directory.so: plugin refused: is a directory" \
	"socket.so: plugin refused: is a socket" "device.so: plugin refused: is a device" \
	"loop_a.so: plugin refused: is a symbolic link" "loop_b.so: plugin refused: is a symbolic link"; do
	echo "$out" | grep -q "$f; only regular files are loaded as plugins" || fail "--check-config did not say '$f': $out"
done
echo "$out" | grep -q "plugin recorder" || fail "--check-config did not load the good plugin: $out"
pass "--check-config refuses each odd file with one line and loads the good plugin"

start_daemon
for f in fifo directory socket device loop_a loop_b; do
	[ "$(grep -c "$f.so: plugin refused: is " "$LOG")" = 1 ] || fail "expected one refusal line for $f.so"
done
expect_log "ready: listening on .*1 plugin running, 6 refused"
trigger odd.files
expect_status 202
expect_body '"matched":["recorder"]'
pass "the daemon starts beside the odd files and serves with the good plugin"

# A new FIFO appears before a reload: the reload fails with the reason, at
# once, and the running generation keeps serving.
mkfifo -m 644 "$PLUGDIR/late.so"
kill -HUP "$DAEMON_PID"
wait_until "the reload refused the late FIFO" 10 log_has "late.so: plugin refused: is a FIFO"
wait_until "the reload finished" 10 log_has "reload by signal SIGHUP: failed"
trigger after.reload
expect_status 202
expect_body '"matched":["recorder"]'
rm "$PLUGDIR/late.so"
kill -HUP "$DAEMON_PID"
wait_until "the next reload succeeds" 10 log_has "reload by signal SIGHUP: ok"
pass "a FIFO appearing before a reload is refused without a hang; the daemon keeps serving"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
