#!/bin/bash
# The config file and token files are trusted only when owned by root or
# the service user and not writable by group or others: otherwise the
# daemon does not start, and a reload keeps the running state and says why
# in its one audit line.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
TOKEN=admin-token-0123456789abcdef
printf '%s\n' "$TOKEN" > "$TMP/admin.token"
chmod 600 "$TMP/admin.token"
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins: {directory: @PLUGDIR@}
auth:
  tokens:
    - {name: ops, role: admin, token_file: @TMP@/admin.token}
YAML

# ---- at start ----
PORT=18000 render_config
chmod 664 "$CONFIG"
st=0
"$ES_DAEMON" -c "$CONFIG" --check-config > "$TMP/check.out" 2>&1 || st=$?
[ "$st" != 0 ] || fail "--check-config accepted a group-writable config"
grep -q "config file $CONFIG is writable by group or others (mode 0664)" "$TMP/check.out" ||
	fail "--check-config does not say why: $(cat "$TMP/check.out")"
chmod 644 "$CONFIG"
chmod 606 "$TMP/admin.token"
st=0
"$ES_DAEMON" -c "$CONFIG" --check-config > "$TMP/check.out" 2>&1 || st=$?
[ "$st" != 0 ] || fail "--check-config accepted a world-writable token file"
grep -q "token file $TMP/admin.token is writable by group or others" "$TMP/check.out" ||
	fail "--check-config does not say why: $(cat "$TMP/check.out")"
chmod 600 "$TMP/admin.token"
pass "a group-writable config or a world-writable token file is refused at start"

# ---- on reload ----
start_daemon
# reload_refused DESCRIPTION PATTERN: SIGHUP; the reload fails, naming PATTERN, and the tokens stay
reload_refused() {
	local before
	before=$(lines_in "$LOG" "reload by signal SIGHUP: [of]")
	kill -HUP "$DAEMON_PID"
	wait_until "the reload ($1) to finish" 10 lines_at_least "$LOG" "reload by signal SIGHUP: [of]" $((before + 1))
	grep "reload by signal SIGHUP: [of]" "$LOG" | tail -n 1 | grep -q "failed.*$2" ||
		fail "$1: the reload is not refused with the reason: $(grep 'SIGHUP: ' "$LOG" | tail -n 1)"
	st=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/plugins")
	[ "$st" = 401 ] || fail "$1: an admin endpoint without a token answered $st"
	st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/plugins")
	[ "$st" = 200 ] || fail "$1: the admin token answered $st"
	pass "reload with $1: refused with the reason, running state kept"
}

# The new file drops the tokens, but it is writable by others: refused for that.
sed '/^auth:/,$d' "$CONFIG" > "$CONFIG.new"
echo "server: {port: $PORT, allow_unauthenticated: true}" > "$CONFIG"
sed '/^server:/d' "$CONFIG.new" >> "$CONFIG"
chmod 666 "$CONFIG"
reload_refused "a world-writable config" "config file $CONFIG is writable by group or others"
render_config
chmod 644 "$CONFIG"
printf '%s\n' other-token-0123456789abcdef > "$TMP/admin.token"
chmod 620 "$TMP/admin.token"
reload_refused "a group-writable token file" "token file $TMP/admin.token is writable by group or others"
if [ "$(id -u)" = 0 ]; then
	chmod 600 "$TMP/admin.token"
	chown 65534 "$TMP/admin.token"
	reload_refused "a token file owned by another user" "is owned by uid 65534, not by root or the service user"
	chown 0 "$TMP/admin.token"
fi
stop_daemon
