#!/bin/bash
# Attribute values keep their CloudEvents type (String, Integer, Boolean)
# on the paths that copy an event: to an isolated plugin's process (the
# log plugin's line written in the child), into the database row (the
# history API) and back out of it (a dead letter replayed).  A JSON 42
# stays 42, true stays true, the string "7" stays a string.
set -eu
. "$(dirname "$0")/lib.sh"

ce=application/cloudevents+json
typed_event() { # ID TYPE
	request POST /api/events/trigger "{\"specversion\":\"1.0\",\"id\":\"$1\",\"source\":\"/t\",\"type\":\"$2\",
		\"myint\":42,\"myflag\":true,\"neg\":-2147483648,\"text\":\"7\",\"data\":{\"n\":1}}" $ce
	expect_status 202
}
# has_typed_attributes JSON: the event's attributes, type for type
has_typed_attributes() {
	echo "$1" | jq -e '.attributes == {"myint":42,"myflag":true,"neg":-2147483648,"text":"7"}
		and (.attributes.myint | type) == "number" and (.attributes.myflag | type) == "boolean"
		and (.attributes.text | type) == "string"' >/dev/null
}

stage_plugin log
write_plugin_settings <<'YAML'
    log: {isolation: process, config: {path: @TMP@/events.log}}
YAML
start_daemon
typed_event iso-1 typed.isolated
wait_until "the isolated log plugin wrote the event" 10 lines_at_least "$TMP/events.log" '"id":"iso-1"' 1
line=$(grep '"id":"iso-1"' "$TMP/events.log")
has_typed_attributes "$line" || fail "isolated log plugin's line: $line"
pass "an isolated plugin's process gets each attribute with its type (the log line written in the child: 42, true, \"7\")"
stop_daemon TERM

. "$(dirname "$0")/db_lib.sh"
db_setup
stage_plugin failing
write_db_plugin_settings <<'YAML'
    failing: {max_attempts: 1, config: {record_json: @TMP@/failing.jsonl}}
    log: {config: {path: @TMP@/events-db.log}} # still staged: never its default path (the cwd)
YAML
start_daemon
wait_until "database connected" 10 log_has "connected to event_system@unix"
typed_event db-1 fail.typed
wait_until "dead letter stored" 10 db_count_is 1 dead_letters
request GET /api/events/db-1
expect_status 200
has_typed_attributes "$BODY" || fail "GET /api/events/db-1: $BODY"
pass "the database row keeps each attribute's type (GET /api/events/{id})"
request GET /api/dead-letters
dl=$(echo "$BODY" | jq -r '.dead_letters[0].id')
request POST "/api/dead-letters/$dl/replay"
expect_status 202
wait_until "the replay reached the plugin" 10 lines_at_least "$TMP/failing.jsonl" '"id":"db-1"' 2
replayed=$(grep '"id":"db-1"' "$TMP/failing.jsonl" | tail -1 | jq -c .event)
has_typed_attributes "$replayed" || fail "the replayed event, read back from its row: $replayed"
pass "an event read back from its row (dead-letter replay) has each attribute of the type it was sent with"
