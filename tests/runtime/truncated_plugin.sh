#!/bin/bash
# A truncated plugin file (a copy still in progress) is refused with a
# precise reason wherever it is read -- at start, by --check-config and on
# reload -- and never mapped so that it faults later (it was: SIGBUS, the
# daemon and the check died).  On reload the old instance keeps serving.
set -eu
. "$(dirname "$0")/lib.sh"

# half of a real plugin: whole ELF header, segments cut off
truncated_copy() {
	local src=$ES_TEST_PLUGINS/$1.so size
	size=$(stat -c %s "$src")
	head -c $((size / 2)) "$src" > "$2"
	chmod 0644 "$2"
}

stage_plugin recorder
truncated_copy noop "$PLUGDIR/noop.so"
write_plugin_settings <<'YAML'
    recorder: {config: {record: @TMP@/recorder.txt}}
YAML

# ---- --check-config ----
check_config 1
out=$CHECK_OUT
echo "$out" | grep -q "noop.so: plugin refused: is truncated: a loadable segment ends at byte" ||
	fail "--check-config did not say the file is truncated: $out"
pass "--check-config refuses the truncated file and exits 1 (not a SIGBUS)"

# ---- start ----
start_daemon
expect_log "noop.so: plugin refused: is truncated"
trigger start.1
expect_status 202
wait_until "recorder serves" 5 lines_at_least "$TMP/recorder.txt" "start.1" 1
pass "at start the truncated file is refused and the other plugin serves"

# ---- reload: the recorder's file replaced by a truncated copy ----
truncated_copy recorder "$TMP/recorder.part"
mv "$TMP/recorder.part" "$PLUGDIR/recorder.so"
kill -HUP "$DAEMON_PID"
wait_until "failed reload reported" 10 log_has "reload by signal SIGHUP: failed"
expect_log "recorder.so: plugin refused: is truncated"
daemon_exited && fail "the daemon died on the reload"
trigger after.reload
expect_status 202
expect_body '"matched":["recorder"]'
wait_until "the old recorder still serves" 5 lines_at_least "$TMP/recorder.txt" "after.reload" 1
pass "a reload reading a truncated file is refused and the old instance keeps serving"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
