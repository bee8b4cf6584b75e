#!/bin/bash
# The database server turns read-only for a while (a failover, `SET GLOBAL
# read_only=1`), or its events table goes away: it takes connections but
# refuses every write.  That is the database being unavailable, not a bad
# record: /health says the database is failing, durable triggers are
# answered 503, and the history that waits (async rows, outcomes of events
# already stored) is written once the server takes writes again.  (Each
# record used to be dropped for good with an ERROR line of its own while
# /health said ok; in durable mode the lost outcomes made a clean restart
# deliver the finished events again.)
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

db_setup
stage_plugin slow
config() { # MODE
	write_db_plugin_settings "mode: $1" 'reconnect_max_ms: 300' <<'YAML'
    slow:
      workers: 1
      subscribe: ["**"]
      config: {record: @TMP@/rec.txt, delay_ms: 100}
YAML
}
database_is() { # ok|failing
	request GET /health
	[ "$(echo "$BODY" | jq -r .components.database)" = "$1" ]
}
dropped() {
	curl -s "http://127.0.0.1:$MPORT/metrics" | awk '$1 == "eventsys_db_records_dropped_total" {print $2}'
}

# ---- async: rows answered 202 while read-only wait for the server ----
config async
start_daemon
wait_until "database connected" 15 log_has "connected to event_system"
for cause in read_only rename; do
	if [ $cause = read_only ]; then db_root "SET GLOBAL read_only=1"; else db_sql "RENAME TABLE events TO events_away"; fi
	: > "$TMP/ids"
	for i in $(seq 1 10); do
		trigger "ro.$cause" "{\"i\":$i}"
		expect_status 202
		echo "$BODY" | jq -r .id >> "$TMP/ids"
	done
	wait_until "health: database failing ($cause)" 10 database_is failing
	request GET /health
	[ "$STATUS" = 200 ] || fail "async mode, $cause: /health $STATUS (the events are still taken)"
	if [ $cause = read_only ]; then db_root "SET GLOBAL read_only=0"; else db_sql "RENAME TABLE events_away TO events"; fi
	wait_until "health: database ok again ($cause)" 15 database_is ok
	all_stored() {
		local id
		while read -r id; do
			[ "$(db_count events "id='$id' AND state='done'")" = 1 ] || return 1
		done < "$TMP/ids"
	}
	wait_until "every event answered 202 while $cause stored and marked done" 15 all_stored
	[ "$(dropped)" = 0 ] || fail "$cause: $(dropped) history records dropped"
	pass "async, $cause: /health said the database was failing; the 10 rows answered 202 were written afterwards, none dropped"
done
[ "$(grep -c 'refused a history record' "$LOG")" = 0 ] || fail "records were refused one by one"
stop_daemon TERM

# ---- durable: outcomes of stored events wait; a clean restart redelivers nothing ----
config durable
start_daemon
wait_until "database connected" 15 log_has "connected to event_system"
: > "$TMP/rec.txt"
for i in $(seq 1 5); do trigger ro.pre "{\"i\":$i}"; expect_status 202; done
db_root "SET GLOBAL read_only=1"
wait_until "the 5 events delivered while read-only" 15 lines_at_least "$TMP/rec.txt" ' ro.pre ' 5
durable_refused() {
	trigger ro.during
	[ "$STATUS" = 503 ] && echo "$BODY" | jq -e '.error == "database_unavailable"' >/dev/null
}
wait_until "a durable trigger answered 503 database_unavailable" 10 durable_refused
request GET /health
[ "$STATUS" = 503 ] || fail "durable mode, read-only: /health $STATUS $BODY (expected 503: events are refused)"
db_root "SET GLOBAL read_only=0"
wait_until "health: database ok again" 15 database_is ok
outcomes_written() {
	[ "$(db_count events "name='ro.pre' AND state='done'")" = 5 ]
}
wait_until "the outcomes of the 5 events written" 15 outcomes_written
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
start_daemon
wait_until "the start's recovery" 15 log_has "no unfinished events\|redelivered"
expect_log "no unfinished events from an earlier run"
[ "$(lines_in "$TMP/rec.txt" ' ro.pre ')" = 5 ] || fail "ro.pre delivered $(lines_in "$TMP/rec.txt" ' ro.pre ') times in all (expected 5)"
[ "$(dropped)" = 0 ] || fail "durable: $(dropped) history records dropped"
pass "durable, read-only: triggers 503 and /health 503 meanwhile; the outcomes waited, and a clean restart redelivered nothing"
stop_daemon TERM
! sanitizer_report_in_log || fail "sanitizer report in the log"
