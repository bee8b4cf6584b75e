#!/bin/bash
# /health is open, so it never shows the database driver's error text (it
# names hosts and users): it says "failing".  The text is for admin tokens.
set -eu
. "$(dirname "$0")/lib.sh"

ADMIN=admin-token-0123456789abcdef
TRIGGER=trigger-token-0123456789abcdef
# Nothing listens on port 1: the database fails from the start (async mode
# keeps serving, so /health answers 200 "degraded").
write_config <<YAML
server: {port: @PORT@}
logging: {format: text}
plugins: {directory: @PLUGDIR@}
database: {enabled: true, mode: async, dsn: "dbuser:pw0123456789@tcp(127.0.0.1:1)/event_system"}
auth:
  tokens:
    - {name: ops, role: admin, token: $ADMIN}
    - {name: deployer, role: trigger, token: $TRIGGER}
YAML
start_daemon

health() { curl -s ${1:+-H "Authorization: Bearer $1"} "http://127.0.0.1:$PORT/health"; }
db_failing() { [ "$(health | jq -r .components.database)" = failing ]; }
wait_until "the database to be reported failing" 10 db_failing

for who in "" "$TRIGGER" "wrong-token-0123456789abcdef"; do
	body=$(health "$who")
	[ "$(echo "$body" | jq -r .reasons.database)" = failing ] ||
		fail "/health ${who:+with a non-admin token }shows database details: $body"
	case "$body" in *127.0.0.1* | *onnect*) fail "/health leaks the driver's text: $body" ;; esac
done
pass "/health without an admin token says only 'failing'"

body=$(health "$ADMIN")
echo "$body" | jq -r .reasons.database | grep -q "127.0.0.1" ||
	fail "/health with the admin token has no database details: $body"
pass "/health with the admin token shows the driver's text"
stop_daemon
