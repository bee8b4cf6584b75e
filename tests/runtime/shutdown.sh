#!/bin/bash
# SIGTERM drains the queues before exiting; what cannot be delivered within
# event.shutdown_timeout_ms is counted in the log.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin slow
write_config <<'YAML'
server: {port: @PORT@}
event: {shutdown_timeout_ms: 10000}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    slow: {workers: 1, queue_size: 100, config: {delay_ms: 50, record: @TMP@/slow.txt}}
YAML
start_daemon
for i in $(seq 1 20); do trigger "slow.e$i"; expect_status 202; done
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
[ "$(lines_in "$TMP/slow.txt" "slow slow.e")" = 20 ] || fail "only $(lines_in "$TMP/slow.txt" "slow slow.e") of 20 delivered"
expect_log "draining queues for up to 10000 ms"
log_has "not delivered" && fail "undelivered events reported although all were delivered"
pass "SIGTERM delivered all 20 queued events before exiting 0"

rm -f "$TMP/slow.txt"
sed -i 's/shutdown_timeout_ms: 10000/shutdown_timeout_ms: 300/; s/delay_ms: 50/delay_ms: 200/' "$CONFIG.in"
start_daemon
for i in $(seq 1 20); do trigger "slow.e$i"; expect_status 202; done
stop_daemon INT
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
delivered=$(lines_in "$TMP/slow.txt" "slow slow.e")
undelivered=$((20 - delivered))
[ $undelivered -gt 0 ] || fail "everything was delivered; the test needs a shorter deadline"
expect_log "\[slow\] $undelivered events not delivered before the shutdown deadline"
expect_log "\[main\] $undelivered events could not be delivered before the shutdown deadline"
pass "past the deadline, the $undelivered undelivered events are counted in the log (SIGINT)"
