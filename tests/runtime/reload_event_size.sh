#!/bin/bash
# event.max_event_size needs a restart: a reload that raises it keeps the
# value the daemon started with everywhere (the HTTP body limit, the JSON
# 413, plugins' emit limit, isolated children's message limit) and says so
# in its answer.  Before, the reload applied it in part: the API took a
# body the rest still refused (libevent's limit, the emit limit and the
# limit of a kept isolated plugin's child, which died on a legal event).
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
config() { # MAX-EVENT-SIZE
	write_config <<YAML
server: {port: @PORT@}
logging: {format: text, level: info}
event: {max_event_size: $1}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {isolation: process, workers: 1, config: {record: @TMP@/record.txt}}
YAML
}
config 65536
start_daemon

config 4194304
render_config
request POST /api/admin/reload
expect_status 200
expect_body "needs a restart: event.max_event_size"
expect_log "event.max_event_size changed but needs a restart"

python3 -c 'import json; print(json.dumps({"name": "big.one", "data": "x" * 100 * 1024}))' > "$TMP/big.json"
STATUS=$(curl -s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' -H 'Content-Type: application/json' \
	--data-binary "@$TMP/big.json" "http://127.0.0.1:$PORT/api/events/trigger")
[ "$STATUS" = 413 ] || fail "a 100 KiB event after the reload: $STATUS $(cat "$TMP/body")"
grep -qi '^content-type: application/json' "$TMP/headers" || fail "the 413 is not the daemon's JSON"
grep -q 'event.max_event_size is 65536' "$TMP/body" || fail "the 413 does not name the running limit: $(cat "$TMP/body")"
pass "a reload raising event.max_event_size says it needs a restart; the running limit (64 KiB) holds"

python3 -c 'import json; print(json.dumps({"name": "big.legal", "data": "x" * 60 * 1024}))' > "$TMP/legal.json"
request POST '/api/events/trigger?wait=true' "$(cat "$TMP/legal.json")"
expect_status 200
echo "$BODY" | jq -e '.outcomes.recorder.status == "ok"' >/dev/null || fail "a 60 KiB event: $BODY"
log_has "exited with status\|killed" && fail "a child died on a legal event"
pass "a legal event near the limit reaches the kept isolated plugin's child"
stop_daemon
