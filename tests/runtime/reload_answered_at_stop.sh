#!/bin/bash
# A POST /api/admin/reload still waiting for its reload when SIGTERM arrives
# is answered before the daemon exits (api.md: it answers when that reload
# has finished; operations.md "Stopping": requests still waiting are
# answered).  The reload here takes ~3 s: reopen() waits for the running
# handler.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin overlap
write_plugin_settings <<'YAML'
    overlap: {workers: 1, config: {delay_ms: 3000, record: @TMP@/rec.txt}}
YAML
start_daemon
trigger overlap.e1
expect_status 202
wait_until "the handler running" 10 lines_at_least "$TMP/rec.txt" "overlap.e1 .* entered" 1
curl -s -m 30 -o "$TMP/reload.body" -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/api/admin/reload" \
	> "$TMP/reload.code" 2>/dev/null &
client=$!
wait_until "the reload started" 10 log_has "reload requested by api token"
kill -TERM "$DAEMON_PID"
wait_until "the daemon stopped" 30 daemon_exited
EXIT_CODE=0
wait "$DAEMON_PID" || EXIT_CODE=$?
DAEMON_PID=
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
wait "$client" || true
expect_log "reload by api token (none): ok"
code=$(cat "$TMP/reload.code")
[ "$code" = 200 ] || fail "the reload finished but its POST was answered HTTP $code (000: no answer): $(cat "$TMP/reload.body")"
jq -e '.last.result == "ok"' "$TMP/reload.body" >/dev/null || fail "the answer is not the reload's report: $(cat "$TMP/reload.body")"
pass "a reload finished while the daemon began to stop: its POST got 200 with the report"
