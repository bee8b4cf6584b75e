# Shared helpers for the runtime tests: each test starts the real daemon
# (built in this tree) with a config it writes, real .so files copied into a
# private plugin directory, and talks to it over HTTP on loopback with curl.
# Sourced by the tests; `set -eu` is theirs.

: "${ES_DAEMON:?run through make check}"
: "${ES_TEST_PLUGINS:?run through make check}"
: "${ES_BUNDLED_PLUGINS:?run through make check}"

TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "/tmp/es-$TEST_NAME-XXXXXX")
chmod 755 "$TMP"
PLUGDIR="$TMP/plugins"
mkdir -m 755 "$PLUGDIR"
CONFIG="$TMP/config.yaml"
# The state directory (crash file, crash history) as systemd's
# StateDirectory= hands it over: each test its own, never the machine's.
STATE_DIR="$TMP/state"
mkdir -m 700 "$STATE_DIR"
export STATE_DIRECTORY="$STATE_DIR"
LOG="$TMP/daemon.log"
DAEMON_PID=
PORT=
STATUS=
BODY=

# A sanitizer report in the daemon's log fails the test, even when the
# daemon went on (or the report came at exit): checked before each start
# truncates the log, and at the end.
SANITIZER_REPORT='WARNING: ThreadSanitizer\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:'
sanitizer_report_in_log() {
	[ -f "$LOG" ] && grep -q -- "$SANITIZER_REPORT" "$LOG"
}

cleanup() {
	local report=
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -KILL "$DAEMON_PID" 2>/dev/null || true
	fi
	if sanitizer_report_in_log; then
		echo "FAIL ($TEST_NAME): a sanitizer report in the daemon's log:" >&2
		grep -A30 -- "$SANITIZER_REPORT" "$LOG" | head -60 >&2
		report=1
	fi
	if [ "${KEEP_TMP:-}" = "" ]; then rm -rf "$TMP"; fi
	for p in ${HELD_PORTS:-}; do rm -rf "${PORT_LOCKS:?}/$p"; done
	# otherwise the test's own exit status stands
	[ -z "$report" ] || exit 1
}
trap cleanup EXIT

fail() {
	echo "FAIL ($TEST_NAME): $*" >&2
	if [ -f "$LOG" ]; then
		echo "---- daemon log (last 40 lines) ----" >&2
		tail -n 40 "$LOG" >&2
	fi
	exit 1
}

pass() {
	echo "ok: $*"
}

# promtool_checked FILE: `promtool check metrics` on a /metrics text must
# pass (fails the test); 1 when promtool is not installed (the caller says
# the lint was skipped), except with ES_REQUIRE_PROMTOOL=1 (scripts/test.sh:
# install-deps.sh installed it), where a missing promtool fails the test.
promtool_checked() {
	if ! command -v promtool >/dev/null; then
		[ "${ES_REQUIRE_PROMTOOL:-}" != 1 ] || fail "promtool not found (install the Debian package prometheus)"
		echo "promtool not installed (Debian package prometheus): lint skipped"
		return 1
	fi
	promtool check metrics < "$1" > "$TMP/promtool.txt" 2>&1 || fail "promtool check metrics: $(cat "$TMP/promtool.txt")"
}

# stage_plugin NAME [AS]: copy a built plugin into the plugin directory
stage_plugin() {
	local name=$1 as=${2:-$1} src
	if [ -f "$ES_TEST_PLUGINS/$name.so" ]; then
		src="$ES_TEST_PLUGINS/$name.so"
	else
		src="$ES_BUNDLED_PLUGINS/$name/.libs/$name.so"
	fi
	[ -f "$src" ] || fail "no built plugin $name at $src"
	install -m 0644 "$src" "$PLUGDIR/$as.so"
}

# write_config: the config from stdin; @PORT@, @TMP@ and @PLUGDIR@ are filled in
write_config() {
	cat > "$CONFIG.in"
}

