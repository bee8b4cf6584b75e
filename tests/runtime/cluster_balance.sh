#!/bin/bash
# Scale-out (queue.backend: jetstream): three daemons on a three-server
# JetStream cluster (replicas 3).  Events triggered on all three nodes are
# handled exactly once per matching plugin, by nodes spread over the
# cluster; a client's retry with the same id inside the duplicate window is
# stored (and handled) once; a node without a plugin does not consume it.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

stage_plugin recorder
stage_plugin slow
nats_start 3
for i in 0 1 2; do
	node_reserve "$i"
	node_config "$i" <<'EOF'
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: "@TMP@/rec@NODE@.txt"}, queue_size: 50}
    slow: {config: {record: "@TMP@/rec@NODE@.txt", delay_ms: 5}, subscribe: ["slow.**"], workers: 2, queue_size: 10}
EOF
	node_start "$i"
done
pass "three nodes healthy on a three-server JetStream cluster"

# send NODE FIRST LAST: events FIRST..LAST to NODE, one at a time; every
# other one is also for `slow`.  Writes "<id> <status>" lines.
send() {
	local node=$1 n
	for n in $(seq "$2" "$3"); do
		local name=order.created
		[ $((n % 2)) = 0 ] && name=slow.job
		echo "ev-$n $(node_trigger "$node" "$name" "ev-$n")"
	done > "$TMP/answers$node"
}
N=300
send 0 1 100 &
s0=$!
send 1 101 200 &
s1=$!
send 2 201 300 &
s2=$!
wait $s0 $s1 $s2
accepted=$(cat "$TMP"/answers? | awk '$2 == 202' | wc -l)
[ "$accepted" = $N ] || cluster_fail "only $accepted of $N triggers were answered 202: $(awk '$2 != 202' "$TMP"/answers? | head -5)"
pass "$N triggers on three nodes answered 202 (after JetStream acknowledged them)"

wait_until "recorder handled every event" 30 handled_at_least recorder $N
wait_until "slow handled every slow.job" 30 handled_at_least slow $((N / 2))
# a little longer for any second delivery to show (there must be none):
# poll the consumers until nothing is pending or waiting for an ack
consumers_idle() {
	local m=$((NATS_PORTS[0] + 2)) busy
	busy=$(curl -s "http://127.0.0.1:$m/jsz?consumers=true" |
		jq '[.account_details[].stream_detail[].consumer_detail[]? | .num_pending + .num_ack_pending] | add // 0')
	[ "$busy" = 0 ]
}
wait_until "every consumer idle" 20 consumers_idle
for p in recorder slow; do
	total=$(records $p | wc -l)
	distinct=$(distinct_handled $p)
	[ "$total" = "$distinct" ] || cluster_fail "$p handled $total deliveries of $distinct events: duplicates without a failure"
done
[ "$(records slow | grep -c -v '^ev-[0-9]*[02468]$' || true)" = 0 ] || cluster_fail "slow handled an event it does not subscribe to"
pass "each event handled exactly once per matching plugin ($N by recorder, $((N / 2)) by slow)"

wait_until "each of the three nodes handling some events" 60 each_node_handles recorder order.created 3
for i in 0 1 2; do echo "node $i: recorder handled $(awk '$1 == "recorder" && $5 == "ok"' "$TMP/rec$i.txt" | wc -l)"; done
echo "($EXTRA_SENT events sent after the $N)"
pass "the deliveries are spread over the three nodes"

# the consumers' state is refreshed every 2 s
lag_shown_zero() {
	curl -s "http://127.0.0.1:$((NODE_PORTS[0] + 1))/metrics" > "$TMP/metrics.txt"
	grep -q '^eventsys_jetstream_consumer_pending{plugin="slow"} 0$' "$TMP/metrics.txt"
}
wait_until "/metrics showing slow's consumer with nothing pending" 10 lag_shown_zero
grep -q '^eventsys_jetstream_connected 1$' "$TMP/metrics.txt" || cluster_fail "the link is not shown up in /metrics"
if command -v promtool >/dev/null; then
	promtool check metrics < "$TMP/metrics.txt" > "$TMP/promtool.txt" 2>&1 || cluster_fail "promtool: $(cat "$TMP/promtool.txt")"
fi
for name in $(grep -oh 'eventsys_jetstream_[a-z_]*' "$ES_TOP_SRCDIR/configs/prometheus/alerts.yml" "$ES_TOP_SRCDIR/configs/grafana/event-system.json" | sort -u); do
	grep -q "^# TYPE $name " "$TMP/metrics.txt" || cluster_fail "$name is used by the alerts or the dashboard but not exported"
done
pass "/metrics shows the link and each plugin's consumer (promtool-clean, every series the alerts and the dashboard use)"

# A client's retry of an accepted event (same id) inside the duplicate window
st=$(node_trigger 1 order.created ev-1)
[ "$st" = 202 ] || cluster_fail "the retry of ev-1 was answered $st"
dups() { curl -s "http://127.0.0.1:$((NODE_PORTS[1] + 1))/metrics" | awk '$1 == "eventsys_jetstream_publish_duplicates_total" {print $2}'; }
[ "$(dups)" = 1 ] || cluster_fail "JetStream did not see the retry as a duplicate (duplicates: $(dups))"
wait_until "every consumer idle after the retry" 20 consumers_idle
[ "$(records recorder | grep -c '^ev-1$')" = 1 ] || cluster_fail "the retried event was handled twice"
pass "a retry with the same event id is stored and handled once"

# An event whose data the daemon carries as base64 (a CloudEvent in binary
# mode with non-JSON data: the attribute `dataencoding` only the host may
# set) crosses JetStream intact and is handled, not dead-lettered
st=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/octet-stream' -H 'ce-specversion: 1.0' \
	-H 'ce-id: bin-1' -H 'ce-source: /test' -H 'ce-type: order.binary' --data-binary $'\x01\x02' \
	"http://127.0.0.1:${NODE_PORTS[0]}/api/events/trigger")
[ "$st" = 202 ] || cluster_fail "the binary CloudEvent was answered $st"
bin_handled() { records recorder | grep -q '^bin-1$'; }
wait_until "the binary CloudEvent handled" 20 bin_handled
pass "an event with base64 data (dataencoding) is carried and handled"

# A node without `slow` (node 2 restarted without it) does not consume it
node_kill 2
node_config 2 <<'EOF'
plugins:
  directory: @PLUGDIR@
  load_unconfigured: false
  settings:
    recorder: {config: {record: "@TMP@/rec@NODE@.txt"}, queue_size: 50}
EOF
node_start 2
before2=$(awk '$1 == "slow"' "$TMP/rec2.txt" | wc -l)
for n in $(seq 301 330); do
	[ "$(node_trigger $((n % 2)) slow.job "ev-$n")" = 202 ] || cluster_fail "trigger ev-$n refused"
done
wait_until "slow handled the new events" 20 handled_at_least slow $((N / 2 + 30))
after2=$(awk '$1 == "slow"' "$TMP/rec2.txt" | wc -l)
[ "$after2" = "$before2" ] || cluster_fail "node 2 handled slow events without running slow"
pass "a node without a plugin does not consume it; the others do"

nodes_stop
pass "every node stops cleanly on SIGTERM"
