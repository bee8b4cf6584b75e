#!/bin/bash
# Scale-out: the HTTP API with queue.backend jetstream (one nats-server,
# one daemon; no database).
#  - ?wait=true and POST /api/events/test answer 400 saying why, and publish
#    nothing;
#  - a batch answers per event: 202 with the plugins when JetStream stored
#    it; with NATS down every event 503 with the reason, none handled later;
#  - dead letters (the stream <stream>_DEAD): listed with the admin token,
#    filtered by plugin and paged; a replay delivers the event to its plugin
#    again (it fails again: a new dead letter), removes the old one (a second
#    replay of it is 404) and is audited; a trigger token is refused (403).
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

cluster_use_tokens
stage_plugin recorder
stage_plugin failing
nats_start 1
node_reserve 0
{
	cat <<'EOF'
plugins:
  directory: @PLUGDIR@
  load_unconfigured: false
  settings:
    recorder: {config: {record: "@TMP@/rec@NODE@.txt"}, subscribe: ["order.**"]}
    failing: {config: {record: "@TMP@/rec@NODE@.txt"}, subscribe: ["fail.**"], max_attempts: 1}
EOF
	cluster_auth_section
} | node_config 0
node_start 0
pass "one node on one nats-server"

admin() { node_call 0 "$ES_TEST_ADMIN_TOKEN" "$@"; }

# ---- ?wait=true and /api/events/test: a precise 400 ----
admin POST '/api/events/trigger?wait=true' '{"name":"order.sync","id":"sync-1"}'
[ "$STATUS" = 400 ] || cluster_fail "?wait=true answered $STATUS: $BODY"
echo "$BODY" | grep -q 'queue.backend jetstream' || cluster_fail "?wait=true's 400 does not say why: $BODY"
admin POST /api/events/test
[ "$STATUS" = 400 ] || cluster_fail "/api/events/test answered $STATUS: $BODY"
echo "$BODY" | grep -q 'queue.backend jetstream' || cluster_fail "/api/events/test's 400 does not say why: $BODY"
admin POST /api/events/trigger '{"name":"order.after","id":"after-sync"}'
[ "$STATUS" = 202 ] || cluster_fail "a trigger after them answered $STATUS: $BODY"
wait_until "order.after handled" 20 handled_at_least recorder 1
[ -z "$(records recorder | grep '^sync-1$')" ] || cluster_fail "the refused ?wait=true event was delivered"
pass "?wait=true and /api/events/test answer 400 naming jetstream, and queue nothing"

# ---- a batch answers per event ----
admin POST /api/events/batch '[{"name":"order.b","id":"b-1"},{"name":"nobody.b","id":"b-2"},{"name":"order.b","id":"b-3"}]'
[ "$STATUS" = 202 ] || cluster_fail "the batch answered $STATUS: $BODY"
[ "$(echo "$BODY" | jq -c '[.results[] | [.id, .status, (.matched | join(","))]]')" = \
	'[["b-1",202,"recorder"],["b-2",202,""],["b-3",202,"recorder"]]' ] || cluster_fail "batch answers: $BODY"
batch_handled() { [ "$(records recorder | grep -c '^b-[13]$')" = 2 ]; }
wait_until "the batch's events handled" 20 batch_handled
pass "a batch answers each event: stored with its plugins, or matched by none"

nats_kill 0
nats_gone() { ! node_ready 0; }
wait_until "the node sees NATS gone" 20 nats_gone
admin POST /api/events/batch '[{"name":"order.d","id":"d-1"},{"name":"order.d","id":"d-2"}]'
[ "$STATUS" = 207 ] || cluster_fail "the batch with NATS down answered $STATUS: $BODY"
[ "$(echo "$BODY" | jq -c '[.accepted, .rejected, [.results[] | [.id, .status, .error]]]')" = \
	'[0,2,[["d-1",503,"queue_unavailable"],["d-2",503,"queue_unavailable"]]]' ] || cluster_fail "batch answers with NATS down: $BODY"
echo "$BODY" | jq -e '.results | all(.message | length > 0)' >/dev/null || cluster_fail "the refused events do not say why: $BODY"
nats_launch 0
nats_wait_healthy 0 "nats-server healthy again"
wait_until "the node healthy again" 60 node_ready 0
admin POST /api/events/trigger '{"name":"order.back","id":"back-1"}'
[ "$STATUS" = 202 ] || cluster_fail "a trigger after NATS came back answered $STATUS: $BODY"
wait_until "back-1 handled" 20 handled_at_least recorder 4
[ -z "$(records recorder | grep '^d-')" ] || cluster_fail "an event answered 503 in a batch was delivered"
pass "with NATS down each event of a batch is answered 503 with the reason, and none is delivered"

# ---- dead letters ----
for n in 1 2 3; do
	admin POST /api/events/trigger "{\"name\":\"fail.now\",\"id\":\"dead-$n\"}"
	[ "$STATUS" = 202 ] || cluster_fail "fail.now dead-$n answered $STATUS: $BODY"