# write_plugin_settings: a config with the usual head (the test's port,
# text logs, the plugin directory) and, from stdin, the lines under
# plugins.settings (indented by four).  Top-level sections of the test's
# own (auth:, event: ...) go in CONFIG_HEAD, set for the call:
#   CONFIG_HEAD="auth: {tokens: [...]}" write_plugin_settings <<'YAML'
write_plugin_settings() {
	{
		printf 'server: {port: @PORT@}\nlogging: {format: text}\n'
		[ -z "${CONFIG_HEAD:-}" ] || printf '%s\n' "$CONFIG_HEAD"
		printf 'plugins:\n  directory: @PLUGDIR@\n  settings:\n'
		cat
	} > "$CONFIG.in"
}

# isolated_misbehave_settings [LINE...]: for write_plugin_settings' stdin,
# the settings of the misbehave test plugin in its own process (one worker,
# one attempt, recording to @TMP@/misbehave.txt) with each LINE one more
# setting of it ("quarantine_after: 2"), and $MISBEHAVE_CONFIG more keys of
# its config ("marker: @TMP@/marker").  Other plugins' lines follow it:
#   { isolated_misbehave_settings; echo '    recorder: {...}'; } | write_plugin_settings
isolated_misbehave_settings() {
	local line
	printf '    misbehave:\n      isolation: process\n      workers: 1\n      max_attempts: 1\n'
	for line in "$@"; do printf '      %s\n' "$line"; done
	printf '      config: {record: @TMP@/misbehave.txt%s}\n' "${MISBEHAVE_CONFIG:+, $MISBEHAVE_CONFIG}"
}

# A config without a metrics section gets the metrics endpoint on PORT+1
# (@MPORT@), so parallel tests never share the default 9090.
render_config() {
	MPORT=$((PORT + 1))
	sed -e "s|@PORT@|$PORT|g" -e "s|@MPORT@|$MPORT|g" -e "s|@TMP@|$TMP|g" -e "s|@PLUGDIR@|$PLUGDIR|g" \
		"$CONFIG.in" > "$CONFIG"
	grep -q '^metrics:' "$CONFIG" || echo "metrics: {port: $MPORT}" >> "$CONFIG"
}

# wait_until DESCRIPTION SECONDS COMMAND...: poll COMMAND until it succeeds.
# COMMAND runs again on each poll, but its arguments were expanded once, by
# the caller: to wait for a value, poll `prints VALUE COMMAND...`, never
# `test "$(COMMAND)" = VALUE` (its "$(...)" is read once, before the wait).
wait_until() {
	local what=$1 secs=$2
	shift 2
	local deadline=$(($(date +%s%N) / 1000000 + secs * 1000))
	while ! "$@" >/dev/null 2>&1; do
		if [ $(($(date +%s%N) / 1000000)) -ge $deadline ]; then
			fail "timed out after ${secs}s waiting for: $what"
		fi
		sleep 0.02
	done
}

# prints EXPECTED COMMAND...: COMMAND's output (without its trailing
# newline) is EXPECTED; for wait_until, which runs COMMAND on every poll
prints() {
	local expected=$1
	shift
	[ "$("$@")" = "$expected" ]
}

# The mistake prints() replaces is easy to make again: a test that waits on
# a value it read once refuses to run.  A best effort over the test's own
# lines, one at a time: a `bash -c '...'` that is read again on each poll
# passes, and a wait split over lines is not seen.
if grep -n 'wait_until .*"\$(' "$0" | grep -v '^[0-9]*:[[:space:]]*#' | grep -v "bash -c '" |
	grep -q 'test \|\[ '; then
	echo "FAIL ($TEST_NAME): wait_until with a \"\$(...)\" read once, before the wait: poll with prints" >&2
	exit 1
fi

http_ready() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/ready")" = 200 ]
}

daemon_exited() {
	! kill -0 "$DAEMON_PID" 2>/dev/null
}

# Tests run in parallel: a port (and the three after it) is reserved with
# an atomic mkdir so two tests never pick the same one -- otherwise one
# test's /ready could be answered by another test's daemon.  A reservation
# whose test is gone is taken over.
PORT_LOCKS=/tmp/es-test-ports
reserve_port() {
	mkdir -p -m 1777 "$PORT_LOCKS" 2>/dev/null || true
	if ! mkdir "$PORT_LOCKS/$1" 2>/dev/null; then
		local owner
		owner=$(cat "$PORT_LOCKS/$1/owner" 2>/dev/null || echo 0)
		if [ "$owner" != 0 ] && kill -0 "$owner" 2>/dev/null; then return 1; fi
		rm -rf "$PORT_LOCKS/$1"
		mkdir "$PORT_LOCKS/$1" 2>/dev/null || return 1
	fi
	echo $$ > "$PORT_LOCKS/$1/owner"
	HELD_PORTS="${HELD_PORTS:-} $1"
}

