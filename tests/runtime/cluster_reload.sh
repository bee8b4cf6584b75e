#!/bin/bash
# Scale-out: SIGHUP keeps its all-or-nothing rule with queue.backend
# jetstream.  Three daemons on a three-server JetStream cluster:
#  - a subscription change: after the reload events of the new pattern are
#    delivered, those of the old one no longer;
#  - a reload that adds a plugin while NATS is unreachable fails (its
#    consumer cannot be created before the switch) and changes nothing; the
#    same reload with NATS back succeeds and the consumer exists when the
#    reload reports ok;
#  - a broken config changes nothing;
#  - a rolling upgrade: plugin `slow` runs on nodes 0 and 1; node 2 has its
#    settings but not its file: node 2 does not consume slow, and the slow
#    events node 2 accepts are handled by the others, none lost; then slow
#    is installed on node 2 with a reload under load, none lost either.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

stage_plugin recorder
stage_plugin slow
# node 2's plugin directory has no slow.so (yet)
mkdir -p "$TMP/plugins2"
cp "$PLUGDIR/recorder.so" "$TMP/plugins2/"
chmod 0755 "$TMP/plugins2"

# node_plugins I PATTERN WITH_SLOW: node I's config with recorder subscribed
# to PATTERN, and slow's settings when WITH_SLOW is 1
node_plugins() {
	local dir=@PLUGDIR@
	[ "$1" = 2 ] && dir=$TMP/plugins2
	{
		echo "plugins:"
		echo "  directory: $dir"
		echo "  load_unconfigured: false"
		echo "  settings:"
		echo "    recorder: {config: {record: \"@TMP@/rec@NODE@.txt\"}, subscribe: [\"$2\"], queue_size: 50${REC_EXTRA:-}}"
		if [ "$3" = 1 ]; then
			echo "    slow: {config: {record: \"@TMP@/rec@NODE@.txt\", delay_ms: 5}, subscribe: [\"job.**\"], workers: 2, queue_size: 10}"
		fi
	} | node_config "$1"
}

reloads_ok() { grep -c "\[audit\] reload by signal SIGHUP: ok" "$TMP/node$1.log" || true; }
reloads_failed() { grep -c "\[audit\] reload by signal SIGHUP: failed" "$TMP/node$1.log" || true; }
ok_count_is() { [ "$(reloads_ok "$1")" = "$2" ]; }
failed_count_is() { [ "$(reloads_failed "$1")" = "$2" ]; }

# trigger_matched I NAME ID: POST one event to node I; prints "<status> <matched plugins>"
trigger_matched() {
	local out
	out=$(curl -s -w ' %{http_code}' -m 10 -H 'Content-Type: application/json' \
		--data-binary "{\"name\":\"$2\",\"id\":\"$3\",\"data\":null}" \
		"http://127.0.0.1:${NODE_PORTS[$1]}/api/events/trigger") || out="{} 000"
	echo "${out##* } $(echo "${out% *}" | jq -r '(.matched // []) | join(",")' 2>/dev/null)"
}

nats_start 3
for i in 0 1 2; do
	node_reserve "$i"
	node_plugins "$i" "a.**" 0
	node_start "$i"
done
pass "three nodes healthy"

# ---- a subscription change on SIGHUP ----
[ "$(trigger_matched 0 a.one a-1)" = "202 recorder" ] || cluster_fail "a.one before the reload: $(trigger_matched 0 a.one a-1b)"
wait_until "a.one handled" 20 handled_at_least recorder 1
# the same reload gives recorder max_attempts 4: its consumer's max deliver
# is 5 when the reload reports ok
export REC_EXTRA=", max_attempts: 4"
for i in 0 1 2; do
	node_plugins "$i" "b.**" 0
	kill -HUP "${NODE_PIDS[$i]}"
done
for i in 0 1 2; do wait_until "node $i reloaded" 20 ok_count_is "$i" 1; done
max_deliver() {
	local n
	for n in 0 1 2; do
		curl -s "http://127.0.0.1:$((NATS_PORTS[$n] + 2))/jsz?consumers=true&config=true" |
			jq -r '.account_details[].stream_detail[].consumer_detail[]? | select(.name == "recorder") | .config.max_deliver'
	done | sort -u | tr '\n' ' '
}
# (the servers that applied the change: a follower may lag a moment)
echo " $(max_deliver)" | grep -q " 5 " || cluster_fail "recorder's consumer after the reload: max deliver $(max_deliver), not 5"
for i in 0 1 2; do
	got=$(trigger_matched "$i" a.two "a-2-$i")
	[ "$got" = "202 " ] || cluster_fail "a.two after the reload on node $i: '$got' (the old pattern still routed)"
	got=$(trigger_matched "$i" b.one "b-1-$i")
	[ "$got" = "202 recorder" ] || cluster_fail "b.one after the reload on node $i: '$got'"
done
wait_until "the b.one events handled" 20 handled_at_least recorder 4
[ -z "$(records recorder | grep '^a-2-')" ] || cluster_fail "an a.two event was delivered after the subscription moved"
pass "after SIGHUP the new pattern is delivered, the old one no longer"

# ---- NATS unreachable: a reload that needs no consumer change works; one
# that adds a plugin fails and changes nothing ----
for n in 0 1 2; do nats_kill "$n"; done
node_plugins 0 "b.*" 0  # a subscription change: recorder replaced, its consumer's settings the same
kill -HUP "${NODE_PIDS[0]}"
wait_until "node 0 reloaded without NATS (nothing for JetStream to change)" 30 ok_count_is 0 2
grep -q "reload by signal SIGHUP: ok, generation 3.*plugins replaced: recorder" "$TMP/node0.log" ||
	cluster_fail "the subscription change did not replace recorder: $(grep 'reload by signal' "$TMP/node0.log" | tail -1)"