done
dead_listed() {
	admin GET /api/dead-letters
	[ "$STATUS" = 200 ] && [ "$(echo "$BODY" | jq '.dead_letters | length')" = 3 ]
}
wait_until "three dead letters listed" 20 dead_listed
# Newest first: by the dead-letter stream's order (the plugin's workers may
# fail the three events in any order), all three events there.
echo "$BODY" | jq -e '[.dead_letters[].id] as $ids | $ids == ($ids | sort | reverse) and ($ids | unique | length) == 3' \
	>/dev/null || cluster_fail "dead letters not listed newest first: $BODY"
[ "$(echo "$BODY" | jq -r '[.dead_letters[].event.id] | sort | join(" ")')" = "dead-1 dead-2 dead-3" ] ||
	cluster_fail "the dead letters are not the three failed events: $BODY"
all_dead=$(echo "$BODY" | jq -r '[.dead_letters[].event.id] | join(" ")')
echo "$BODY" | jq -e '.dead_letters | all(.plugin == "failing" and .attempts == 1 and
	(.error | test("downstream rejected")) and .event.name == "fail.now" and (.created_at | test("Z$")))' >/dev/null ||
	cluster_fail "a dead letter lacks its plugin, attempts, error, event or time: $BODY"
admin GET '/api/dead-letters?plugin=recorder'
[ "$STATUS" = 200 ] && [ "$(echo "$BODY" | jq '.dead_letters | length')" = 0 ] || cluster_fail "plugin filter: $STATUS $BODY"
admin GET '/api/dead-letters?limit=2'
[ "$(echo "$BODY" | jq -r '[.dead_letters[].event.id] | join(" ")')" = "${all_dead% *}" ] || cluster_fail "first page: $BODY"
next=$(echo "$BODY" | jq -r .next_before)
admin GET "/api/dead-letters?limit=2&before=$next"
[ "$(echo "$BODY" | jq -r '[.dead_letters[].event.id] | join(" ")')" = "${all_dead##* }" ] || cluster_fail "second page: $BODY"
[ "$(echo "$BODY" | jq -r .next_before)" = null ] || cluster_fail "the last page has a next_before: $BODY"
admin GET '/api/dead-letters?limit=0'
[ "$STATUS" = 400 ] || cluster_fail "limit=0 answered $STATUS"
node_call 0 "$ES_TEST_TRIGGER_TOKEN" GET /api/dead-letters
[ "$STATUS" = 403 ] || cluster_fail "a trigger token listed the dead letters ($STATUS)"
pass "dead letters listed newest first with plugin, attempts, error and event; filtered and paged; admin only"

admin GET /api/dead-letters
id1=$(echo "$BODY" | jq -r '.dead_letters[] | select(.event.id == "dead-1") | .id')
node_call 0 "$ES_TEST_TRIGGER_TOKEN" POST "/api/dead-letters/$id1/replay"
[ "$STATUS" = 403 ] || cluster_fail "a trigger token replayed a dead letter ($STATUS)"
admin POST "/api/dead-letters/$id1/replay"
[ "$STATUS" = 202 ] || cluster_fail "the replay answered $STATUS: $BODY"
[ "$(echo "$BODY" | jq -c '[.dead_letter, .plugin, .event.id, .status, .removed]')" = "[$id1,\"failing\",\"dead-1\",\"queued\",true]" ] ||
	cluster_fail "the replay's answer: $BODY"
replayed() { [ "$(awk '$1 == "failing" && $3 == "dead-1"' "$TMP/rec0.txt" | wc -l)" = 2 ]; }
wait_until "the replayed event handled by failing again" 20 replayed
back_as_new() {
	admin GET /api/dead-letters
	[ "$(echo "$BODY" | jq --argjson old "$id1" '[.dead_letters[] | select(.event.id == "dead-1") | .id > $old] | all and length == 1')" = true ]
}
wait_until "the replayed event dead again, under a new id" 20 back_as_new
admin POST "/api/dead-letters/$id1/replay"
[ "$STATUS" = 404 ] || cluster_fail "a second replay of the removed dead letter answered $STATUS: $BODY"
admin POST /api/dead-letters/999999/replay
[ "$STATUS" = 404 ] || cluster_fail "an unknown dead letter answered $STATUS"
admin POST /api/dead-letters/x/replay
[ "$STATUS" = 404 ] || cluster_fail "a malformed id answered $STATUS"
grep -q "\[audit\] dead letter replayed by token:ops: dead letter $id1: event dead-1 (fail.now) to plugin failing" "$TMP/node0.log" ||
	cluster_fail "the replay is not in the audit log"
pass "a replay delivers the event to its plugin again, leaves the stream, is audited; unknown ids are 404"

nodes_stop
pass "the node stops cleanly"