# start_daemon [ARGS...]: start on a free port and wait until /ready answers
# (within $READY_TIMEOUT_S seconds, 20 unless set: a daemon under valgrind
# on a loaded machine needs more)
start_daemon() {
	local try
	for try in 1 2 3 4 5; do
		# below the kernel's ephemeral range (32768+), so no client socket
		# holds it; even, so PORT+1 (metrics) and PORT+2 stay free for the test
		PORT=$((10000 + (RANDOM * 32768 + RANDOM) % 22000 / 4 * 4))
		reserve_port "$PORT" || continue
		render_config
		! sanitizer_report_in_log || fail "a sanitizer report in the log of the daemon started before"
		: > "$LOG"
		"$ES_DAEMON" -c "$CONFIG" "$@" >> "$LOG" 2>&1 &
		DAEMON_PID=$!
		local deadline=$(($(date +%s) + ${READY_TIMEOUT_S:-20}))
		while [ "$(date +%s)" -lt $deadline ]; do
			if http_ready && ! daemon_exited; then return 0; fi
			if daemon_exited; then break; fi
			sleep 0.02
		done
		if daemon_exited && grep -qi "address already in use" "$LOG"; then
			continue
		fi
		fail "daemon did not become ready within ${READY_TIMEOUT_S:-20} s"
	done
	fail "no free port found"
}

# metric_value SERIES: the value of SERIES (with its labels, as written)
# in the running daemon's /metrics
metric_value() {
	curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

# open_fds_on FILE: how many of the running daemon's descriptors have FILE
# open (a plugin instance that was not unloaded keeps its files)
open_fds_on() {
	local fd n=0
	for fd in /proc/"$DAEMON_PID"/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" = "$1" ] && n=$((n + 1))
	done
	echo $n
}

# stop_daemon [SIGNAL]: signal the daemon and wait ($STOP_TIMEOUT_S seconds
# at most, 20 unless set); sets EXIT_CODE
stop_daemon() {
	local sig=${1:-TERM} secs=${STOP_TIMEOUT_S:-20}
	kill -"$sig" "$DAEMON_PID"
	local deadline=$(($(date +%s) + secs))
	while kill -0 "$DAEMON_PID" 2>/dev/null; do
		[ "$(date +%s)" -lt $deadline ] || fail "daemon did not stop within $secs s of SIG$sig"
		sleep 0.02
	done
	EXIT_CODE=0
	wait "$DAEMON_PID" || EXIT_CODE=$?
	DAEMON_PID=
}

# request METHOD PATH [BODY [CONTENT-TYPE]]: sets STATUS and BODY (headers in $TMP/headers);
# STATUS 000 and BODY empty when no answer came (the daemon died first)
request() {
	local method=$1 path=$2 body=${3:-} ctype=${4:-application/json}
	local args=(-s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' -X "$method")
	if [ -n "$body" ]; then args+=(-H "Content-Type: $ctype" --data-binary "$body"); fi
	rm -f "$TMP/body"
	STATUS=$(curl "${args[@]}" "http://127.0.0.1:$PORT$path") || STATUS=000
	BODY=$(cat "$TMP/body" 2>/dev/null || true)
}

# trigger NAME [DATA-JSON]: POST one event
trigger() {
	request POST /api/events/trigger "{\"name\":\"$1\",\"data\":${2:-null}}"
}

expect_status() {
	[ "$STATUS" = "$1" ] || fail "expected HTTP $1, got $STATUS: $BODY"
}

expect_body() {
	case "$BODY" in
	*"$1"*) ;;
	*) fail "expected the body to contain '$1', got: $BODY" ;;
	esac
}

