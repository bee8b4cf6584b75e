#!/bin/bash
# The watchdog pings go on through a long reload that is progressing within
# its own deadlines (operations.md "Reloads"): here reopen() waits ~4 s for
# a running handler (timeout_ms 8000) with WATCHDOG_USEC 1 s, and no two
# WATCHDOG=1 between RELOADING=1 and the READY=1 after it are a whole
# interval apart.  A main loop that really hangs (a reopen() that does not
# return, past its deadline) stops the pings.
set -eu
. "$(dirname "$0")/lib.sh"
unit="$ES_TOP_BUILDDIR/configs/event-system.service"
grep -q '^Type=notify$' "$unit" || { echo "built without libsystemd: no watchdog; skipped"; exit 77; }

SINK="$ES_TOP_BUILDDIR/tests/helpers/notify_sink"
"$SINK" "$TMP/notify.sock" "$TMP/notify.txt" --times &
sink=$!
trap 'kill $sink 2>/dev/null || true; cleanup' EXIT
wait_until "notify socket" 5 test -S "$TMP/notify.sock"
stage_plugin overlap
INTERVAL_MS=1000

# longest_reload_gap: the longest time (ms) without WATCHDOG=1 from the last
# RELOADING=1 to the READY=1 after it
longest_reload_gap() {
	awk '/ RELOADING=1/ { on = 1; p = $1; m = 0; next }
	     on && / WATCHDOG=1/ { if ($1 - p > m) m = $1 - p; p = $1 }
	     on && / READY=1/ { if ($1 - p > m) m = $1 - p; on = 0 }
	     END { print m + 0 }' "$TMP/notify.txt"
}

# reload_with CONFIG-LINE: start with that plugin line, keep a handler of
# 4 s running, SIGHUP, wait for the reload's end; sets GAP
reload_with() {
	: > "$TMP/notify.txt"
	rm -f "$TMP/rec.txt"
	write_plugin_settings <<<"    overlap: $1"
	export NOTIFY_SOCKET="$TMP/notify.sock" WATCHDOG_USEC=$((INTERVAL_MS * 1000))
	start_daemon
	unset NOTIFY_SOCKET WATCHDOG_USEC
	wait_until "watchdog pings" 5 lines_at_least "$TMP/notify.txt" ' WATCHDOG=1$' 2
	trigger overlap.e1
	expect_status 202
	wait_until "the handler running" 10 lines_at_least "$TMP/rec.txt" "overlap.e1 .* entered" 1
	kill -HUP "$DAEMON_PID"
	wait_until "the reload's end" 20 lines_at_least "$TMP/notify.txt" ' READY=1|STATUS=generation 2' 1
	GAP=$(longest_reload_gap)
	stop_daemon TERM
}

reload_with '{workers: 1, timeout_ms: 8000, config: {delay_ms: 4000, record: @TMP@/rec.txt}}'
[ "$GAP" -gt 0 ] || fail "no RELOADING=1 ... READY=1 seen: $(cat "$TMP/notify.txt")"
[ "$GAP" -lt $INTERVAL_MS ] ||
	fail "no watchdog ping for $GAP ms during a reload waiting within its deadlines (interval $INTERVAL_MS ms)"
pass "a 4 s reload waiting for a handler: watchdog pings at most $GAP ms apart (interval $INTERVAL_MS ms)"

# reopen() takes 4 s itself, far past its deadline (timeout_ms 300): the
# main loop is hung as far as anyone can tell, and the pings stop.
reload_with '{workers: 1, timeout_ms: 300, config: {delay_ms: 200, reopen_ms: 4000, record: @TMP@/rec.txt}}'
[ "$GAP" -ge $INTERVAL_MS ] || fail "pings went on ($GAP ms apart at most) while reopen() hung past its deadline"
pass "a reopen() hanging past its deadline stops the pings ($GAP ms without one)"
