#!/bin/bash
# A plugin built against the 1.0 SDK header (kept in tests/sdk-1.0) loads
# into this 1.1 host and works unchanged: its config, every event accessor,
# emit, counters and the log, with the events it is sent; an extension of
# CloudEvents type Integer reads as its text, as it did.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin abi10
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    abi10: {config: {record: @TMP@/record.txt, flag: true, number: 42, items: [first, second]}}
YAML
start_daemon
expect_log "loaded plugin 'abi10' 1.0.0 (ABI 1.0)"
expect_log "abi10 plugin built against ABI 1.0, host serves 1.1"
request POST /api/events/trigger '{"name":"abi10.parent","id":"p-1","source":"test","time":"2024-01-01T00:00:00Z",
	"attributes":{"tenant":"acme"},"data":{"big":9007199254740993}}'
expect_status 202
wait_until "the parent and the emitted child were handled" 5 lines_at_least "$TMP/record.txt" abi10.child 1
parent=$(grep ' p-1 ' "$TMP/record.txt")
[ "$parent" = 'table-ok abi10.parent p-1 test 1704067200000000 1 {"big":9007199254740993} acme first 1 42 abi10' ] ||
	fail "the 1.0 plugin read: $parent"
grep -q '^table-ok abi10.child [0-9a-f-]* plugin:abi10 [0-9]* 1 {"n":1} - first 1 42 abi10$' "$TMP/record.txt" ||
	fail "the emitted child: $(grep abi10.child "$TMP/record.txt")"
wait_until "its counter" 5 prints 2 plugin_field abi10 .plugin_counters.seen
pass "a plugin built from the 1.0 header loads in the 1.1 host: config, accessors, emit and counters work"

# an extension that keeps its CloudEvents type (an Integer) reads as the
# text a 1.0 host gave: event_attribute() is "42"
request POST /api/events/trigger '{"specversion":"1.0","id":"t-1","source":"test","type":"abi10.typed",
	"time":"2024-01-01T00:00:00Z","tenant":42}' application/cloudevents+json
expect_status 202
wait_until "the typed event was handled" 5 lines_at_least "$TMP/record.txt" ' t-1 ' 1
typed=$(grep ' t-1 ' "$TMP/record.txt")
[ "$typed" = 'table-ok abi10.typed t-1 test 1704067200000000 1 null 42 first 1 42 abi10' ] ||
	fail "the 1.0 plugin read the Integer extension as: $typed"
pass "a 1.0 plugin reads an Integer extension as its text (42), as before attribute types"
stop_daemon TERM