# expect_log PATTERN: the daemon's log has a line matching PATTERN, within
# 10 s: many lines are written a moment after what a test can see (a
# counter, an answer, a record file), and each HTTP thread flushes its own
# access-log buffer
expect_log() {
	local deadline=$(($(date +%s%N) / 1000000 + 10000))
	until grep -q -- "$1" "$LOG"; do
		[ $(($(date +%s%N) / 1000000)) -lt $deadline ] || fail "expected the log to contain '$1'"
		sleep 0.02
	done
}

log_has() {
	grep -q -- "$1" "$LOG"
}

# lines_in FILE PATTERN: how many lines of FILE match
lines_in() {
	if [ -f "$1" ]; then grep -c -- "$2" "$1" || true; else echo 0; fi
}

lines_at_least() {
	[ "$(lines_in "$1" "$2")" -ge "$3" ]
}

# plugin_field PLUGIN JQ: a field of PLUGIN's entry in GET /api/plugins
# (with $API_TOKEN when set), e.g. plugin_field crash '.processes.pids[0]'
plugin_field() {
	curl -s ${API_TOKEN:+-H "Authorization: Bearer $API_TOKEN"} "http://127.0.0.1:$PORT/api/plugins" |
		jq -r --arg p "$1" ".plugins[] | select(.name == \$p) | $2"
}

# admin_post PATH BODY: POST a JSON body with the admin token $API_TOKEN;
# sets STATUS and BODY
admin_post() {
	rm -f "$TMP/body"
	STATUS=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $API_TOKEN" \
		-H 'Content-Type: application/json' -X POST --data-binary "$2" "http://127.0.0.1:$PORT$1") || STATUS=000
	# no answer (the daemon died before it wrote one): STATUS 000, no body
	BODY=$(cat "$TMP/body" 2>/dev/null || true)
}

# plugins_json: GET /api/plugins (with $API_TOKEN when set)
plugins_json() {
	curl -s ${API_TOKEN:+-H "Authorization: Bearer $API_TOKEN"} "http://127.0.0.1:$PORT/api/plugins"
}

# plugin_states_are PLUGIN JSON: for wait_until; the states of all of
# PLUGIN's entries in GET /api/plugins, as a JSON list without repeats, are
# JSON, e.g. '["quarantined"]' (a quarantined isolated plugin has two
# entries: the loaded plugin and its quarantine record; a plugin gone from
# the list is '[]')
plugin_states_are() {
	[ "$(plugins_json | jq -c --arg p "$1" '[.plugins[] | select(.name == $p) | .state] | unique')" = "$2" ]
}

# health_status: the status GET /health reports (ok, degraded ...)
health_status() {
	curl -s "http://127.0.0.1:$PORT/health" | jq -r .status
}

# health_is STATUS: for wait_until
health_is() {
	[ "$(health_status)" = "$1" ]
}

# first_process PLUGIN: the pid of the first process of PLUGIN's first
# entry in GET /api/plugins ("null" when none runs)
first_process() {
	plugins_json | jq -r --arg p "$1" '[.plugins[] | select(.name == $p)][0].processes.pids[0]'
}

# other_process_runs PLUGIN PID: for wait_until; PLUGIN has a live process
# and it is not PID (0: any), e.g. the one that replaced a crashed child
other_process_runs() {
	local pid
	pid=$(first_process "$1")
	[ -n "$pid" ] && [ "$pid" != null ] && [ "$pid" != "$2" ] && kill -0 "$pid"
}

# crash_misbehave_twice: two mb.crash events for the isolated misbehave
# test plugin, the second once a new process replaced the first crash's
# (with quarantine_after: 2 the second crash quarantines the plugin)
crash_misbehave_twice() {
	local first_pid
	first_pid=$(first_process misbehave)
	trigger mb.crash
	expect_status 202
	wait_until "the first crash restarted" 10 other_process_runs misbehave "$first_pid"
	trigger mb.crash
	expect_status 202
}

# plugin_state_is PLUGIN STATE: for wait_until (running, quarantined, ...)
plugin_state_is() {
	[ "$(plugin_field "$1" .state)" = "$2" ]
}

