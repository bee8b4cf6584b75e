#!/bin/bash
# A full start, some traffic (deliveries, a retry, a refused plugin) and a
# stop under valgrind: no invalid access, no definite leak.
set -eu
. "$(dirname "$0")/lib.sh"
command -v valgrind >/dev/null || { echo "valgrind not installed: skipped"; exit 77; }
[ "${ES_SANITIZERS:-no}" != yes ] && [ "${ES_TSAN:-no}" != yes ] ||
	{ echo "sanitizer build: valgrind cannot run it; skipped"; exit 77; }

stage_plugin recorder
stage_plugin flaky
stage_plugin log
stage_plugin wrong_abi
write_config <<'YAML'
server: {port: @PORT@, threads: 2}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  defaults: {backoff_initial_ms: 10, backoff_max_ms: 20}
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
    flaky: {config: {succeed_on_attempt: 2}}
    log: {config: {path: @TMP@/events.log}}
YAML
real_daemon=$ES_DAEMON
ES_DAEMON="$TMP/vg-daemon"
cat > "$ES_DAEMON" <<SH
#!/bin/sh
exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite --log-file="$TMP/valgrind.txt" "$real_daemon" "\$@"
SH
chmod +x "$ES_DAEMON"
# valgrind runs the daemon 20-50 times slower: a start took over 20 s on a
# loaded machine
READY_TIMEOUT_S=120 start_daemon
for i in $(seq 1 20); do trigger "flaky.e$i" '{"n":1}'; expect_status 202; done
request POST /api/events/trigger '{"bad json'
expect_status 400
wait_until "deliveries done" 120 lines_at_least "$TMP/recorder.txt" "recorder flaky" 20
request GET /api/plugins
request GET /health
kill -HUP "$DAEMON_PID"
wait_until "reopen" 60 log_has "reopened"
STOP_TIMEOUT_S=120 stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || { cat "$TMP/valgrind.txt" >&2; fail "valgrind reported errors (exit $EXIT_CODE)"; }
[ ! -s "$TMP/valgrind.txt" ] || { cat "$TMP/valgrind.txt" >&2; fail "valgrind printed a report"; }
pass "start, traffic, SIGHUP and stop are clean under valgrind"
