#!/bin/bash
# Scale-out: a daemon killed with SIGKILL under load loses nothing.  Three
# daemons share a three-server JetStream cluster; while events are
# triggered on all of them, node 1 is killed.  Every event answered 202 is
# handled at least once (its unacknowledged deliveries go to the other
# nodes after the ack wait); duplicates (handled on the killed node but not
# acknowledged) are counted and printed.  A daemon that acknowledged before
# its handler ran would lose the deliveries it held: this test fails then.
# Checked by hand: with `natsMsg_Ack(msg, NULL);` added to take_message() in
# host/core/js_consumers.c just before worker_pool_push_reserved() (the ack
# sent when the message is pulled, before the handler), this test fails with
# "timed out ... waiting for: every accepted event handled": the deliveries
# node 1 held in its queue when it was killed are never handled.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

stage_plugin slow
nats_start 3
for i in 0 1 2; do
	node_reserve "$i"
	# ack wait: 2 x timeout_ms = 2 s
	node_config "$i" <<'EOF'
plugins:
  directory: @PLUGDIR@
  settings:
    slow: {config: {record: "@TMP@/rec@NODE@.txt", delay_ms: 50}, subscribe: ["**"], workers: 1, queue_size: 20, timeout_ms: 1000}
EOF
	node_start "$i"
done
pass "three nodes healthy"

# send NODE FIRST LAST: one at a time; "<id> <status>" lines
send() {
	local node=$1 n
	for n in $(seq "$2" "$3"); do
		echo "ev-$n $(node_trigger "$node" job.run "ev-$n")"
	done > "$TMP/answers$node"
}
send 0 1 100 &
s0=$!
send 1 101 200 &
s1=$!
send 2 201 300 &
s2=$!
# kill node 1 once it holds deliveries (it has handled some and is busy)
node1_busy() { [ "$(awk '$5 == "ok"' "$TMP/rec1.txt" 2>/dev/null | wc -l)" -ge 10 ]; }
wait_until "node 1 handling events" 20 node1_busy
node_kill 1
pass "node 1 killed with SIGKILL under load"
wait $s0 $s1 $s2 || true

accepted=$(cat "$TMP"/answers? | awk '$2 == 202 {print $1}' | sort -u)
n_accepted=$(echo "$accepted" | wc -l)
n_refused=$(cat "$TMP"/answers? | awk '$2 != 202' | wc -l)
echo "accepted $n_accepted, not accepted $n_refused (sent to node 1 after it died)"
[ "$n_accepted" -ge 200 ] || cluster_fail "only $n_accepted triggers answered 202 on the two live nodes and node 1"

all_accepted_handled() {
	[ -z "$(comm -23 <(echo "$accepted") <(records slow | sort -u))" ]
}
wait_until "every accepted event handled (redelivered after the ack wait)" 30 all_accepted_handled
total=$(records slow | wc -l)
distinct=$(records slow | sort -u | wc -l)
echo "duplicates: $((total - distinct)) (handled on node 1 before the kill, not acknowledged)"
pass "every event answered 202 was handled at least once ($n_accepted accepted, $distinct handled)"

nodes_stop
pass "the surviving nodes stop cleanly"
