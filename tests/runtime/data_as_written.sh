#!/bin/bash
# Plugins get the data exactly as the client wrote it also when the client
# spells the key "data" with escapes ("d\u0061ta"): native triggers, batch
# items, structured CloudEvents and CloudEvents batches.  Before, the daemon
# could not find the raw text and reprinted the value with cJSON:
# [1e400,-0,12345678901234567890] became [null,-0,1.2345678901234567e+19].
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin log
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text, access_log: false}
plugins:
  directory: @PLUGDIR@
  settings:
    log: {config: {path: @TMP@/events.log}}
YAML
start_daemon

DATA='[1e400,-0,12345678901234567890]'
KEY='"d\u0061ta"'
CE='"specversion":"1.0","source":"s","type":"x.r1"'
request POST /api/events/trigger "{\"name\":\"x.r1\",\"id\":\"native\",$KEY:$DATA}"
expect_status 202
request POST /api/events/batch "[{\"name\":\"x.r1\",\"id\":\"batch\",$KEY:$DATA}]"
expect_status 202
request POST /api/events/trigger "{$CE,\"id\":\"structured\",$KEY:$DATA}" application/cloudevents+json
expect_status 202
request POST /api/events/trigger "[{$CE,\"id\":\"ce-batch\",$KEY:$DATA}]" application/cloudevents-batch+json
expect_status 202
# a key with other escapes (\/ and a pair-free \u) is found by its decoded name too
request POST /api/events/trigger "{\"name\":\"x.r1\",\"id\":\"other\",\"\\u0064\\u0061t\\u0061\":$DATA}"
expect_status 202
for id in native batch structured ce-batch other; do
	wait_until "event $id logged" 5 lines_at_least "$TMP/events.log" "\"id\":\"$id\"" 1
	line=$(grep "\"id\":\"$id\"" "$TMP/events.log")
	case "$line" in
	*"\"data\":$DATA"*) ;;
	*) fail "event $id: the plugin did not get the data as written ($DATA): $line" ;;
	esac
done
pass "data under an escaped key reaches the plugin as written in all four modes: $DATA"

# the same key twice, once escaped, is a duplicate
request POST /api/events/trigger "{\"name\":\"x.r1\",\"data\":1,$KEY:2}"
expect_status 400
expect_body 'more than once'
pass "\"data\" and $KEY in one object are refused as a duplicate"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
