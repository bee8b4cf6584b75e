#!/bin/bash
# Scale-out: a trigger refused because JetStream cannot take it is answered
# 503 queue_unavailable saying what failed; the NATS server's and client's
# details (server addresses, stream names, the server's error text) are in
# the answer only for an admin token, as for a database error
# (db_error_hidden.sh, security.md), in /health's reasons.jetstream only for
# an admin token, and always in the log.
#  - node 1's stream cannot be created (its subjects overlap node 0's
#    stream: the server's text says so): a trigger token's 503, a batch's
#    per-event message and /health without a token do not show that text;
#    an admin token's do;
#  - node 2 never reached NATS (nothing listens at its server address): a
#    trigger token's 503 says so without naming the address.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

cluster_use_tokens
stage_plugin recorder
nats_start 1
node_plugins() {
	cat <<'EOF'
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: "@TMP@/rec@NODE@.txt"}}
EOF
	cluster_auth_section
}
node_reserve 0
node_plugins | node_config 0
node_start 0
# node 1: its own stream name over the same subjects as node 0's stream
node_reserve 1
node_plugins | NODE_JS_EXTRA="stream: OTHER" node_config 1
"$ES_DAEMON" -c "$TMP/node1.yaml" >> "$TMP/node1.log" 2>&1 &
NODE_PIDS[1]=$!
stream_refused() { grep -q "cannot create or update the stream OTHER" "$TMP/node1.log"; }
wait_until "node 1's stream refused by the server" 30 stream_refused
# the refusal is logged before the HTTP threads listen: /health answers 503 then
node1_listening() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 "http://127.0.0.1:${NODE_PORTS[1]}/health")" = 503 ]
}
wait_until "node 1 answering /health" 60 node1_listening
# the server's words, without the client's "(file.c:line): " before them
server_text=$(grep -o "stream OTHER: .*JetStream error" "$TMP/node1.log" | head -1 |
	sed -E 's/^stream OTHER: (\([^)]*\): )?//; s/(;| \() ?JetStream error$//')
[ -n "$server_text" ] || cluster_fail "no server text in the log: $(grep OTHER "$TMP/node1.log" | head -3)"
echo "the server's text: $server_text"
pass "node 1 cannot create its stream; the log has the server's text"

# shows_no_details WHAT: BODY names none of node 1's and the server's details
shows_no_details() {
	local secret
	for secret in "$server_text" "OTHER" "JetStream error" ".c:" "nats://" "127.0.0.1:${NATS_PORTS[0]}"; do
		case "$BODY" in *"$secret"*) cluster_fail "$1 shows NATS details ($secret): $BODY" ;; esac
	done
}

node_call 1 "$ES_TEST_TRIGGER_TOKEN" POST /api/events/trigger '{"name":"job.run","id":"t-1"}'
[ "$STATUS" = 503 ] || cluster_fail "a trigger on node 1 answered $STATUS: $BODY"
echo "$BODY" | jq -e '.error == "queue_unavailable" and (.message | test("JetStream"))' >/dev/null ||
	cluster_fail "the 503 does not say JetStream failed: $BODY"
shows_no_details "a trigger token's 503"
node_call 1 "$ES_TEST_TRIGGER_TOKEN" POST /api/events/batch '[{"name":"job.run","id":"t-2"}]'
[ "$STATUS" = 207 ] || cluster_fail "a batch on node 1 answered $STATUS: $BODY"
echo "$BODY" | jq -e '.results[0].status == 503 and (.results[0].message | length > 0)' >/dev/null ||
	cluster_fail "the batch's refused event does not say why: $BODY"
shows_no_details "a trigger token's batch answer"
node_call 1 "" GET /health
[ "$STATUS" = 503 ] || cluster_fail "node 1's /health answered $STATUS: $BODY"
echo "$BODY" | jq -e '.components.jetstream == "failing" and (.reasons.jetstream | length > 0)' >/dev/null ||
	cluster_fail "/health does not say JetStream is failing: $BODY"
shows_no_details "/health without a token"
pass "a trigger token's 503 (one event, a batch) and /health say JetStream failed without the server's text"

node_call 1 "$ES_TEST_ADMIN_TOKEN" POST /api/events/trigger '{"name":"job.run","id":"a-1"}'
[ "$STATUS" = 503 ] || cluster_fail "an admin's trigger on node 1 answered $STATUS: $BODY"
expect_body "$server_text"
node_call 1 "$ES_TEST_ADMIN_TOKEN" GET /health
echo "$BODY" | jq -r .reasons.jetstream | grep -qF "$server_text" || cluster_fail "an admin's /health lacks the server's text: $BODY"
pass "an admin token's 503 and /health carry the server's text"

# node 2: nothing listens at its server address
while :; do
	nowhere=$((10000 + (RANDOM * 32768 + RANDOM) % 22000 / 4 * 4))
	reserve_port "$nowhere" && break
done
node_reserve 2
node_plugins | node_config 2
sed -i "s|servers: \"[^\"]*\"|servers: \"nats://127.0.0.1:$nowhere\"|" "$TMP/node2.yaml"
"$ES_DAEMON" -c "$TMP/node2.yaml" >> "$TMP/node2.log" 2>&1 &
NODE_PIDS[2]=$!
node2_answers() {
	node_call 2 "$ES_TEST_TRIGGER_TOKEN" POST /api/events/trigger '{"name":"job.run","id":"n-1"}'
	[ "$STATUS" = 503 ]
}
wait_until "node 2 answering 503" 30 node2_answers
case "$BODY" in *"$nowhere"* | *"nats://"*) cluster_fail "a trigger token's 503 names the NATS address: $BODY" ;; esac
expect_body "NATS is unreachable"
pass "a trigger token's 503 says NATS is unreachable without naming its servers"

[ -z "$(records recorder)" ] || cluster_fail "a refused event was delivered: $(records recorder)"
nodes_stop
pass "the nodes stop cleanly"
