#!/bin/bash
# SDK 1.1 delivery_redelivered(): 0 for an event the daemon received from a
# client, 1 for the same event read back from the database (a dead letter
# replayed), whose attempts start again at 1 (plugin.h).  A plugin checks
# the id when the flag is 1: it may have seen the event before.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

db_setup
stage_plugin failing
write_db_plugin_settings <<'YAML'
    failing: {max_attempts: 1, config: {record_json: @TMP@/failing.jsonl}}
YAML
start_daemon
wait_until "database connected" 10 log_has "connected to event_system@unix"
request POST /api/events/trigger '{"name":"fail.once","id":"r-1","data":{"n":1}}'
expect_status 202
wait_until "dead letter stored" 10 db_count_is 1 dead_letters
first=$(grep '"id":"r-1"' "$TMP/failing.jsonl" | head -1)
echo "$first" | jq -e '.redelivered == 0 and .attempt == 1' >/dev/null || fail "first delivery: $first"
pass "an event from a client: delivery_redelivered() is 0, attempt 1"
request GET /api/dead-letters
dl=$(echo "$BODY" | jq -r '.dead_letters[0].id')
request POST "/api/dead-letters/$dl/replay"
expect_status 202
wait_until "the replay reached the plugin" 10 lines_at_least "$TMP/failing.jsonl" '"id":"r-1"' 2
again=$(grep '"id":"r-1"' "$TMP/failing.jsonl" | tail -1)
echo "$again" | jq -e '.redelivered == 1 and .attempt == 1 and .event.data == {"n":1}' >/dev/null ||
	fail "replayed delivery: $again"
pass "a dead letter replayed from the database: delivery_redelivered() is 1, attempts start again at 1"
