#!/bin/bash
# database.enabled and database.dsn apply at a restart only: a reload that
# changes them says so and keeps the running database, for the routes of
# the event_subscriptions table too.  (A reload read those rows with the new
# values: database.enabled: false dropped every database route at once,
# and a new dsn took the routes from another database than the one that
# records the events.)
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

db_setup
db_root "CREATE DATABASE event_system2 CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
	GRANT ALL PRIVILEGES ON event_system2.* TO '$DB_USER'@'localhost'; FLUSH PRIVILEGES;"
mariadb --no-defaults -S "$DB_SOCKET" -u "$DB_USER" -p"$DB_PASSWORD" event_system2 < "$ES_TOP_SRCDIR/sql/schema.sql"
db_sql "INSERT INTO event_subscriptions (plugin, pattern) VALUES ('recorder', 'live.*')"
mariadb --no-defaults -S "$DB_SOCKET" -u "$DB_USER" -p"$DB_PASSWORD" event_system2 \
	-e "INSERT INTO event_subscriptions (plugin, pattern) VALUES ('recorder', 'other.*')"
stage_plugin recorder
config() { # ENABLED DSN
	write_config <<YAML
server: {port: @PORT@}
logging: {format: text, level: info, access_log: false}
database: {enabled: $1, dsn: "$2"}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {subscribe: ["file.*"], config: {record: @TMP@/rec.txt}}
YAML
	[ -z "${PORT:-}" ] || render_config
}
matched() { # NAME: the plugins the event went to
	request POST /api/events/trigger "{\"name\":\"$1\"}"
	expect_status 202
	echo "$BODY" | jq -c .matched
}
live="$(db_dsn_unix)"
other="$DB_USER:$DB_PASSWORD@unix($DB_SOCKET)/event_system2"
config true "$live"
start_daemon
wait_until "database connected" 15 log_has "connected to event_system"
[ "$(matched live.x)" = '["recorder"]' ] || fail "at start, live.x matched $(matched live.x)"

for change in "false $live" "true $other"; do
	# shellcheck disable=SC2086 # two words: enabled, dsn
	config $change
	request POST /api/admin/reload
	expect_status 200
	expect_body "needs a restart"
	[ "$(matched live.x)" = '["recorder"]' ] ||
		fail "after a reload with database ($change): live.x matched $(matched live.x), not recorder (the running database's route)"
	[ "$(matched other.x)" = '[]' ] ||
		fail "after a reload with database ($change): other.x matched $(matched other.x) (a route of a database not in use)"
	config true "$live"
	request POST /api/admin/reload
	expect_status 200
done
pass "reloads that change database.enabled or database.dsn keep the running database's routes and report the restart"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
