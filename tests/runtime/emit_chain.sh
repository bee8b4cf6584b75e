#!/bin/bash
# A plugin's emit() reaches the plugins subscribed to the emitted event, and
# a chain of events that routes back to the plugin that emitted it stops
# after 8 links: the real daemon, a real .so that emits from handle().
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin emitter
stage_plugin recorder
write_config <<'YAML'
server: {port: @PORT@}
logging: {level: info, format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    emitter: {config: {record: @TMP@/emitter.txt}}
    recorder: {subscribe: ["chain.next"], config: {record: @TMP@/recorder.txt}}
YAML
start_daemon

trigger chain.start '{}'
expect_status 202
expect_body '"matched":["emitter"]'
wait_until "the chain is cut" 10 log_has "emit of 'chain.next' refused: event chain deeper than 8"
# chain.start (depth 0) and eight emitted links (depths 1 to 8) were
# delivered; the ninth emit was refused.
wait_until "the emitter handled 9 events" 5 lines_at_least "$TMP/emitter.txt" "^emitter chain" 9
[ "$(lines_in "$TMP/emitter.txt" "^emitter chain.start .* emit=0$")" = 1 ] || fail "chain.start: $(cat "$TMP/emitter.txt")"
[ "$(lines_in "$TMP/emitter.txt" "^emitter chain.next .* emit=0$")" = 7 ] || fail "links: $(cat "$TMP/emitter.txt")"
[ "$(lines_in "$TMP/emitter.txt" "^emitter chain.next .* emit=3$")" = 1 ] || fail "the cut: $(cat "$TMP/emitter.txt")"
pass "an emit chain routing back to its emitter stops after 8 links, refused with a reason"

wait_until "the recorder got every emitted link" 5 lines_at_least "$TMP/recorder.txt" "^recorder chain.next " 8
[ "$(lines_in "$TMP/emitter.txt" "^emitter chain")" = 9 ] || fail "the chain went on: $(cat "$TMP/emitter.txt")"
[ "$(lines_in "$TMP/recorder.txt" "^recorder chain.next ")" = 8 ] || fail "recorder: $(cat "$TMP/recorder.txt")"
pass "each emitted event reached every plugin subscribed to it, once"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
