#!/bin/bash
# --check-config loads and checks every plugin without calling its code: no
# init() and no shutdown(), so a check has no side effects (the recorder's
# init() creates its record file; a check used to create it too).  A start
# still runs init(): a plugin whose init() refuses passes the check and is
# refused at start, as the man page and the plugin guide say.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
stage_plugin init_fail
write_plugin_settings <<'YAML'
    recorder: {config: {record: @TMP@/recorder.txt}}
YAML
check_config 0
out=$CHECK_OUT
echo "$out" | grep -q "plugin recorder 0.1.0 (ABI 1.1)" || fail "recorder not listed: $out"
echo "$out" | grep -q "plugin init_fail 0.1.0 (ABI 1.1)" || fail "init_fail not listed: $out"
[ ! -e "$TMP/recorder.txt" ] || fail "--check-config ran the recorder's init(): it created its record file"
echo "$out" | grep -q "cannot connect to the downstream service" && fail "--check-config ran init_fail's init(): $out"
pass "--check-config lists both plugins and called no init(): nothing created, nothing logged by a plugin"

start_daemon
[ -e "$TMP/recorder.txt" ] || fail "the start did not run the recorder's init()"
expect_log "init_fail.so: plugin 'init_fail' refused: init() failed"
pass "a start runs init(): the recorder opened its file, init_fail is refused"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
