#!/bin/bash
# Scale-out with one database: two daemons on a three-server JetStream
# cluster record into one MariaDB.  Events triggered on both nodes get rows
# whose keys carry the accepting node's node_id (so they cannot collide),
# each (event, plugin) delivery is recorded once, against the accepting
# node's key, by whichever node handled it (the key travels in the message's
# Es-Seq header).  A daemon killed with SIGKILL while it handles events
# gets them redelivered by JetStream, and when it starts again the
# database does not deliver them (or the other node's unfinished events) a
# second time: its own redelivery at start is off in this mode.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_use_database

stage_plugin recorder
stage_plugin slow
stage_plugin failing
db_setup
nats_start 3
dsn=$(db_dsn_unix)
for i in 0 1; do
	node_reserve "$i"
	# slow: ack wait 2 x timeout_ms = 4 s; one worker and room for two
	# deliveries per node, so both nodes hold some of the hold.* events
	NODE_JS_EXTRA="node_id: $((i + 1))" node_config "$i" <<EOF
database: {enabled: true, mode: async, dsn: "$dsn"}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: "@TMP@/rec@NODE@.txt"}, subscribe: ["job.*"]}
    slow: {config: {record: "@TMP@/rec@NODE@.txt", delay_ms: 1500}, subscribe: ["hold.*"], workers: 1, queue_size: 2, timeout_ms: 2000}
    failing: {config: {record: "@TMP@/rec@NODE@.txt"}, subscribe: ["fail.*"], max_attempts: 1}
EOF
	node_start "$i"
done
pass "two nodes with node_id 1 and 2 share the database and the JetStream cluster"

# ---- events accepted on both nodes: keys of both, no collision ----
# send NODE PREFIX COUNT: "<id> <status>" lines in $TMP/answers-PREFIX
send() {
	local n
	for n in $(seq 1 "$3"); do
		echo "$2-$n $(node_trigger "$1" job.run "$2-$n")"
	done > "$TMP/answers-$2"
}
send 0 a 60 &
s0=$!
send 1 b 60 &
s1=$!
wait $s0 $s1
refused=$(cat "$TMP"/answers-a "$TMP"/answers-b | awk '$2 != 202' | wc -l)
[ "$refused" = 0 ] || cluster_fail "$refused of 120 triggers were not answered 202: $(awk '$2 != 202' "$TMP"/answers-? | head -3)"

wait_until "120 event rows written" 30 db_count_is 120 events "id LIKE 'a-%' OR id LIKE 'b-%'"
# the key's low 10 bits are the accepting node's node_id
wrong=$(db_sql "SELECT COUNT(*) FROM events WHERE (id LIKE 'a-%' AND seq % 1024 <> 1) OR (id LIKE 'b-%' AND seq % 1024 <> 2)")
[ "$wrong" = 0 ] || cluster_fail "$wrong event rows have a key without their accepting node's id: $(db_sql "SELECT id, seq FROM events LIMIT 4")"
[ "$(db_sql "SELECT COUNT(DISTINCT seq) FROM events")" = "$(db_count events)" ] || cluster_fail "duplicate keys"
pass "120 rows, 60 with node 1's keys and 60 with node 2's, all distinct"

wait_until "a delivery row for each of the 120 events" 30 db_count_is 120 deliveries "plugin = 'recorder'"
twice=$(db_sql "SELECT COUNT(*) FROM (SELECT event_seq FROM deliveries WHERE plugin = 'recorder' GROUP BY event_seq HAVING COUNT(*) > 1) t")
[ "$twice" = 0 ] || cluster_fail "$twice events have more than one recorder delivery row"
orphans=$(db_sql "SELECT COUNT(*) FROM deliveries d LEFT JOIN events e ON e.seq = d.event_seq WHERE e.seq IS NULL")
[ "$orphans" = 0 ] || cluster_fail "$orphans delivery rows name no event row (the handling node recorded its own key)"
[ "$(records recorder | wc -l)" = 120 ] || cluster_fail "the recorder handled $(records recorder | wc -l) deliveries, not 120"
wait_until "both nodes handling some of the job events" 60 each_node_handles recorder job.run 2
echo "both nodes handled job events after $EXTRA_SENT more"
pass "each (event, plugin) delivery recorded once, against the accepting node's key; both nodes deliver"

# A client's retry of a-1 (on the other node, inside the duplicate window):
# JetStream stores it once, so it is not delivered again; it gets a row of
# its own without deliveries (docs/operations.md says so).
[ "$(node_trigger 1 job.run a-1)" = 202 ] || cluster_fail "the retry of a-1 was not accepted"
wait_until "the retry's own row" 20 db_count_is 2 events "id = 'a-1'"
[ "$(db_count deliveries "event_seq IN (SELECT seq FROM events WHERE id = 'a-1')")" = 1 ] ||
	cluster_fail "a-1 has $(db_count deliveries "event_seq IN (SELECT seq FROM events WHERE id = 'a-1')") delivery rows after its retry, not 1"
[ "$(records recorder | grep -cx a-1)" = 1 ] || cluster_fail "the retry of a-1 was delivered again"
pass "a retried event id is stored once by JetStream: delivered once, a second row without deliveries"

