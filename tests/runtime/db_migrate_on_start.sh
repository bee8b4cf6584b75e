#!/bin/bash
# First start against an empty database with database.migrate_on_start:
# the schema is migrated once, before anything that needs it runs, and the
# daemon starts cleanly.  Every database thread used to be able to migrate:
# on a first start two migrated at once and one failed with "applied but not
# recorded: Duplicate entry".  Several fresh databases, each started on.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

db_setup empty
migrations=("$ES_TOP_SRCDIR"/sql/migrations/[0-9]*.sql)
want=${#migrations[@]}
stage_plugin recorder

rounds=5
for round in $(seq 1 $rounds); do
	db="fresh$round"
	db_root "CREATE DATABASE $db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
		GRANT ALL ON $db.* TO '$DB_USER'@'127.0.0.1';"
	write_config <<YAML
server: {port: @PORT@}
logging: {format: text, level: info}
database:
  enabled: true
  dsn: "$DB_USER:$DB_PASSWORD@tcp(127.0.0.1:$DB_PORT)/$db"
  migrate_on_start: true
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
YAML
	start_daemon
	wait_until "round $round: connected" 15 log_has "connected to $DB_USER@127.0.0.1:$DB_PORT/$db"
	# the schema exists before the daemon is ready: a durable event is stored at once
	request POST /api/events/trigger '{"name":"first.start"}'
	expect_status 202
	log_has "not recorded\|Duplicate entry\|migration .* failed" &&
		fail "round $round: a migration failed: $(grep -m3 'not recorded\|Duplicate\|migration' "$LOG")"
	applied=$(grep -c "applied migration" "$LOG" || true)
	[ "$applied" = "$want" ] || fail "round $round: $applied migrations applied, expected $want once each"
	[ "$(db_root "SELECT COUNT(*), MAX(version) FROM $db.schema_migrations" | tr '\t' ' ')" = "$want $want" ] ||
		fail "round $round: schema_migrations: $(db_root "SELECT * FROM $db.schema_migrations")"
	[ "$(db_root "SELECT COUNT(*) FROM $db.events WHERE name='first.start'")" = 1 ] || fail "round $round: event not stored"
	request GET /health
	echo "$BODY" | jq -e '.components.database == "ok"' >/dev/null || fail "round $round: health: $BODY"
	stop_daemon TERM
	[ "$EXIT_CODE" = 0 ] || fail "round $round: exit code $EXIT_CODE"
done
pass "$rounds first starts on empty databases: each migration applied once, the daemon healthy"
