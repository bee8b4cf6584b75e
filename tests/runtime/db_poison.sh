#!/bin/bash
# A poison event with the database on: an event that makes a plugin
# segfault kills the daemon; the test restarts it as systemd would
# (Restart=on-failure), again and again.  Each start redelivers the
# unfinished event and counts the crashes recorded in delivery_crashes;
# once it crashed the plugin max_crashes times it is dead-lettered for that
# plugin ("crashed the plugin 3 times", GET /api/dead-letters) instead of
# delivered again: the daemon stays up, and the other plugins received the
# event and keep receiving new ones.  (The event used to be redelivered at
# every start, as attempt 1, and killed the daemon each time; now the Nth
# crash is attempt N.)
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

db_setup
stage_plugin crash
stage_plugin recorder
write_db_plugin_settings <<'YAML'
    crash:
      subscribe: ["crash.**", "fine.**"]
      workers: 1
      max_crashes: 3
      quarantine_after: 0
      config: {record: @TMP@/crash.txt}
    recorder:
      subscribe: ["**"]
      config: {record: @TMP@/recorder.txt}
YAML
let_fatal_signals_kill

start_daemon
wait_until "database connected" 20 log_has "connected to event_system@unix"
trigger fine.before
expect_status 202
wait_until "crash got fine.before" 10 lines_at_least "$TMP/crash.txt" "fine.before" 1
# The event's id is the client's: the 202 (sent once the row is committed,
# as the event is handed to the plugins) races the crash it causes, and the
# connection may end without an answer, as with any daemon that dies.
poison=poison-event-1
request POST /api/events/trigger "{\"name\":\"crash.poison\",\"id\":\"$poison\",\"data\":null}"
[ "$STATUS" = 202 ] || [ "$STATUS" = 000 ] || fail "crash.poison: expected 202 (or no answer), got $STATUS: $BODY"
expect_death "on the poison event" 20 139
expect_log "fatal SIGSEGV in plugin 'crash' handling event $poison (attempt 1)"
pass "the poison event $poison killed the daemon (crash 1)"

# Restart as systemd would, until the daemon stays up (a bound: no crash
# loop); each redelivery continues the attempt count: the Nth crash is attempt N.
restart_until_up crash "$poison" 2 6
deaths=$((1 + RESTART_DEATHS))
[ "$deaths" = 3 ] || fail "expected the event to crash the plugin 3 times (max_crashes), it did $deaths times"
expect_log "event $poison (crash.poison) dead-lettered instead of delivered again: it crashed the plugin 3 times (max_crashes 3)"
pass "after $deaths crashes the next start dead-letters the event for 'crash' and stays up ($STARTS restarts)"

[ "$(db_count delivery_crashes "plugin='crash'")" = 3 ] || fail "delivery_crashes has $(db_count delivery_crashes) rows, not 3"
request GET "/api/dead-letters?plugin=crash"
expect_status 200
n=$(echo "$BODY" | jq --arg id "$poison" '[.dead_letters[] | select(.event.id == $id and .error == "crashed the plugin 3 times")] | length')
[ "$n" = 1 ] || fail "GET /api/dead-letters has no 'crashed the plugin 3 times' dead letter for $poison: $BODY"
wait_until "the poison event's row is done" 10 db_count_is 1 events "id='$poison' AND state='done'"
pass "GET /api/dead-letters shows it with reason 'crashed the plugin 3 times'; its row is done"

# The other plugin had it, and both keep receiving.
[ "$(lines_in "$TMP/recorder.txt" "$poison")" -ge 1 ] || fail "recorder never received the poison event"
trigger fine.after
expect_status 202
id=$(echo "$BODY" | jq -r .id)
wait_until "recorder got fine.after" 10 lines_at_least "$TMP/recorder.txt" "$id" 1
wait_until "crash got fine.after" 10 lines_at_least "$TMP/crash.txt" "$id" 1
pass "the other plugin received the poison event; both receive new events"

# The next start has nothing left to redeliver.
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "stop exited $EXIT_CODE"
start_daemon
wait_until "recovery pass" 20 log_has "no unfinished events from an earlier run"
stop_daemon TERM
pass "no crash loop: a clean start afterwards"