# ---- a dead letter, and its replay from the other node, in the history ----
[ "$(node_trigger 0 fail.now f-1)" = 202 ] || cluster_fail "fail.now not accepted"
f_seq() { db_sql "SELECT seq FROM events WHERE id = 'f-1'"; }
wait_until "the event row of f-1" 20 db_count_is 1 events "id = 'f-1'"
wait_until "f-1's dead letter in the database" 20 db_count_is 1 dead_letters "event_seq = $(f_seq)"
dead_id=$(curl -s -m 10 "http://127.0.0.1:${NODE_PORTS[1]}/api/dead-letters?plugin=failing" | jq -r '.dead_letters[0].id')
[ -n "$dead_id" ] && [ "$dead_id" != null ] || cluster_fail "no dead letter listed for plugin failing"
status=$(curl -s -o "$TMP/replay" -w '%{http_code}' -m 10 -X POST "http://127.0.0.1:${NODE_PORTS[1]}/api/dead-letters/$dead_id/replay")
[ "$status" = 202 ] || cluster_fail "replaying dead letter $dead_id: $status $(cat "$TMP/replay")"
# it fails again: a second dead letter and dead delivery of the same event's row
wait_until "the replay's dead letter recorded against f-1's row" 20 db_count_is 2 dead_letters "event_seq = $(f_seq)"
[ "$(db_count deliveries "event_seq = $(f_seq) AND status = 'dead'")" = 2 ] ||
	cluster_fail "f-1 has $(db_count deliveries "event_seq = $(f_seq) AND status = 'dead'") dead deliveries, not 2"
pass "a dead letter and the outcome of its replay (from the other node) are recorded against the event's key"

# ---- SIGKILL while handling: JetStream redelivers, the database does not ----
metric_of() { # NODE NAME-WITH-LABELS
	curl -s "http://127.0.0.1:$((NODE_PORTS[$1] + 1))/metrics" | awk -v m="$2" '$1 == m {print $2}'
}
node1_holds() { [ "$(metric_of 1 'eventsys_jetstream_pulled_total{plugin="slow"}')" -ge 1 ] 2>/dev/null; }
# All eight at once, so node 1 is killed inside its first 1.5 s handler
# rather than after it (a handler that finished before the kill may
# legitimately come again, see below).
senders=()
for n in $(seq 1 8); do
	node_trigger $((n % 2)) hold.it "h-$n" > "$TMP/hold-$n" &
	senders+=($!)
done
wait "${senders[@]}" # (not a bare wait: the daemons are children too)
for n in $(seq 1 8); do
	[ "$(cat "$TMP/hold-$n")" = 202 ] || cluster_fail "hold event h-$n not accepted: $(cat "$TMP/hold-$n")"
done
wait_until "node 1 pulled a hold event" 20 node1_holds
node_kill 1
# At-least-once: a hold event node 1 finished before it died may have lost
# its acknowledgement (handled again elsewhere, a second row) or its
# asynchronous row (no row from node 1). Only those may differ from "once".
finished_before=$(awk '$1 == "slow" && $5 == "ok" {print $3}' "$TMP/rec1.txt" 2>/dev/null | sort -u)
nfinished=$(printf '%s' "$finished_before" | grep -c . || true)
echo "node 1 had finished ${nfinished} hold events before it was killed: ${finished_before:-none}"
pass "node 1 killed with SIGKILL while it handled hold events"
# Started again before the ack wait ends: what it held is unacknowledged,
# and the rows of the hold events have no final delivery yet.
node_start 1
grep -q "JetStream redelivers what a stop left unfinished" "$TMP/node1.log" ||
	cluster_fail "the restarted node does not say the database's redelivery is off"

wait_until "each of the 8 hold events handled" 40 handled_at_least slow 8
slow_rows_at_least() { [ "$(db_sql "SELECT COUNT(DISTINCT event_seq) FROM deliveries WHERE plugin = 'slow'")" -ge $((8 - nfinished)) ]; }
wait_until "a delivery row for each of the 8 hold events" 20 slow_rows_at_least
redelivered=$(metric_of 0 'eventsys_jetstream_consumer_redelivered{plugin="slow"}')
echo "JetStream counts ${redelivered:-?} redelivered slow messages"
# handled_twice, rows_twice: the hold events handled (or recorded) more
# than once, less those node 1 had finished before it died
handled_twice() { records slow | sort | uniq -d | grep -vxF -e "${finished_before:-/}" || true; }
rows_twice() {
	db_sql "SELECT e.id FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.plugin = 'slow' GROUP BY d.event_seq, e.id HAVING COUNT(*) > 1" |
		grep -vxF -e "${finished_before:-/}" || true
}
# Nothing more comes: a second delivery would be the database's (the
# restarted node's redelivery from the table) or an acknowledgement lost.
# Watched for longer than a delivery (1.5 s) and an ack wait (4 s).
until_s=$(($(date +%s) + 6))
while [ "$(date +%s)" -lt $until_s ]; do
	[ -z "$(rows_twice)" ] || cluster_fail "hold events recorded twice: $(rows_twice | tr '\n' ' ')"
	[ -z "$(handled_twice)" ] || cluster_fail "hold events handled twice: $(handled_twice | tr '\n' ' ')"
	sleep 0.2
done
# (the replayed dead letter above has two rows, one per delivery)
twice=$(db_sql "SELECT COUNT(*) FROM (SELECT event_seq FROM deliveries WHERE plugin NOT IN ('failing', 'slow') GROUP BY event_seq, plugin HAVING COUNT(*) > 1) t")
[ "$twice" = 0 ] || cluster_fail "$twice (event, plugin) deliveries recorded more than once"
[ "$(records recorder | grep -cx a-1)" = 1 ] || cluster_fail "the retry of a-1 was delivered again (late)"
pass "the killed node's hold events were redelivered by JetStream and recorded once (at least once for what it had finished); none delivered again at its restart"

nodes_stop
pass "both nodes stop cleanly"
