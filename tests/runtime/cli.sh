#!/bin/bash
# The command line an operator meets first: --version, --help, --check-config
# (success, and each problem as file:line:column), and refusing to start on
# a bad config or a busy port with one clear line.
set -eu
. "$(dirname "$0")/lib.sh"

out=$("$ES_DAEMON" --version)
echo "$out" | head -1 | grep -qx 'Event System v1\.0\.0' || fail "--version first line: $out"
echo "$out" | grep -q '^Build time: [0-9]\{4\}-[0-9][0-9]-[0-9][0-9] ' || fail "--version lacks Build time: $out"
for what in Compiler libevent libyaml cJSON 'MySQL client' 'Plugin ABI: 1\.1'; do
	echo "$out" | grep -q "^$what" || fail "--version lacks '$what'"
done
pass "--version prints version, build time, toolchain, libraries and ABI"

help=$("$ES_DAEMON" --help)
for opt in --config --plugin-dir --check-config --version --help; do
	echo "$help" | grep -q -- "$opt" || fail "--help does not list $opt"
done
"$ES_DAEMON" --bogus >/dev/null 2>&1 && fail "an unknown option was accepted"
pass "--help lists every option; unknown options are refused"

stage_plugin recorder
stage_plugin example
write_config <<'YAML'
server: {port: @PORT@}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {subscribe: ["a.*"]}
YAML
PORT=1
render_config
out=$("$ES_DAEMON" -c "$CONFIG" --check-config 2>/dev/null) || fail "--check-config failed on a good config: $out"
echo "$out" | grep -q "plugin recorder 0.1.0 (ABI 1.1)" || fail "--check-config did not list recorder: $out"
echo "$out" | grep -q "plugin example 1.0.0" || fail "--check-config did not list example: $out"
echo "$out" | grep -q "check passed" || fail "--check-config did not pass: $out"
pass "--check-config lists the plugins it loaded and exits 0"

cat > "$TMP/bad.yaml" <<'YAML'
server:
  port: 99999
event:
  async_wrokers: 4
logging:
  level: loud
YAML
rc=0
out=$("$ES_DAEMON" -c "$TMP/bad.yaml" --check-config 2>/dev/null) || rc=$?
[ $rc -ne 0 ] || fail "--check-config accepted a bad config"
echo "$out" | grep -q "^$TMP/bad.yaml:2:9: server.port must be between 1 and 65535" || fail "no port error: $out"
echo "$out" | grep -q "^$TMP/bad.yaml:4:3: unknown key 'async_wrokers' in event" || fail "no typo error: $out"
echo "$out" | grep -q "^$TMP/bad.yaml:6:10: logging.level must be" || fail "no level error: $out"
pass "--check-config reports every problem as file:line:column: message"

stage_plugin wrong_abi
rc=0
out=$("$ES_DAEMON" -c "$CONFIG" --check-config 2>/dev/null) || rc=$?
[ $rc -ne 0 ] || fail "--check-config passed with a broken plugin"
echo "$out" | grep -q "wrong_abi.so: plugin refused: plugin was built for ABI 2.0" || fail "no ABI problem: $out"
rm "$PLUGDIR/wrong_abi.so"
pass "--check-config fails on a plugin the host would refuse"

rc=0
"$ES_DAEMON" -c "$TMP/bad.yaml" > "$TMP/start.log" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "the daemon started on a bad config"
grep -q "bad.yaml:2:9: server.port must be between" "$TMP/start.log" || fail "start did not log the config error"
grep -q "not starting: .*bad.yaml has errors" "$TMP/start.log" || fail "start did not say why it stopped"
pass "a bad config stops the start with the problem logged"

EVENT_SYSTEM_CONFIG="$CONFIG" "$ES_DAEMON" --check-config >/dev/null 2>&1 || fail "EVENT_SYSTEM_CONFIG was not used"
pass "EVENT_SYSTEM_CONFIG names the config file"

start_daemon
first_port=$PORT
rc=0
"$ES_DAEMON" -c "$CONFIG" > "$TMP/second.log" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "a second daemon started on a port in use"
grep -q "cannot listen on 127.0.0.1:$first_port: address already in use" "$TMP/second.log" ||
	fail "port in use not reported: $(cat "$TMP/second.log")"
pass "a port in use is reported in one line"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "SIGTERM exit code $EXIT_CODE"
expect_log "stopped"
pass "SIGTERM stops the daemon with exit code 0"
