#!/bin/bash
# The daemon owns SIGTERM, SIGINT and SIGHUP from its first moment to its
# last (configuration.md "Signals"): a SIGHUP, SIGTERM or SIGINT while it
# drains after a SIGTERM is logged and ignored (the drain goes on, every
# queued event is delivered, shutdown() runs, exit 0), for an in-process and
# an isolated plugin; a SIGHUP while a plugin's init() runs at start is a
# reload once started, a SIGTERM then a stop once started.  SIGUSR1 and
# SIGUSR2 are logged and ignored, by the daemon and by an isolated plugin's
# process.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin slow

# pid_in FILE: the process id a plugin wrote there, once it is whole
pid_in() {
	grep -qx '[0-9][0-9]*' "$1" 2>/dev/null
}

for isolation in in-process process; do
	rm -f "$TMP/slow.txt" "$TMP/shutdown.txt"
	write_plugin_settings <<YAML
    slow: {isolation: $isolation, workers: 1, queue_size: 100, config: {delay_ms: 200, record: @TMP@/slow.txt, shutdown_record: @TMP@/shutdown.txt}}
YAML
	sed -i 's/^server:.*/&\nevent: {shutdown_timeout_ms: 20000}/' "$CONFIG.in"
	start_daemon
	for i in $(seq 1 10); do trigger "slow.e$i"; expect_status 202; done
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	wait_until "the drain started" 10 log_has "draining queues for up to 20000 ms"
	kill -HUP "$DAEMON_PID" 2>/dev/null || true
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	kill -INT "$DAEMON_PID" 2>/dev/null || true
	wait_until "the daemon stopped" 30 daemon_exited
	EXIT_CODE=0
	wait "$DAEMON_PID" || EXIT_CODE=$?
	DAEMON_PID=
	[ "$EXIT_CODE" = 0 ] || fail "$isolation: a signal during the drain: exit code $EXIT_CODE (expected 0)"
	delivered=$(lines_in "$TMP/slow.txt" "slow slow.e")
	[ "$delivered" = 10 ] || fail "$isolation: $delivered of 10 queued events delivered"
	[ "$(lines_in "$TMP/shutdown.txt" shutdown)" = 1 ] || fail "$isolation: the plugin's shutdown() did not run"
	for sig in Hangup Terminated Interrupt; do
		expect_log "$sig received while stopping: ignored"
	done
	expect_log "\[main\] stopped"
	pass "$isolation: SIGHUP, SIGTERM and SIGINT during the drain are logged and ignored; 10 of 10 delivered, shutdown() ran, exit 0"
done

# SIGUSR1 and SIGUSR2 mean nothing to the daemon: a stray one (a logrotate
# line meant for another daemon, `systemctl kill -s USR1`, which reaches the
# isolated plugin's process too) is logged and changes nothing.
rm -f "$TMP/slow.txt"
write_plugin_settings <<'YAML'
    slow: {isolation: process, workers: 1, queue_size: 100, config: {record: @TMP@/slow.txt}}
YAML
start_daemon
wait_until "the isolated plugin's process" 10 other_process_runs slow 0
child=$(first_process slow)
for sig in USR1 USR2; do
	kill -"$sig" "$DAEMON_PID" "$child"
done
wait_until "the daemon's log line for SIGUSR2" 10 log_has "(SIGUSR2) received: ignored"
expect_log "(SIGUSR1) received: ignored; SIGHUP reloads and reopens, SIGTERM stops"
trigger slow.after_usr
expect_status 202
wait_until "the event sent after the signals delivered" 10 lines_at_least "$TMP/slow.txt" "slow slow.after_usr" 1
[ "$(first_process slow)" = "$child" ] || fail "the isolated plugin's process was replaced after SIGUSR1/SIGUSR2"
[ "$(plugin_field slow .processes.restarts)" = 0 ] || fail "SIGUSR1/SIGUSR2 counted as a crash of the isolated plugin"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE after SIGUSR1/SIGUSR2"
pass "SIGUSR1 and SIGUSR2 are logged and ignored by the daemon and its isolated plugin's process"

# At start: the plugin's init() takes 1.5 s; the signal comes while it runs.
write_plugin_settings <<'YAML'
    slow: {config: {init_delay_ms: 1500, init_marker: @TMP@/init.pid, shutdown_record: @TMP@/shutdown.txt}}
YAML
for sig in HUP TERM; do
	rm -f "$TMP/init.pid" "$TMP/shutdown.txt"
	(
		deadline=$(($(date +%s) + 20))
		until pid_in "$TMP/init.pid" || [ "$(date +%s)" -ge $deadline ]; do sleep 0.02; done
		kill -"$sig" "$(cat "$TMP/init.pid")"
	) &
	signaller=$!
	start_or_die true
	wait "$signaller" || fail "SIG$sig could not be sent during init()"
	if [ "$sig" = HUP ]; then
		[ "$DIED" = 0 ] || fail "SIGHUP during a plugin's init() killed the daemon (exit code $EXIT_CODE)"
		expect_log "Hangup received while starting: reloading once started"
		wait_until "the reload asked for while starting" 20 log_has "reload by signal SIGHUP (received while starting)"
		http_ready || fail "not ready after the reload asked for while starting"
		stop_daemon TERM
		[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE after a SIGHUP during start"
		pass "a SIGHUP during a plugin's init() is a reload once started"
	else
		if [ "$DIED" = 0 ]; then # it was ready for a moment
			wait_until "the stop asked for while starting" 20 daemon_exited
			EXIT_CODE=0
			wait "$DAEMON_PID" || EXIT_CODE=$?
			DAEMON_PID=
		fi
		[ "$EXIT_CODE" = 0 ] || fail "SIGTERM during a plugin's init(): exit code $EXIT_CODE (expected 0)"
		expect_log "Terminated received while starting: stopping once started"
		[ "$(lines_in "$TMP/shutdown.txt" shutdown)" = 1 ] || fail "SIGTERM during start: shutdown() did not run"
		pass "a SIGTERM during a plugin's init() stops the daemon once started: shutdown() ran, exit 0"
	fi
done
