#!/bin/bash
# Nothing is served before every component a handler can reach exists.  The
# HTTP and metrics threads used to start before the reload state: a reload
# request (or its report: GET /api/admin/reload, /metrics) in that window
# dereferenced NULL and killed the daemon.  Clients hammer those endpoints
# from before the daemon starts, across many starts.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
write_config <<'YAML'
server: {port: @PORT@, threads: 16} # many listeners: a wider start-up window
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
YAML
start_daemon # picks and holds a free port for the rounds below
stop_daemon TERM

# hammer PORT PATH: connect as fast as possible, send PATH, read the status
# line (bash's /dev/tcp: no process per attempt, so the first connection
# lands right after listen())
hammer() {
	while [ ! -e "$TMP/stop" ]; do
		if exec 3<>"/dev/tcp/127.0.0.1/$1"; then
			printf 'GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$2" >&3
			read -r -t 1 -u 3 line || true
			exec 3>&-
			[ "${line#HTTP/1.1 }" = "$line" ] || echo "$2 ${line#HTTP/1.1 }" >> "$TMP/answers"
		fi 2>/dev/null
	done
}

rounds=40
for round in $(seq 1 $rounds); do
	rm -f "$TMP/stop"
	pids=()
	hammer "$PORT" /api/admin/reload & pids+=($!)
	hammer "$PORT" /api/admin/reload & pids+=($!)
	hammer "$MPORT" /metrics & pids+=($!)
	! sanitizer_report_in_log || fail "round $((round - 1)): a sanitizer report in the daemon's log"
	: > "$LOG"
	"$ES_DAEMON" -c "$CONFIG" >> "$LOG" 2>&1 &
	DAEMON_PID=$!
	wait_until "round $round: ready (or dead)" 20 eval 'http_ready || daemon_exited'
	touch "$TMP/stop"
	wait "${pids[@]}"
	daemon_exited && fail "round $round: the daemon died while requests arrived during its start"
	stop_daemon TERM
	[ "$EXIT_CODE" = 0 ] || fail "round $round: exit code $EXIT_CODE"
done
answered=$(wc -l < "$TMP/answers" 2>/dev/null || echo 0)
[ "$answered" -gt 0 ] || fail "no request was answered: the test did not reach the daemon"
bad=$(grep -v -E ' (200|503)' "$TMP/answers" || true)
[ -z "$bad" ] || fail "unexpected answers during start: $(echo "$bad" | sort | uniq -c | head)"
pass "$rounds starts with reload and metrics requests from the first moment: no crash ($answered answered)"
