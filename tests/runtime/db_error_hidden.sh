#!/bin/bash
# A durable trigger refused because the database is unavailable (here: the
# daemon's password is refused, as after a rotation) is answered 503
# database_unavailable; the database driver's text ("Access denied for user
# ...") is in the answer only for an admin token (security.md: it names
# hosts, users and schema details), as in /health's reasons.database, and
# always in the log.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

db_setup
stage_plugin recorder
ADMIN_TOKEN=admin-token-0123456789abcdef
TRIGGER_TOKEN=trigger-token-0123456789abcdef
CONFIG_HEAD="auth:
  tokens:
    - {name: ops, role: admin, token: $ADMIN_TOKEN}
    - {name: deployer, role: trigger, token: $TRIGGER_TOKEN}" \
	write_db_plugin_settings "dsn: \"$DB_USER:not-the-password@unix($DB_SOCKET)/$DB_NAME\"" 'reconnect_max_ms: 300' <<'YAML'
    recorder: {config: {record: @TMP@/recorder.txt}}
YAML
start_daemon
wait_until "the database refusing the password" 10 log_has "Access denied for user"

# trigger_as TOKEN: POST one event with TOKEN; sets STATUS and BODY
trigger_as() {
	STATUS=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $1" \
		-H 'Content-Type: application/json' --data-binary '{"name":"recorder.item"}' \
		"http://127.0.0.1:$PORT/api/events/trigger") || STATUS=000
	BODY=$(cat "$TMP/body")
}

trigger_as "$TRIGGER_TOKEN"
expect_status 503
echo "$BODY" | jq -e '.error == "database_unavailable"' >/dev/null || fail "503 body: $BODY"
expect_body "the database is unavailable"
for secret in "Access denied" "$DB_USER" "$DB_SOCKET" "localhost"; do
	case "$BODY" in *"$secret"*) fail "a trigger token's 503 shows the driver's text ($secret): $BODY" ;; esac
done
pass "a trigger token's 503 says the database is unavailable without the driver's text"

trigger_as "$ADMIN_TOKEN"
expect_status 503
expect_body "Access denied for user"
pass "an admin token's 503 carries the driver's text"
[ ! -s "$TMP/recorder.txt" ] || fail "a refused event was delivered"
stop_daemon TERM

# The same when the database goes away after the start: the trigger is
# queued for the writer and refused when the write fails (the answer comes
# later, from a request kept for it).
sed -i "s|$DB_USER:not-the-password@|$DB_USER:$DB_PASSWORD@|" "$CONFIG.in"
start_daemon
wait_until "database connected" 10 log_has "connected to $DB_USER@"
trigger_as "$TRIGGER_TOKEN"
expect_status 202
db_stop_server
refused_as() {
	trigger_as "$1"
	[ "$STATUS" = 503 ]
}
wait_until "a 503 while the database is down" 20 refused_as "$TRIGGER_TOKEN"
for secret in "connect to" "gone away" "Lost connection" "$DB_SOCKET" "$DB_USER"; do
	case "$BODY" in *"$secret"*) fail "a trigger token's 503 shows the driver's text ($secret): $BODY" ;; esac
done
wait_until "an admin's 503 while the database is down" 20 refused_as "$ADMIN_TOKEN"
# the driver's text of the moment (the lost connection's, or a reconnect's),
# in parentheses after the reason
echo "$BODY" | jq -e '.message | test("the database is unavailable \\(.+\\)") and (test("details for admin") | not)' \
	>/dev/null ||
	fail "an admin token's 503 has no driver text: $BODY"
daemon_exited && fail "the daemon died answering the refusals"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
pass "database gone after the start: the trigger token's 503 has no driver text, the admin's has it"
