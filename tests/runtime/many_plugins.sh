#!/bin/bash
# Many plugins with long names matching one event: the 202 answer (and the
# synchronous one) name every one of them and stay valid JSON, however long
# the list (it was cut after about 1 KB, without its closing "]}").
set -eu
. "$(dirname "$0")/lib.sh"
: "${ES_TOP_SRCDIR:?}"

count=24 # 24 names of 60 characters: about 1.5 KB of names
build_named_plugins "$TMP/named" $count
cp "$TMP/named"/*.so "$PLUGDIR/"
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins: {directory: @PLUGDIR@}
YAML
start_daemon

trigger many.matched '{"n":1}'
expect_status 202
echo "$BODY" | jq -e --argjson n $count '(.matched | length) == $n and (.matched | all(test("^p[0-9]{2}-x{52}$")))' \
	>/dev/null || fail "the 202 answer is not valid JSON naming all $count plugins: $BODY"
echo "$BODY" | jq -e '.id | length > 0' >/dev/null || fail "no id: $BODY"
pass "a 202 naming $count plugins of 60 characters ($(printf %s "$BODY" | wc -c) bytes) is valid JSON"

request POST '/api/events/trigger?wait=true' '{"name":"many.sync"}'
expect_status 200
echo "$BODY" | jq -e --argjson n $count '(.matched | length) == $n and .status == "ok" and
	([.outcomes[] | select(.status == "ok")] | length) == $n' >/dev/null ||
	fail "the synchronous answer does not name all $count plugins as ok: $BODY"
pass "a synchronous answer names all $count plugins with their outcomes"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
