#!/bin/bash
# A reload never weakens authentication by accident: an empty file, a file
# cut off before `auth:` or a file without `auth:` leaves the tokens in
# force (the reload fails and says why); only a new config that also sets
# server.allow_unauthenticated removes them.  The exposure rule looks at the
# address actually served, not at the new file's server.host.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
TOKEN=admin-token-0123456789abcdef
write_config <<YAML
server: {port: @PORT@}
logging: {format: text}
plugins: {directory: @PLUGDIR@}
auth:
  tokens:
    - {name: ops, role: admin, token: $TOKEN}
YAML
start_daemon -P "$PLUGDIR" # the plugin directory does not depend on the file
FULL=$(cat "$CONFIG")

# status PATH [TOKEN]: the HTTP status of a GET (or of a trigger for /api/events/trigger)
status() {
	local args=(-s -o "$TMP/body" -w '%{http_code}')
	[ -n "${2:-}" ] && args+=(-H "Authorization: Bearer $2")
	[ "$1" = /api/events/trigger ] && args+=(-H 'Content-Type: application/json' -d '{"name":"a.b"}')
	curl "${args[@]}" "http://127.0.0.1:$PORT$1" || echo 000
}

expect_still_protected() {
	[ "$(status /api/events/trigger)" = 401 ] || fail "$1: a trigger without a token was not refused"
	[ "$(status /api/plugins)" = 401 ] || fail "$1: an admin endpoint without a token was not refused"
	[ "$(status /api/plugins $TOKEN)" = 200 ] || fail "$1: the admin token no longer works"
}

failed_reloads() { lines_in "$LOG" "reload by signal SIGHUP: failed"; }
finished_reloads() { lines_in "$LOG" "reload by signal SIGHUP: [of]"; }

# sighup_refused DESCRIPTION: send SIGHUP with $CONFIG as it is now; the
# tokens must still be required and the reload reported failed, with why
sighup_refused() {
	local before
	before=$(finished_reloads)
	kill -HUP "$DAEMON_PID"
	wait_until "the reload with $1 to finish" 10 lines_at_least "$LOG" "reload by signal SIGHUP: [of]" $((before + 1))
	expect_still_protected "$1"
	grep "reload by signal SIGHUP: [of]" "$LOG" | tail -n 1 | grep -q "failed.*no auth.tokens" ||
		fail "$1: the reload is not reported failed with the reason: $(grep 'SIGHUP: ' "$LOG" | tail -n 1)"
	pass "reload with $1: refused, tokens kept"
}

: > "$CONFIG"
sighup_refused "an empty file"

printf '%s\n' "$FULL" | sed '/^  tokens:/q' > "$CONFIG"
sighup_refused "a file cut off inside auth: (tokens: with nothing after it)"

printf '%s\n' "$FULL" | sed '/^auth:/,$d' > "$CONFIG"
sighup_refused "a file without auth:"

printf '%s\nauth: {tokens: []}\n' "$(printf '%s\n' "$FULL" | sed '/^auth:/,$d')" > "$CONFIG"
sighup_refused "an empty token list"

# The same through the admin endpoint: 422, and the tokens stay.
: > "$CONFIG"
st=$(curl -s -o "$TMP/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
	"http://127.0.0.1:$PORT/api/admin/reload")
[ "$st" = 422 ] || fail "POST /api/admin/reload with an empty file answered $st: $(cat "$TMP/body")"
grep -q 'no auth.tokens' "$TMP/body" || fail "the reload report does not say why: $(cat "$TMP/body")"
expect_still_protected "POST /api/admin/reload with an empty file"
pass "POST /api/admin/reload with an empty file: 422, tokens kept"

# Removing the tokens on purpose is possible: the new file says so.
printf '%s\n' "$FULL" | sed '/^auth:/,$d' | sed 's/^server: {port: \([0-9]*\)}/server: {port: \1, allow_unauthenticated: true}/' > "$CONFIG"
grep -q allow_unauthenticated "$CONFIG" || fail "test setup: could not add allow_unauthenticated"
kill -HUP "$DAEMON_PID"
wait_until "the deliberate reload" 10 log_has "reload by signal SIGHUP: ok"
[ "$(status /api/plugins)" = 200 ] || fail "tokens removed with allow_unauthenticated, but still refused"
pass "a reload with server.allow_unauthenticated: true removes the tokens"
stop_daemon

# ---- the exposure rule uses the address being served ----
# Served on 0.0.0.0 (not loopback) without tokens, allowed explicitly.  A new
# file saying 127.0.0.1 (or nothing: an empty file means 127.0.0.1) without
# the permission is refused: the listener stays on 0.0.0.0 until a restart.
write_config <<'YAML'
server: {host: 0.0.0.0, port: @PORT@, allow_unauthenticated: true}
logging: {format: text}
plugins: {directory: @PLUGDIR@}
YAML
start_daemon -P "$PLUGDIR" # the plugin directory does not depend on the file
sed -e 's/host: 0.0.0.0/host: 127.0.0.1/' -e 's/, allow_unauthenticated: true//' "$CONFIG" > "$CONFIG.new"
mv "$CONFIG.new" "$CONFIG"
before=$(failed_reloads)
kill -HUP "$DAEMON_PID"
wait_until "the reload to fail" 10 lines_at_least "$LOG" "reload by signal SIGHUP: failed" $((before + 1))
grep "reload by signal SIGHUP: failed" "$LOG" | tail -n 1 | grep -q "served on 0.0.0.0" ||
	fail "the exposure refusal does not name the served address: $(grep 'SIGHUP: failed' "$LOG" | tail -n 1)"
: > "$CONFIG"
kill -HUP "$DAEMON_PID"
wait_until "the reload of an empty file to fail" 10 lines_at_least "$LOG" "reload by signal SIGHUP: failed" $((before + 2))
pass "served on 0.0.0.0: a new file that names loopback (or is empty) without tokens or permission is refused"
stop_daemon
