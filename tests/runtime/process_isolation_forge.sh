#!/bin/bash
# An isolated plugin that writes a forged answer frame to the channel (to
# file descriptor 3, where the channel starts, and to every socket it
# has): the answers carry the request id of their delivery, so the forged
# frame is a protocol error: the child is killed, the delivery in its hands
# fails as documented, and later events get their own outcomes (before,
# every later event got the previous one's outcome, and a crash was
# answered "ok").
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin misbehave
isolated_misbehave_settings | write_plugin_settings
let_fatal_signals_kill
start_daemon

request POST /api/events/trigger '{"name":"mb.forge","id":"forge-1"}'
expect_status 202
wait_until "forge-1 dead-lettered" 10 log_has "event forge-1 (mb.forge) dead-lettered after 1 attempt: the plugin's process broke the channel protocol and was killed"
expect_log "plugin process [0-9]* broke the channel protocol handling event forge-1; killed"
request POST /api/events/trigger '{"name":"mb.ok","id":"ok-1"}'
expect_status 202
wait_until "ok-1 handled" 10 lines_at_least "$TMP/misbehave.txt" "misbehave mb.ok ok-1 1 ok" 1
request POST /api/events/trigger '{"name":"mb.crash","id":"crash-1"}'
expect_status 202
wait_until "crash-1 crashed its process" 10 log_has "plugin process [0-9]* killed by SIGSEGV while handling event crash-1"
wait_until "crash-1 dead-lettered" 10 log_has "event crash-1 (mb.crash) dead-lettered after 1 attempt"
log_has "event ok-1 (mb.ok) dead-lettered" && fail "ok-1 got another delivery's outcome"
log_has "SIGSEGV while idle" && fail "the crash was taken for a death while idle"
counter() { curl -s "http://127.0.0.1:$PORT/api/plugins" | jq -r ".plugins[] | select(.name == \"misbehave\") | .counters.$1"; }
[ "$(counter ok)" = 1 ] || fail "expected 1 delivery ok (ok-1), got $(counter ok)"
[ "$(counter failed)" = 2 ] || fail "expected 2 failed deliveries (forge-1, crash-1), got $(counter failed)"
stop_daemon
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
pass "a forged answer frame ends the child; later events keep their own outcomes"
