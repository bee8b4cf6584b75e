#!/bin/bash
# 1,000 reload cycles, each replacing a plugin (v1 <-> v2: a new image
# loaded, an old one drained and unloaded): memory stays bounded and, under
# the sanitizer build, LeakSanitizer finds nothing at exit.  Also reports
# the reload latency (request to result).
set -eu
. "$(dirname "$0")/lib.sh"
cycles=${RELOAD_CYCLES:-1000}
rss_bound_kb=${RSS_BOUND_KB:-4096}

stage_plugin recorder
stage_plugin versioned_v1 versioned
write_config <<'YAML'
server: {port: @PORT@, threads: 1}
logging: {format: text, level: warn}
plugins:
  directory: @PLUGDIR@
  settings:
    versioned: {workers: 2, config: {record: @TMP@/versioned.txt}}
YAML
start_daemon
rss() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }

t0=$(date +%s%N)
for n in $(seq 1 "$cycles"); do
	install -m 0644 "$ES_TEST_PLUGINS/versioned_v$(( n % 2 + 1 )).so" "$PLUGDIR/versioned.so"
	st=$(curl -s -o "$TMP/r.json" -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/api/admin/reload")
	[ "$st" = 200 ] || fail "reload $n answered $st: $(cat "$TMP/r.json")"
	if [ $((n % 100)) = 0 ]; then
		trigger "cycle.n$n"
		expect_status 202
		echo "$n $(rss)" >> "$TMP/rss.txt"
	fi
done
ms=$((($(date +%s%N) - t0) / 1000000))
wait_until "events delivered" 10 lines_at_least "$TMP/versioned.txt" "cycle.n" $((cycles / 100))
gen=$(curl -s "http://127.0.0.1:$PORT/api/admin/reload" | jq .generation)
[ "$gen" = $((cycles + 1)) ] || fail "generation $gen after $cycles reloads"
last_ms=$(curl -s "http://127.0.0.1:$PORT/api/admin/reload" | jq .last.duration_ms)
pass "$cycles reloads, each replacing a plugin: $((ms / cycles)) ms per cycle over HTTP, last reload ${last_ms} ms inside the daemon"

first=$(awk 'NR == 1 {print $2}' "$TMP/rss.txt")
last=$(awk 'END {print $2}' "$TMP/rss.txt")
growth=$((last - first))
echo "RSS after 100 cycles: $first kB, after $cycles: $last kB (growth $growth kB)"
if [ "${ES_SANITIZERS:-no}" = yes ] || [ "${ES_TSAN:-no}" = yes ]; then
	echo "sanitizer build: RSS includes the sanitizer's shadow and history, not bounded here"
else
	[ $growth -le "$rss_bound_kb" ] || fail "RSS grew by $growth kB over $((cycles - 100)) reloads (bound $rss_bound_kb kB)"
	pass "RSS growth over the last $((cycles - 100)) reloads: $growth kB (bound $rss_bound_kb kB)"
fi
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE (a leak report under the sanitizers?)"
pass "clean exit after $cycles reloads"
