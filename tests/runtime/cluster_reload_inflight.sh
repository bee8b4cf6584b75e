#!/bin/bash
# queue.backend jetstream: a reload that replaces a plugin while it has
# deliveries pulled and queued (only its timeout_ms changes) keeps the
# daemon running, answers 200, and every accepted event is handled.  (The
# old puller's subscription used to be destroyed while the old instance
# still held messages pulled through it: acknowledging them read freed
# memory and the daemon died of SIGSEGV right after "no longer pulling".)
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

N=20
stage_plugin slow
slow_config() { # TIMEOUT_MS
	echo "plugins:
  directory: @PLUGDIR@
  load_unconfigured: false
  settings:
    slow: {config: {record: \"@TMP@/rec@NODE@.txt\", delay_ms: 200}, workers: 1, timeout_ms: $1}" | node_config 0
}

nats_start 1
node_reserve 0
slow_config 5000
node_start 0

for i in $(seq 1 $N); do
	st=$(node_trigger 0 slow.a "j$i")
	[ "$st" = 202 ] || cluster_fail "trigger $i answered $st"
done
# the puller has pulled some of them into the pool: deliveries in flight
wait_until "slow handling" 20 handled_at_least slow 1

slow_config 6000
st=$(curl -s -o "$TMP/reload.json" -w '%{http_code}' -m 60 -X POST \
	"http://127.0.0.1:${NODE_PORTS[0]}/api/admin/reload") || st=000
kill -0 "${NODE_PIDS[0]}" 2>/dev/null || {
	rc=0
	wait "${NODE_PIDS[0]}" || rc=$?
	NODE_PIDS[0]=
	cluster_fail "the daemon died during the reload (exit status $rc)"
}
[ "$st" = 200 ] || cluster_fail "the reload answered $st: $(cat "$TMP/reload.json")"
grep -q "no longer pulling from JetStream" "$TMP/node0.log" || cluster_fail "the old puller did not stop"
wait_until "slow handled all $N accepted events" 60 handled_at_least slow $N
kill -0 "${NODE_PIDS[0]}" 2>/dev/null || cluster_fail "the daemon died after the reload"
pass "a reload replaced slow with $N deliveries in flight: the daemon lives and all $N were handled"
nodes_stop
