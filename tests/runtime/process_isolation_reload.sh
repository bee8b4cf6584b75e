#!/bin/bash
# Reload replaces an isolated plugin's process like an in-process
# instance: events are triggered continuously while the plugin file is
# swapped v1 <-> v2; every accepted event is delivered exactly once (by
# whichever version was in force), each retired process is stopped and
# reaped (its shutdown() ran, its pid is gone) and only the current one runs.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin versioned_v1 versioned
write_config <<'YAML'
server: {port: @PORT@, threads: 2}
logging: {format: text, access_log: false}
plugins:
  directory: @PLUGDIR@
  settings:
    versioned: {isolation: process, workers: 2, config: {record: @TMP@/versioned.txt}}
YAML
start_daemon

client() { # N
	local i=0
	while [ ! -f "$TMP/stop" ]; do
		i=$((i + 1))
		curl -s -o /dev/null -w "%{http_code} c$1-$i\n" -H 'Content-Type: application/json' \
			-d "{\"name\":\"load.event\",\"id\":\"c$1-$i\"}" "http://127.0.0.1:$PORT/api/events/trigger" \
			>> "$TMP/client$1.txt" || echo "000 c$1-$i" >> "$TMP/client$1.txt"
	done
}
client 1 &
c1=$!
client 2 &
c2=$!

all_pids=$(plugin_field versioned '.processes.pids[]')
requests_made() { cat "$TMP"/client*.txt 2>/dev/null | wc -l; }
swaps=0
give_up=$(($(date +%s) + 60))
while [ $swaps -lt 6 ] || { [ "$(requests_made)" -lt 100 ] && [ "$(date +%s)" -lt $give_up ]; }; do
	swaps=$((swaps + 1))
	v=$(( swaps % 2 == 1 ? 2 : 1 ))
	install -m 0644 "$ES_TEST_PLUGINS/versioned_v$v.so" "$PLUGDIR/versioned.so"
	st=$(curl -s -o "$TMP/reload.json" -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/api/admin/reload")
	[ "$st" = 200 ] || { touch "$TMP/stop"; fail "reload $swaps answered $st: $(cat "$TMP/reload.json")"; }
	all_pids="$all_pids $(plugin_field versioned '.processes.pids[]')"
	sleep 0.1
done
touch "$TMP/stop"
wait $c1 $c2

cat "$TMP/client1.txt" "$TMP/client2.txt" > "$TMP/all.txt"
total=$(wc -l < "$TMP/all.txt")
failed=$(grep -vc '^202 ' "$TMP/all.txt" || true)
[ "$failed" = 0 ] || fail "$failed of $total requests failed: $(grep -v '^202 ' "$TMP/all.txt" | head -3)"
awk '{print $2}' "$TMP/all.txt" | sort > "$TMP/accepted.ids"
wait_until "all $total delivered" 20 lines_at_least "$TMP/versioned.txt" " load.event " "$total"
awk '{print $3}' "$TMP/versioned.txt" | sort > "$TMP/versioned.ids"
dupes=$(uniq -d "$TMP/versioned.ids" | wc -l)
[ "$dupes" = 0 ] || fail "$dupes events were delivered more than once"
cmp -s "$TMP/accepted.ids" "$TMP/versioned.ids" || fail "the plugin did not receive exactly the accepted events"
grep -q ' v1$' "$TMP/versioned.txt" && grep -q ' v2$' "$TMP/versioned.txt" || fail "not both versions delivered"

current=$(plugin_field versioned '.processes.pids[]' | sort -n | tr '\n' ' ')
[ "$(echo $current | wc -w)" = 2 ] || fail "expected two current processes, got: $current"
retired=0
for pid in $(echo $all_pids | tr ' ' '\n' | sort -un); do
	case " $current" in *" $pid "*) continue ;; esac
	retired=$((retired + 1))
	expect_log "\[versioned\] plugin process $pid stopped"
	kill -0 "$pid" 2>/dev/null && fail "retired process $pid still exists"
done
[ "$retired" = $((2 * swaps)) ] || fail "expected $((2 * swaps)) retired processes, found $retired"
pass "$total events across $swaps reloads of an isolated plugin: each delivered once, $retired processes retired and reaped"
