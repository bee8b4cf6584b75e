#!/bin/bash
# Two daemons given the same queue.jetstream.node_id on one database would
# make colliding history keys.  Each claims its number in node_claims (as
# the holder named by its host, an identity locked in its state directory
# and its address): the second is told who holds it (log, /health), even
# when it runs on the first one's state directory; it makes no keys while
# it does not hold the number, so the events it accepts then have no
# history (counted, logged; they are still delivered through JetStream);
# it takes the number over once the holder's claim is 30 s old (it was
# killed) or deleted (a clean stop) and then writes history again.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_use_database

stage_plugin recorder
db_setup
nats_start 1
dsn=$(db_dsn_unix)
for i in 0 1; do
	node_reserve "$i"
	# both claim node_id 7; reconnects (and claims) every 300 ms at most
	NODE_JS_EXTRA="node_id: 7" node_config "$i" <<EOF2
database: {enabled: true, mode: async, dsn: "$dsn", reconnect_max_ms: 300}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: "@TMP@/rec@NODE@.txt"}, subscribe: ["job.*"]}
EOF2
done
# holds NODE: node NODE's claim on node_id 7 is in the table
holds() { [ "$(db_sql "SELECT COUNT(*) FROM node_claims WHERE node_id = 7 AND holder LIKE '%:${NODE_PORTS[$1]}'")" = 1 ]; }
# start_refused NODE HOLDER: start node NODE while node HOLDER holds the
# number; wait until it logs that, naming the holder
start_refused() {
	node_launch "$1"
	wait_until "node $1 says node_id 7 is taken, by node $2" 60 \
		grep -q "node_id 7 is in use by another daemon (.*:${NODE_PORTS[$2]}, renewed" "$TMP/node$1.log"
}
node_start 0
holds 0 || cluster_fail "node 0 holds no claim on node_id 7: $(db_sql "SELECT * FROM node_claims")"
pass "the first daemon claims node_id 7"

# The second daemon with the same number, started on node 0's state
# directory (whose identity node 0 holds locked): up, but told.
NODE_STATE_DIR=$TMP/state0 start_refused 1 0
grep -q "node-holder is locked by another daemon using the same state directory" "$TMP/node1.log" ||
	cluster_fail "node 1 does not say node 0's identity is locked"
# /health (async mode: degraded, the node still accepts and delivers)
health_of() { curl -s "http://127.0.0.1:${NODE_PORTS[$1]}/health"; }
health_says_taken() {
	local h
	h=$(health_of 1)
	[ "$(jq -r '.status + " " + .components.database' <<< "$h")" = "degraded failing" ] &&
		jq -r .reasons.database <<< "$h" | grep -q "node_id 7 is in use by another daemon"
}
wait_until "node 1's /health: database failing, node_id 7 in use" 20 health_says_taken
pass "a second daemon with node_id 7, even on the first one's state directory, is told who holds it (log, /health: degraded, the reason)"

[ "$(node_trigger 1 job.run b-1)" = 202 ] || cluster_fail "node 1 did not accept b-1"
[ "$(node_trigger 0 job.run a-1)" = 202 ] || cluster_fail "node 0 did not accept a-1"
wait_until "a-1's row (node 0 writes)" 20 db_count_is 1 events "id = 'a-1'"
wait_until "b-1 delivered all the same" 20 handled_at_least recorder 2
grep -q "does not hold queue.jetstream.node_id 7 .*: the events it accepts now get no history" "$TMP/node1.log" ||
	cluster_fail "node 1 does not say its events get no history"
dropped1() { curl -s "http://127.0.0.1:$((NODE_PORTS[1] + 1))/metrics" | awk '$1 == "eventsys_db_records_dropped_total" {print $2}'; }
[ "$(dropped1)" -ge 1 ] || cluster_fail "b-1's history is not counted as dropped on node 1: $(dropped1)"
holds 0 || cluster_fail "the claim changed hands while node 0 runs: $(db_sql "SELECT * FROM node_claims")"
pass "while it does not hold the number node 1 accepts and delivers; those events get no key and no row (logged, counted); the claim stays node 0's"

# Node 0 dies (SIGKILL): its claim stays until it is 30 s old, then node 1
# may take it.  The row is aged here instead of waiting.
node_kill 0
holds 0 || cluster_fail "node 0's claim went with its SIGKILL: $(db_sql "SELECT * FROM node_claims")"
db_sql "UPDATE node_claims SET renewed_at = NOW(6) - INTERVAL 31 SECOND WHERE node_id = 7"
wait_until "node 1 takes node_id 7 over" 30 grep -q "node_id 7 is this daemon's now" "$TMP/node1.log"
database_ok() { [ "$(health_of "$1" | jq -r '.status + " " + .components.database')" = "ok ok" ]; }
wait_until "node 1's /health ok again" 30 database_ok 1
[ "$(node_trigger 1 job.run c-1)" = 202 ] || cluster_fail "node 1 did not accept c-1"
wait_until "c-1's row, written by node 1 now that it holds the number" 30 db_count_is 1 events "id = 'c-1'"
[ "$(db_sql "SELECT seq % 1024 FROM events WHERE id = 'c-1'")" = 7 ] || cluster_fail "c-1's key does not carry node_id 7"
[ "$(db_count events "id = 'b-1'")" = 0 ] || cluster_fail "b-1, accepted without a key, got a row"
! grep -q "Duplicate entry" "$TMP/node1.log" || cluster_fail "node 1 made a key node 0 had used: $(grep -m1 "Duplicate entry" "$TMP/node1.log")"
holds 1 || cluster_fail "node 1 does not hold the claim: $(db_sql "SELECT * FROM node_claims")"
pass "the claim of a killed daemon, once 30 s old, is taken over: node 1 becomes healthy and writes c-1's row with node_id 7"

# Node 0 back: now it is the one refused.  A clean stop of node 1 frees
# the number at once and node 0 takes it.
start_refused 0 1
kill -TERM "${NODE_PIDS[1]}"
wait "${NODE_PIDS[1]}" || cluster_fail "node 1 exited with $? after SIGTERM"
NODE_PIDS[1]=
wait_until "node 0 takes node_id 7 back once node 1 stopped" 30 grep -q "node_id 7 is this daemon's now" "$TMP/node0.log"
wait_until "node 0's /health ok" 30 database_ok 0
pass "a clean stop frees the number at once: the restarted node 0, refused while node 1 ran, takes it"

nodes_stop
[ "$(db_count node_claims)" = 0 ] || cluster_fail "a claim is left after both stopped: $(db_sql "SELECT * FROM node_claims")"
pass "a clean stop deletes the claim"
