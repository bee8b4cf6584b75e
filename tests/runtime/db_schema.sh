#!/bin/bash
# The schema: sql/schema.sql equals the migrations applied in order;
# `event-system --migrate` creates it, upgrades an older one keeping its
# rows, and is idempotent; a daemon meeting an old schema says what to do
# (or migrates it with database.migrate_on_start); bad DSNs are clear
# errors; EVENT_SYSTEM_DATABASE_DSN overrides the file; retention purges.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

db_setup empty
migrations=("$ES_TOP_SRCDIR"/sql/migrations/[0-9]*.sql)

# schema.sql into one database, every migration into another: same tables.
db_root "CREATE DATABASE from_schema; CREATE DATABASE from_migrations;"
mariadb --no-defaults -S "$DB_SOCKET" -u root from_schema < "$ES_TOP_SRCDIR/sql/schema.sql"
for m in "${migrations[@]}"; do mariadb --no-defaults -S "$DB_SOCKET" -u root from_migrations < "$m"; done
tables=$(db_root "SELECT table_name FROM information_schema.tables WHERE table_schema='from_schema' ORDER BY 1")
[ "$tables" = "$(db_root "SELECT table_name FROM information_schema.tables WHERE table_schema='from_migrations' ORDER BY 1")" ] ||
	fail "the table lists differ"
for t in $tables; do
	a=$(db_root "SHOW CREATE TABLE from_schema.$t" | sed 's/ AUTO_INCREMENT=[0-9]*//')
	b=$(db_root "SHOW CREATE TABLE from_migrations.$t" | sed 's/ AUTO_INCREMENT=[0-9]*//')
	[ "$a" = "$b" ] || fail "table $t differs between sql/schema.sql and sql/migrations: $(diff <(echo "$a") <(echo "$b"))"
done
[ "$(db_root "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='from_schema' AND (engine<>'InnoDB' OR table_collation NOT LIKE 'utf8mb4%')")" = 0 ] ||
	fail "a table is not InnoDB/utf8mb4"
pass "sql/schema.sql equals sql/migrations applied in order ($(echo $tables | wc -w) tables, all InnoDB utf8mb4)"

config_with() {
	write_config <<YAML
server: {port: @PORT@}
logging: {format: text, level: info}
database:
  enabled: true
  dsn: "$1"
  reconnect_max_ms: 300
  retention_days: ${2:-30}
  purge_interval_s: 1
  migrate_on_start: ${3:-false}
  mode: ${4:-durable}
plugins:
  directory: @PLUGDIR@
YAML
	PORT=0 render_config
}

# An older schema (version 1) with rows in it.
for m in "${migrations[0]}"; do db_load "$m"; done
db_sql "INSERT INTO schema_migrations (version, name) VALUES (1, 'initial');
	INSERT INTO events (seq,id,name,source,event_time,received_at,payload,state)
	VALUES (1,'old-1','legacy.event','old','2020-01-01','2020-01-01','{\"kept\":true}','done');
	INSERT INTO deliveries (event_seq,plugin,status,attempts,finished_at) VALUES (1,'log','delivered',1,'2020-01-01');"

# A daemon meeting it says what to do.
config_with "$(db_dsn_tcp)"
start_daemon
old_schema() {
	request GET /health
	echo "$BODY" | jq -e '.components.database == "failing"
		and (.reasons.database | test("schema is version 1 and this build needs [0-9]+: run `event-system --migrate`"))' >/dev/null
}
wait_until "health names the old schema" 10 old_schema
request POST /api/events/trigger '{"name":"x.y"}'
expect_status 503
expect_body "event-system --migrate"
stop_daemon TERM
pass "a daemon meeting an older schema refuses durable events and says to run event-system --migrate"

if "$ES_DAEMON" -c "$CONFIG" --check-config > "$TMP/check.txt" 2>&1; then fail "--check-config passed an old schema"; fi
grep -q "database: the database schema is version 1 and this build needs" "$TMP/check.txt" ||
	fail "--check-config on the old schema: $(cat "$TMP/check.txt")"
pass "--check-config names the old schema as a problem"

"$ES_DAEMON" -c "$CONFIG" --migrate > "$TMP/migrate.txt" 2>&1 || { cat "$TMP/migrate.txt"; fail "--migrate failed"; }
want=$(basename "${migrations[-1]}" | sed 's/_.*//; s/^0*//')
grep -q "schema version 1; this build needs $want" "$TMP/migrate.txt" || fail "migrate output: $(cat "$TMP/migrate.txt")"
grep -q "^applied 0002_" "$TMP/migrate.txt" || fail "migration 2 not reported"
[ "$(db_sql "SELECT MAX(version) FROM schema_migrations")" = "$want" ] || fail "version not recorded"
[ "$(db_sql "SELECT JSON_EXTRACT(payload,'$.kept') FROM events WHERE id='old-1'")" = true ] || fail "old event lost"
[ "$(db_sql "SELECT CONCAT(attempts,'|',timed_out,'|',latency_us) FROM deliveries WHERE event_seq=1")" = "1|0|0" ] ||
	fail "old delivery not carried over"