node_plugins 0 "b.**" 1
kill -HUP "${NODE_PIDS[0]}"
wait_until "node 0's reload failed" 30 failed_count_is 0 1
grep -q "reload by signal SIGHUP: failed.*generation 3 kept.*JetStream consumer of plugin 'slow' cannot be created" "$TMP/node0.log" ||
	cluster_fail "the failed reload does not say why: $(grep 'reload by signal SIGHUP: failed' "$TMP/node0.log")"
[ "$(reloads_ok 0)" = 2 ] || cluster_fail "node 0 switched to a config whose consumers do not exist"
pass "with NATS down a reload needing no consumer change succeeds; one adding a plugin fails and keeps generation 3"

for n in 0 1 2; do nats_launch "$n"; done
for n in 0 1 2; do nats_wait_healthy "$n" "nats-server $n healthy again"; done
for i in 0 1 2; do wait_until "node $i healthy again" 60 node_ready "$i"; done
# the trigger refused while slow is not in force on node 0: nothing routed to it
[ "$(trigger_matched 0 job.run before-reload)" = "202 " ] || cluster_fail "node 0 routes job.run before the successful reload"
consumer_exists() {
	curl -s "http://127.0.0.1:$((NATS_PORTS[$1] + 2))/jsz?consumers=true" |
		jq -e '[.account_details[].stream_detail[].consumer_detail[]?.name] | index("slow")' >/dev/null
}
! consumer_exists 0 || cluster_fail "the failed reload left a consumer for slow"
kill -HUP "${NODE_PIDS[0]}"
wait_until "node 0 reloaded with slow" 30 ok_count_is 0 3
# the reload reports ok only after the consumer exists: the stream's leader
# (any server) knows it
consumer_exists 0 || consumer_exists 1 || consumer_exists 2 || cluster_fail "the reload switched before slow's consumer existed"
[ "$(trigger_matched 0 job.run job-0)" = "202 slow" ] || cluster_fail "node 0 does not route job.run after the reload"
wait_until "job-0 handled" 20 handled_at_least slow 1
pass "with NATS back the same reload succeeds; the consumer existed when it reported ok"

# ---- a broken config changes nothing ----
cp "$TMP/node1.yaml" "$TMP/node1.good"
printf 'plugins: [unclosed\n' >> "$TMP/node1.yaml"
kill -HUP "${NODE_PIDS[1]}"
wait_until "node 1's broken reload reported" 20 failed_count_is 1 1
[ "$(trigger_matched 1 b.two b-2)" = "202 recorder" ] || cluster_fail "node 1 after a broken reload: $(trigger_matched 1 b.two b-2x)"
[ "$(trigger_matched 1 a.three a-3)" = "202 " ] || cluster_fail "node 1 routes the old pattern after a broken reload"
wait_until "b-2 handled" 20 handled_at_least recorder 5
cp "$TMP/node1.good" "$TMP/node1.yaml"
pass "a broken config on reload changes nothing"

# ---- a rolling upgrade: slow on nodes 0 and 1, node 2 has its settings only ----
node_plugins 1 "b.**" 1
node_plugins 2 "b.**" 1
kill -HUP "${NODE_PIDS[1]}"
kill -HUP "${NODE_PIDS[2]}"
wait_until "node 1 reloaded with slow" 30 ok_count_is 1 2
wait_until "node 2 reloaded with slow's settings" 30 ok_count_is 2 2
for n in $(seq 1 30); do
	i=$((n % 3))
	got=$(trigger_matched "$i" job.run "up-$n")
	[ "$got" = "202 slow" ] || cluster_fail "job.run up-$n on node $i: '$got'"
done
upgraded_handled() { [ "$(records slow | grep -c '^up-')" -ge 30 ]; }
wait_until "every slow event of the upgrade handled" 30 upgraded_handled
[ "$(awk '$1 == "slow"' "$TMP/rec2.txt" 2>/dev/null | wc -l)" = 0 ] || cluster_fail "node 2 handled slow without its file"
[ "$(records slow | grep '^up-' | sort | uniq -d | wc -l)" = 0 ] || cluster_fail "a slow event was handled twice"
pass "a node without slow does not consume it; the slow events it accepted were handled by the others, none lost"

# slow installed on node 2 and reloaded while events flow
send_load() {
	local n
	for n in $(seq 1 60); do
		echo "load-$n $(node_trigger $((n % 3)) job.load "load-$n")"
	done > "$TMP/load_answers"
}
send_load &
loader=$!
install -m 0644 "$PLUGDIR/slow.so" "$TMP/plugins2/slow.so"
kill -HUP "${NODE_PIDS[2]}"
wait_until "node 2 reloaded with slow's file" 30 ok_count_is 2 3
wait $loader
[ "$(awk '$2 == 202' "$TMP/load_answers" | wc -l)" = 60 ] || cluster_fail "triggers refused during the reload: $(awk '$2 != 202' "$TMP/load_answers" | head -3)"
load_handled() { [ "$(records slow | grep '^load-' | sort -u | wc -l)" = 60 ]; }
wait_until "every event sent during node 2's reload handled" 30 load_handled
[ "$(records slow | grep '^load-' | sort | uniq -d | wc -l)" = 0 ] || cluster_fail "an event was handled twice across the reload"
node2_consumes() {
	node_trigger 2 job.after "after-$RANDOM" >/dev/null
	[ "$(awk '$1 == "slow"' "$TMP/rec2.txt" 2>/dev/null | wc -l)" -gt 0 ]
}
wait_until "node 2 consuming slow after its reload" 30 node2_consumes
pass "slow installed on node 2 with a reload under load: none lost, node 2 shares the work"

nodes_stop
pass "every node stops cleanly"