# let_fatal_signals_kill: for tests whose plugins crash on purpose.  Under a
# sanitizer its own SEGV report would stand in for the default action (and
# fail the test as a sanitizer report): let the signal kill.
let_fatal_signals_kill() {
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0"
	export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS }handle_segv=0"
}

# expect_death WHAT SECONDS CODE: wait for the daemon to die (of WHAT) and
# check its exit code (139: SIGSEGV); sets EXIT_CODE
expect_death() {
	wait_until "the daemon died $1" "$2" daemon_exited
	EXIT_CODE=0
	wait "$DAEMON_PID" || EXIT_CODE=$?
	DAEMON_PID=
	[ "$EXIT_CODE" = "$3" ] || fail "expected the daemon to die $1 with exit code $3, got $EXIT_CODE"
}

# start_or_die SETTLED: start the daemon when it may die during its start
# (a redelivery crashing it).  Returns once it is ready and SETTLED (a
# command) succeeds, or once it died: DIED=1 and EXIT_CODE.  The log of
# the start before is kept in $TMP/all.log.
start_or_die() {
	local settled=$1 try
	DIED=0
	for try in 1 2 3 4 5; do
		PORT=$((10000 + (RANDOM * 32768 + RANDOM) % 22000 / 4 * 4))
		reserve_port "$PORT" || continue
		render_config
		! sanitizer_report_in_log || fail "a sanitizer report in the log of the daemon started before"
		cat "$LOG" >> "$TMP/all.log" 2>/dev/null || true
		: > "$LOG"
		"$ES_DAEMON" -c "$CONFIG" >> "$LOG" 2>&1 &
		DAEMON_PID=$!
		wait_until "the daemon ready and settled, or dead" 60 ready_and_or_dead "$settled"
		if daemon_exited; then
			EXIT_CODE=0
			wait "$DAEMON_PID" || EXIT_CODE=$?
			DAEMON_PID=
			grep -qi "address already in use" "$LOG" && continue
			DIED=1
		fi
		return 0
	done
	fail "no free port found"
}
ready_and_or_dead() {
	daemon_exited || { http_ready && "$1"; }
}

# check_config CODE: run --check-config on the config (no port is bound)
# and expect exit code CODE; its output in CHECK_OUT
check_config() {
	PORT=18000 # --check-config binds nothing; start_daemon picks the real port
	render_config
	local code=0
	CHECK_OUT=$("$ES_DAEMON" -c "$CONFIG" --check-config 2>&1) || code=$?
	[ "$code" = "$1" ] || fail "--check-config exited $code (expected $1): $CHECK_OUT"
}

# plugin_counter PLUGIN FIELD: a counter from GET /api/plugins (with $API_TOKEN when set)
plugin_counter() {
	curl -s ${API_TOKEN:+-H "Authorization: Bearer $API_TOKEN"} "http://127.0.0.1:$PORT/api/plugins" |
		jq -r --arg p "$1" --arg f "$2" '.plugins[] | select(.name == $p) | (.counters[$f] // .[$f])'
}

# counter_at_least PLUGIN FIELD N: for wait_until (re-reads the counter each time)
counter_at_least() {
	local v
	v=$(plugin_counter "$1" "$2")
	[ -n "$v" ] && [ "$v" -ge "$3" ]
}

# build_named_plugins DIR COUNT: COUNT plugins accepting every event, named
# p00-<52 x's> ... (60 characters each, the loader allows 64), built from
# tests/plugins/named.c into DIR (not the plugin directory: a test copies
# them in when it wants them), with the build's sanitizer flags (a TSan
# daemon's plugins are built with TSan too).
NAMED_PLUGIN_PAD=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
build_named_plugins() {
	local dir=$1 count=$2 i name
	mkdir -p "$dir"
	for i in $(seq -w 0 $((count - 1))); do
		name=$(printf 'p%02d-%s' "$((10#$i))" "$NAMED_PLUGIN_PAD")
		cc -std=c11 -O0 -shared -fPIC ${ES_SANITIZER_CFLAGS:-} -I"$ES_TOP_SRCDIR/sdk/include" -DNAMED_PLUGIN="\"$name\"" \
			-o "$dir/$name.so" "$ES_TOP_SRCDIR/tests/plugins/named.c" || fail "building plugin $name failed"
	done
}