[ "$(db_count audit_log "action='schema.migrated' AND detail='schema version 1 -> $want'")" = 1 ] || fail "migration not audited"
for t in $tables; do
	a=$(db_root "SHOW CREATE TABLE from_schema.$t" | sed 's/ AUTO_INCREMENT=[0-9]*//; s/from_schema/X/')
	b=$(db_root "SHOW CREATE TABLE $DB_NAME.$t" | sed 's/ AUTO_INCREMENT=[0-9]*//; s/event_system/X/')
	[ "$a" = "$b" ] || fail "migrated table $t differs from sql/schema.sql"
done
"$ES_DAEMON" -c "$CONFIG" --migrate > "$TMP/migrate2.txt" 2>&1 || fail "second --migrate failed"
"$ES_DAEMON" -c "$CONFIG" --check-config > "$TMP/check.txt" 2>&1 || fail "--check-config after migrating: $(cat "$TMP/check.txt")"
grep -q "database: reachable, schema version $want" "$TMP/check.txt" || fail "check output: $(cat "$TMP/check.txt")"
grep -q "already up to date" "$TMP/migrate2.txt" || fail "second migrate: $(cat "$TMP/migrate2.txt")"
grep -q "$DB_PASSWORD" "$TMP/migrate.txt" "$TMP/migrate2.txt" && fail "--migrate printed the password"
pass "event-system --migrate upgrades version 1 to $want keeping its rows, audits it, and is idempotent"

# migrate_on_start on an empty database.
db_root "CREATE DATABASE fresh; GRANT ALL ON fresh.* TO '$DB_USER'@'127.0.0.1';"
config_with "$DB_USER:$DB_PASSWORD@tcp(127.0.0.1:$DB_PORT)/fresh" 30 true
start_daemon
wait_until "migrated at start" 10 log_has "applied migration 0002_"
wait_until "connected" 10 log_has "connected to"
[ "$(db_root "SELECT MAX(version) FROM fresh.schema_migrations")" = "$want" ] || fail "fresh not migrated"
stop_daemon TERM
pass "database.migrate_on_start migrates an empty database at connect"

# Bad DSNs: clear errors that never echo the password.
for bad in "event_system:pw@tcp(127.0.0.1:99999)/event_system" "event_system:pw@tcp(127.0.0.1:3306)" \
	"just-a-string" "event_system:pw@tcp(:3306)/db"; do
	config_with "$bad"
	if "$ES_DAEMON" -c "$CONFIG" --check-config > "$TMP/bad.txt" 2>&1; then fail "accepted DSN $bad"; fi
	grep -q "database.dsn: " "$TMP/bad.txt" || fail "no database.dsn error for $bad: $(cat "$TMP/bad.txt")"
	grep -q ":pw@" "$TMP/bad.txt" && fail "the error shows the password: $(cat "$TMP/bad.txt")"
done
pass "malformed DSNs are config errors naming database.dsn, without the password"

# The environment overrides the file's DSN (unix socket form).
config_with "nobody:wrong@tcp(127.0.0.1:1)/nothing"
EVENT_SYSTEM_DATABASE_DSN="$(db_dsn_unix)" start_daemon
wait_until "connected through the socket" 10 log_has "connected to event_system@unix($DB_SOCKET)/event_system"
pass "EVENT_SYSTEM_DATABASE_DSN (unix socket form) overrides database.dsn"

# Retention: old rows go in batches, recent ones stay.
request POST /api/events/trigger '{"name":"recent.one"}'
expect_status 202
db_sql "INSERT INTO events (seq,id,name,source,event_time,received_at,payload,state)
	SELECT 100 + seq, CONCAT('expired-', seq), 'expired.event', 'test', '2020-01-01', '2020-01-01', '{}', 'done'
	FROM seq_1_to_2500;
	INSERT INTO deliveries (event_seq,plugin,status,attempts,finished_at)
	SELECT 100 + seq, 'recorder', 'delivered', 1, '2020-01-01' FROM seq_1_to_2500;"
stop_daemon TERM
config_with "$(db_dsn_unix)" 1
start_daemon
wait_until "purged" 20 db_count_is 0 events "name IN ('expired.event','legacy.event')"
[ "$(db_count deliveries "event_seq <= 2600")" = 0 ] || fail "deliveries of purged events remain"
[ "$(db_count events "name='recent.one'")" = 1 ] || fail "a recent event was purged"
wait_until "purge logged" 10 log_has "retention: deleted 2501 events older than 1 days"
curl -s "http://127.0.0.1:$MPORT/metrics" | grep -q '^eventsys_db_purged_events_total 2501$' || fail "purge not counted"
pass "retention deletes expired events and their deliveries in batches (2501), keeps recent ones, counts and logs it"
stop_daemon TERM

# Async mode: 202 at once, the row and the outcome written behind.
stage_plugin recorder
config_with "$(db_dsn_unix)" 30 false async
start_daemon
request POST /api/events/trigger '{"name":"async.one","data":{"k":1}}'
expect_status 202
aid=$(echo "$BODY" | jq -r .id)
wait_until "async row written" 10 db_count_is 1 events "id='$aid' AND state='done'"
aseq=$(db_sql "SELECT seq FROM events WHERE id='$aid'")
wait_until "async outcome written" 10 db_count_is 1 deliveries "event_seq=$aseq AND plugin='recorder'"
stop_daemon TERM
pass "async mode answers 202 at once and writes the event, its outcome and its done mark behind"
