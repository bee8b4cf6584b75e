#!/bin/bash
# systemd integration as the service manager sees it: the notification
# socket receives READY=1 once listening, RELOADING=1 with MONOTONIC_USEC and
# then READY=1 on reload, STOPPING=1 on stop, and watchdog pings; the unit
# file asks for Type=notify, reload by SIGHUP, restart on failure, its own
# user and the hardening.
set -eu
. "$(dirname "$0")/lib.sh"
"$ES_DAEMON" --version >/dev/null
unit="$ES_TOP_BUILDDIR/configs/event-system.service"
[ -f "$unit" ] || fail "the unit was not generated"
for line in 'ExecReload=/bin/kill -HUP $MAINPID' 'Restart=on-failure' 'RestartSec=5s' 'User=event-system' \
	'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' 'LogsDirectory=event-system' \
	'CapabilityBoundingSet=' 'PrivateUsers=yes' 'MemoryDenyWriteExecute=yes' 'SystemCallFilter=@system-service'; do
	grep -qxF "$line" "$unit" || fail "the unit lacks '$line'"
done
grep -q '^Type=notify$' "$unit" || { echo "built without libsystemd: Type=simple, nothing to notify; skipped"; exit 77; }
pass "the unit has Type=notify, reload by SIGHUP, restart on failure, its own user and the hardening"

SINK="$ES_TOP_BUILDDIR/tests/helpers/notify_sink"
"$SINK" "$TMP/notify.sock" "$TMP/notify.txt" &
sink=$!
trap 'kill $sink 2>/dev/null || true; cleanup' EXIT
wait_until "notify socket" 5 test -S "$TMP/notify.sock"
stage_plugin recorder
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins: {directory: @PLUGDIR@}
YAML
export NOTIFY_SOCKET="$TMP/notify.sock" WATCHDOG_USEC=200000
start_daemon
unset NOTIFY_SOCKET WATCHDOG_USEC
wait_until "READY=1" 5 lines_at_least "$TMP/notify.txt" '^READY=1|STATUS=listening on 127.0.0.1' 1
pass "READY=1 with a STATUS line once the listeners are bound and the plugins loaded"

wait_until "watchdog pings" 5 lines_at_least "$TMP/notify.txt" '^WATCHDOG=1$' 3
pass "watchdog pings at half of WATCHDOG_USEC"

kill -HUP "$DAEMON_PID"
wait_until "reload notified" 5 lines_at_least "$TMP/notify.txt" '^READY=1|STATUS=generation 2; last reload ok' 1
grep -q '^RELOADING=1|MONOTONIC_USEC=[0-9][0-9]*|' "$TMP/notify.txt" || fail "no RELOADING=1 with MONOTONIC_USEC"
pass "a reload sends RELOADING=1 with MONOTONIC_USEC, then READY=1"

stop_daemon TERM
grep -q '^STOPPING=1' "$TMP/notify.txt" || fail "no STOPPING=1"
pass "stopping sends STOPPING=1"
