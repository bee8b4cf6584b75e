#!/bin/bash
# The database goes away while no event comes: /health says so within a few
# seconds (an idle writer checks its connection), the log says it once, and
# the first trigger is answered 503 at once; when the server is back the
# daemon reconnects by itself.  (With no traffic /health used to say the
# database was ok for as long as the outage lasted.)
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

db_setup
stage_plugin recorder
write_db_plugin_settings 'reconnect_max_ms: 300' <<'YAML'
    recorder: {config: {record: @TMP@/rec.txt}}
YAML
start_daemon
wait_until "database connected" 15 log_has "connected to event_system"
health_database() { # STATUS DATABASE
	request GET /health
	[ "$STATUS" = "$1" ] && [ "$(echo "$BODY" | jq -r .components.database)" = "$2" ]
}
health_database 200 ok || fail "not healthy at start: $STATUS $BODY"

db_stop_server
wait_until "/health shows the idle database failing" 10 health_database 503 failing
expect_log "unavailable: .*; triggers are answered 503 until it is back"
request POST /api/events/trigger '{"name":"idle.after"}'
expect_status 503
echo "$BODY" | jq -e '.error == "database_unavailable"' >/dev/null || fail "503 body: $BODY"
pass "an outage with no traffic shows in /health (503, database failing) and the log; the next trigger is answered 503"

db_start_server
wait_until "the daemon reconnects by itself" 15 health_database 200 ok
trigger idle.back
expect_status 202
pass "the daemon reconnects once the server is back"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
