#!/bin/bash
# Reloads under load: events are triggered continuously over HTTP while the
# versioned plugin is swapped v1 <-> v2 at least twenty times.  No request fails, and
# every accepted event reaches each matching plugin exactly once (the
# unchanged recorder, and versioned in whichever version was in force).
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
stage_plugin versioned_v1 versioned
write_config <<'YAML'
server: {port: @PORT@, threads: 2}
logging: {format: text, access_log: false}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
    versioned: {config: {record: @TMP@/versioned.txt}}
YAML
start_daemon

# Two clients, each POSTing events one after another until told to stop.
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

# At least twenty swaps, and on until the clients have made 200 requests
# (a loaded machine runs curl slowly), 90 s at most.
requests_made() { cat "$TMP"/client*.txt 2>/dev/null | wc -l; }
swaps=0
give_up=$(($(date +%s) + 90))
while [ $swaps -lt 20 ] || { [ "$(requests_made)" -lt 200 ] && [ "$(date +%s)" -lt $give_up ]; }; do
	swaps=$((swaps + 1))
	n=$swaps
	v=$(( n % 2 == 1 ? 2 : 1 ))
	install -m 0644 "$ES_TEST_PLUGINS/versioned_v$v.so" "$PLUGDIR/versioned.so"
	st=$(curl -s -o "$TMP/reload.json" -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/api/admin/reload")
	[ "$st" = 200 ] || { touch "$TMP/stop"; fail "reload $n answered $st: $(cat "$TMP/reload.json")"; }
	sleep 0.1
done
touch "$TMP/stop"
wait $c1 $c2

cat "$TMP/client1.txt" "$TMP/client2.txt" > "$TMP/all.txt"
total=$(wc -l < "$TMP/all.txt")
failed=$(grep -vc '^202 ' "$TMP/all.txt" || true)
[ "$failed" = 0 ] || fail "$failed of $total requests failed: $(grep -v '^202 ' "$TMP/all.txt" | head -3)"
[ "$total" -ge 200 ] || fail "only $total requests were made; the test needs load during the reloads"
pass "$total requests during $swaps reloads: none failed"

awk '{print $2}' "$TMP/all.txt" | sort > "$TMP/accepted.ids"
for plugin in recorder versioned; do
	file="$TMP/$plugin.txt"
	wait_until "$plugin delivered all $total" 20 lines_at_least "$file" " load.event " "$total"
	awk '{print $3}' "$file" | sort > "$TMP/$plugin.ids"
	dupes=$(uniq -d "$TMP/$plugin.ids" | wc -l)
	[ "$dupes" = 0 ] || fail "$plugin received $dupes events more than once"
	cmp -s "$TMP/accepted.ids" "$TMP/$plugin.ids" || fail "$plugin did not receive exactly the accepted events"
done
v1=$(grep -c ' v1$' "$TMP/versioned.txt" || true)
v2=$(grep -c ' v2$' "$TMP/versioned.txt" || true)
[ "$v1" -gt 0 ] && [ "$v2" -gt 0 ] || fail "both versions should have served: v1 $v1, v2 $v2"
pass "every accepted event reached recorder once and versioned once (v1: $v1, v2: $v2)"
gen=$(curl -s "http://127.0.0.1:$PORT/api/admin/reload" | jq .generation)
[ "$gen" = $((swaps + 1)) ] || fail "generation $gen after $swaps reloads"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
