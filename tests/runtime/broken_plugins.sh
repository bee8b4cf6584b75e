#!/bin/bash
# Each kind of broken plugin is refused with its own clear log line, and the
# daemon and the healthy plugins carry on.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
stage_plugin wrong_abi
stage_plugin newer_minor
stage_plugin no_symbol
stage_plugin init_fail
stage_plugin recorder duplicate            # same plugin name twice
printf 'not an ELF object\n' > "$PLUGDIR/garbage.so"
chmod 644 "$PLUGDIR/garbage.so"
stage_plugin slow writable
chmod 666 "$PLUGDIR/writable.so"
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
YAML
start_daemon

expect_log "wrong_abi.so: plugin refused: plugin was built for ABI 2.0, this host serves ABI 1.x (1.1): rebuild the plugin"
expect_log "newer_minor.so: plugin refused: plugin needs ABI 1.99, this host serves ABI 1.1: upgrade the host"
expect_log "no_symbol.so: plugin refused: does not export the entry symbol 'es_plugin_entry'"
expect_log "garbage.so: plugin refused: not an ELF shared object (18 bytes without the ELF header)"
expect_log "init_fail.so: plugin 'init_fail' refused: init() failed"
expect_log "\[init_fail\] cannot connect to the downstream service"
expect_log "writable.so: plugin refused: plugin file .* is writable by group or others (mode 0666)"
# recorder.so sorts after duplicate.so, so the second one loaded is refused
expect_log "recorder.so: plugin refused: name 'recorder' is already taken by $PLUGDIR/duplicate.so"
expect_log "ready: listening on .*1 plugin running, 7 refused"
pass "each broken plugin is refused with one line saying why"

trigger any.event
expect_status 202
expect_body '"matched":["recorder"]'
wait_until "the healthy plugin got the event" 5 lines_at_least "$TMP/recorder.txt" any.event 1
pass "the healthy plugin keeps working beside the refused ones"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
