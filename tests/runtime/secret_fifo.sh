#!/bin/bash
# config_secret() with {file: PATH} reads only a regular file: a FIFO there
# (no writer) is ES_STATUS_INVALID with the reason logged.  Before, the
# open blocked the plugin's init() forever: the daemon never became ready,
# and a reload that met it never answered (nor did SIGTERM stop it).
set -eu
. "$(dirname "$0")/lib.sh"

export ES_TEST_SDK_SECRET=env-secret-value-1234
mkfifo "$TMP/secret.fifo"
printf 'file-secret-value\n' > "$TMP/secret.txt"
stage_plugin sdk11
config() { # SECRET-FILE
	write_config <<YAML
server: {port: @PORT@}
logging: {format: text, level: info}
plugins:
  directory: @PLUGDIR@
  settings:
    sdk11:
      config:
        record: @TMP@/record.jsonl
        from_env: {env: ES_TEST_SDK_SECRET}
        from_file: {file: $1}
YAML
}
config "$TMP/secret.fifo"
start_daemon
jq -e '.secret_file_status == 3' "$TMP/record.jsonl" >/dev/null || fail "init: $(cat "$TMP/record.jsonl")"
expect_log "config.from_file: secret file $TMP/secret.fifo is not a regular file"
pass "a FIFO as the secret file at start: ES_STATUS_INVALID, logged, the daemon ready"

config "$TMP/secret.txt"
render_config
request POST /api/admin/reload
expect_status 200
config "$TMP/secret.fifo"
render_config
STATUS=$(curl -s -m 10 -o "$TMP/body" -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/api/admin/reload") || STATUS=000
[ "$STATUS" = 200 ] || fail "the reload meeting the FIFO answered $STATUS: $(cat "$TMP/body")"
[ "$(jq -s '[.[] | select(has("secret_file_status"))] | map(.secret_file_status)' -c "$TMP/record.jsonl")" = "[3,0,3]" ] ||
	fail "init lines: $(cat "$TMP/record.jsonl")"
stop_daemon
pass "a reload meeting the FIFO answers; SIGTERM stops the daemon"
