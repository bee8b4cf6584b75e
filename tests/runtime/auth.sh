#!/bin/bash
# Bearer tokens: triggers need a token with trigger rights, admin endpoints
# an admin token; /health and /ready stay open; tokens never reach the log.
# A non-loopback address without tokens is refused unless allowed.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
export ES_TEST_ADMIN_TOKEN=admin-token-0123456789abcdef
printf 'trigger-token-0123456789abcdef\n' > "$TMP/trigger.token"
chmod 600 "$TMP/trigger.token"
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins: {directory: @PLUGDIR@}
auth:
  tokens:
    - {name: deployer, role: trigger, token_file: @TMP@/trigger.token}
    - {name: ops, role: admin, token_env: ES_TEST_ADMIN_TOKEN}
YAML
start_daemon

request POST /api/events/trigger '{"name":"a.b"}'
expect_status 401
expect_body '"error":"unauthorized"'
grep -qi '^WWW-Authenticate: Bearer' "$TMP/headers" || fail "401 without WWW-Authenticate"
pass "no token: 401 with WWW-Authenticate"

st=$(curl -s -o "$TMP/body" -w '%{http_code}' -H 'Authorization: Bearer wrong-token-0123456789abcdef' \
	-H 'Content-Type: application/json' -d '{"name":"a.b"}' "http://127.0.0.1:$PORT/api/events/trigger")
[ "$st" = 401 ] || fail "a wrong token got $st"
grep -q 'not valid' "$TMP/body" || fail "wrong token body: $(cat "$TMP/body")"
pass "a wrong token: 401"

st=$(curl -s -o "$TMP/body" -w '%{http_code}' -H 'Authorization: Bearer trigger-token-0123456789abcdef' \
	-H 'Content-Type: application/json' -d '{"name":"a.b"}' "http://127.0.0.1:$PORT/api/events/trigger")
[ "$st" = 202 ] || fail "the trigger token got $st: $(cat "$TMP/body")"
st=$(curl -s -o "$TMP/body" -w '%{http_code}' -H 'Authorization: Bearer trigger-token-0123456789abcdef' \
	"http://127.0.0.1:$PORT/api/plugins")
[ "$st" = 403 ] || fail "the trigger token on an admin endpoint got $st"
st=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $ES_TEST_ADMIN_TOKEN" \
	"http://127.0.0.1:$PORT/api/plugins")
[ "$st" = 200 ] || fail "the admin token got $st"
st=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $ES_TEST_ADMIN_TOKEN" \
	-H 'Content-Type: application/json' -d '{"name":"a.c"}' "http://127.0.0.1:$PORT/api/events/trigger")
[ "$st" = 202 ] || fail "the admin token could not trigger: $st"
for path in /api/events /api/events/some-id /api/dead-letters; do
	st=$(curl -s -o "$TMP/body" -w '%{http_code}' -H 'Authorization: Bearer trigger-token-0123456789abcdef' \
		"http://127.0.0.1:$PORT$path")
	[ "$st" = 403 ] || fail "the trigger token read the event history at $path: $st"
	st=$(curl -s -o "$TMP/body" -w '%{http_code}' "http://127.0.0.1:$PORT$path")
	[ "$st" = 401 ] || fail "no token read the event history at $path: $st"
done
st=$(curl -s -o "$TMP/body" -w '%{http_code}' -X POST -H 'Authorization: Bearer trigger-token-0123456789abcdef' \
	"http://127.0.0.1:$PORT/api/dead-letters/1/replay")
[ "$st" = 403 ] || fail "the trigger token replayed a dead letter: $st"
st=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Bearer $ES_TEST_ADMIN_TOKEN" \
	"http://127.0.0.1:$PORT/api/events")
[ "$st" = 404 ] && grep -q 'event history needs a database' "$TMP/body" || fail "history without a database: $st $(cat "$TMP/body")"
pass "a trigger token may trigger but not use admin endpoints (403); an admin token may do both; the event history needs an admin token"

request GET /health
expect_status 200
request GET /ready
expect_status 200
pass "/health and /ready need no token"

wait_until "access log line" 5 log_has 'POST /api/events/trigger 202 .* token=deployer'
wait_until "access log line" 5 log_has 'GET /api/plugins 200 .* token=ops'
log_has 'trigger-token-0123' && fail "a token appeared in the log"
log_has 'admin-token-0123' && fail "a token appeared in the log"
pass "the access log names the token, never shows it"
stop_daemon TERM

# An exposed address without tokens does not start...
write_config <<'YAML'
server: {host: 0.0.0.0, port: @PORT@}
plugins: {directory: @PLUGDIR@}
YAML
render_config
rc=0
"$ES_DAEMON" -c "$CONFIG" > "$TMP/exposed.log" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "started on 0.0.0.0 without tokens"
grep -q "server.host 0.0.0.0 is not a loopback address and auth.tokens is empty" "$TMP/exposed.log" ||
	fail "no clear reason: $(cat "$TMP/exposed.log")"
pass "a non-loopback address without tokens is refused with the reason"
# ...unless explicitly allowed.
write_config <<'YAML'
server: {host: 0.0.0.0, port: @PORT@, allow_unauthenticated: true}
plugins: {directory: @PLUGDIR@}
YAML
start_daemon
request POST /api/events/trigger '{"name":"a.b"}'
expect_status 202
pass "server.allow_unauthenticated: true serves it without tokens"
stop_daemon TERM
