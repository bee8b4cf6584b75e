#!/bin/bash
# Durable mode with ?wait=true while reloads change the plugin set: the
# event is dispatched by the routing table in force when its row commits,
# and its waiter must be sized by that same table.  It was sized by the
# table the request arrived with: a reload adding plugins while the row was
# being stored overflowed the waiter's outcomes (ASan: heap-buffer-overflow;
# release: a 504 with garbage names).  The store is held deterministically
# with LOCK TABLES on a real MariaDB; then reloads race sync triggers.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"
: "${ES_TOP_SRCDIR:?}"

db_setup
added=20
build_named_plugins "$TMP/named" $added
stage_plugin recorder
write_config <<YAML
server: {port: @PORT@}
event: {sync_timeout_ms: 1500}
logging: {format: text, level: info}
database:
  enabled: true
  dsn: "$(db_dsn_tcp)"
  query_timeout_ms: 30000
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
YAML
start_daemon
wait_until "database connected" 10 log_has "connected to event_system@127.0.0.1:$DB_PORT/event_system"
generation=1
reload_and_wait() {
	generation=$((generation + 1))
	kill -HUP "$DAEMON_PID"
	wait_until "reload to generation $generation" 15 log_has "reload by signal SIGHUP: ok, generation $generation"
}

# lock_events / unlock_events: a root session holds a write lock on the
# events table (the durable INSERT waits for it) until it is killed
LOCKER=
lock_events() {
	db_root "LOCK TABLES $DB_NAME.events WRITE; SELECT SLEEP(300);" >/dev/null 2>&1 &
	LOCKER=$!
	wait_until "the events table is locked" 10 locker_id
}
locker_id() {
	local id
	id=$(db_root "SELECT id FROM information_schema.processlist WHERE info = 'SELECT SLEEP(300)'")
	[ -n "$id" ] && echo "$id"
}
unlock_events() {
	db_root "KILL $(locker_id)"
	wait "$LOCKER" 2>/dev/null || true
}
insert_waiting() {
	[ "$(db_root "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'INSERT INTO events%'")" -ge 1 ]
}
# sync_trigger NAME OUT: a synchronous trigger in the background; its
# status and body go to OUT
sync_trigger() {
	curl -s -o "$2" -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
		-d "{\"name\":\"$1\"}" "http://127.0.0.1:$PORT/api/events/trigger?wait=true" > "$2.status" || true
}

# ---- 1: plugins added while the row is being stored ----
lock_events
sync_trigger race.added "$TMP/added.json" &
client=$!
wait_until "the durable INSERT waits for the lock" 10 insert_waiting
cp "$TMP/named"/*.so "$PLUGDIR/"
reload_and_wait
unlock_events
wait "$client"
[ "$(cat "$TMP/added.json.status")" = 200 ] ||
	fail "sync trigger across a reload answered $(cat "$TMP/added.json.status"): $(head -c 600 "$TMP/added.json")"
jq -e --argjson n $((added + 1)) '.status == "ok" and (.matched | length) == $n and
	([.outcomes[] | select(.status == "ok")] | length) == $n' "$TMP/added.json" >/dev/null ||
	fail "the answer does not list the $((added + 1)) plugins of the new table as ok: $(head -c 600 "$TMP/added.json")"
daemon_exited && fail "the daemon died"
pass "a durable ?wait=true whose row commits after a reload added $added plugins waits for all $((added + 1))"

# ---- 2: the store outlasts sync_timeout_ms: the wait for outcomes starts
# at dispatch (a waiter that timed out during the store was freed under it)
lock_events
sync_trigger race.slowstore "$TMP/slow.json" &
client=$!
wait_until "the durable INSERT waits for the lock" 10 insert_waiting
t0=$(date +%s%N)
since_t0_over() { [ $(($(date +%s%N) - t0)) -gt "$1" ]; }
# deliberately let more than sync_timeout_ms (1.5 s) pass with the row unstored
wait_until "sync_timeout_ms passed" 10 since_t0_over 2000000000
[ ! -s "$TMP/slow.json.status" ] || fail "answered while the row was not stored: $(cat "$TMP/slow.json.status")"
unlock_events
wait "$client"
[ "$(cat "$TMP/slow.json.status")" = 200 ] ||
	fail "a sync trigger whose store took longer than sync_timeout_ms answered $(cat "$TMP/slow.json.status"): $(cat "$TMP/slow.json")"
jq -e '.status == "ok"' "$TMP/slow.json" >/dev/null || fail "not ok: $(cat "$TMP/slow.json")"
daemon_exited && fail "the daemon died"
pass "a store slower than sync_timeout_ms is answered with the outcomes (the timeout counts from dispatch)"

# ---- 3: reloads removing and adding the plugins race sync triggers ----
: > "$TMP/answers"
clients=()
for c in 1 2 3; do
	(
		while [ ! -e "$TMP/stop" ]; do
			sync_trigger "race.c$c" "$TMP/c$c.json"
			printf '%s %s\n' "$(cat "$TMP/c$c.json.status")" "$(jq -c '[.status, (.matched | length)]' "$TMP/c$c.json" 2>/dev/null)" \
				>> "$TMP/answers"
		done
	) &
	clients+=($!)
done
for round in 1 2 3 4; do
	rm -f "$PLUGDIR"/p*.so
	reload_and_wait
	cp "$TMP/named"/*.so "$PLUGDIR/"
	reload_and_wait
done
touch "$TMP/stop"
wait "${clients[@]}"
total=$(wc -l < "$TMP/answers")
[ "$total" -ge 4 ] || fail "only $total sync triggers ran during the reloads"
# each answer: 200 ok, matched by one table: 1 (recorder) or 21 plugins
bad=$(grep -v -E '^200 \["ok",(1|21)\]$' "$TMP/answers" || true)
[ -z "$bad" ] || fail "answers during reloads not 200 ok by one table: $(echo "$bad" | sort | uniq -c | head)"
daemon_exited && fail "the daemon died"
pass "$total durable sync triggers during 8 reloads: every one 200 ok, routed by one table"

stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
