#!/bin/bash
# The attempt number survives a restart (database on, durable mode): a
# redelivery after a restart continues counting where the earlier run
# stopped, for the attempt the plugin sees (delivery_attempt()) and for the
# retry budget (max_attempts); and the event's time reaches the plugin as
# the client wrote it, not reformatted from the stored instant.  (Every
# redelivery used to start again at attempt 1, so a plugin retried forever
# across restarts and saw "attempt 1" three times; its time text was lost.)
#  - crashes: a plugin that faults on attempts 1 and 2 sees attempt 3 at
#    the third start and handles it;
#  - retries: a plugin that asked for a retry at attempt 1 sees attempt 2
#    after a SIGKILL and restart;
#  - the budget: with max_attempts 2, an event that failed twice before the
#    restart is dead-lettered at redelivery, not delivered a third time.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

db_setup
stage_plugin crash
stage_plugin flaky
write_db_plugin_settings <<'YAML'
    crash:
      subscribe: ["crash.until"]
      workers: 1
      max_crashes: 5
      max_attempts: 5
      quarantine_after: 0
      config: {record: @TMP@/crash.txt, crash_until_attempt: 3}
    flaky:
      subscribe: ["flaky.**"]
      workers: 1
      max_attempts: 2
      backoff_initial_ms: 600000
      backoff_max_ms: 600000
      config: {record: @TMP@/flaky.txt, succeed_on_attempt: 2}
YAML
let_fatal_signals_kill

# a start may die during the redelivery (start_or_die settled)
settled() { log_has "redelivered [0-9]* event\|no unfinished events from an earlier run"; }

# --- crashes: attempts 1 and 2 crash, attempt 3 is handled ---
start_daemon
wait_until "database connected" 20 log_has "connected to event_system@unix"
time_text='2024-02-29T23:59:59.1234567890+01:30'
request POST /api/events/trigger \
	"{\"specversion\":\"1.0\",\"type\":\"crash.until\",\"source\":\"/t\",\"id\":\"until-1\",\"time\":\"$time_text\"}" \
	application/cloudevents+json
expect_death "of SIGSEGV" 20 139
expect_log "fatal SIGSEGV in plugin 'crash' handling event until-1 (attempt 1)"
start_or_die settled
# "redelivered 1 event" is logged as the event is queued, just before the
# plugin faults on it: the death may come after the start looked settled.
[ "$DIED" = 1 ] || expect_death "on the redelivery (no second crash)" 20 139
expect_log "fatal SIGSEGV in plugin 'crash' handling event until-1 (attempt 2)"
pass "the redelivery after the first crash is attempt 2"
start_or_die settled
[ "$DIED" = 0 ] || fail "the third start died too: $(grep 'fatal' "$LOG")"
wait_until "crash handled until-1" 10 lines_at_least "$TMP/crash.txt" "until-1" 1
line=$(grep " until-1 " "$TMP/crash.txt")
[ "$line" = "crash crash.until until-1 3 $time_text" ] ||
	fail "the plugin saw '$line', expected attempt 3 and the time '$time_text' as sent"
wait_until "the delivery is final" 10 db_count_is 1 deliveries "plugin='crash' AND status='delivered' AND attempts=3"
pass "the third start delivers it as attempt 3, with the client's time text ($time_text)"
stop_daemon TERM

# --- retries: attempt 1 asked for a retry; a SIGKILL; attempt 2 after the restart ---
start_daemon
trigger flaky.once
expect_status 202
id=$(echo "$BODY" | jq -r .id)
wait_until "flaky asked for a retry" 10 lines_at_least "$TMP/flaky.txt" "$id 1 retry" 1
wait_until "the attempt is recorded" 10 db_count_is 1 delivery_attempts "plugin='flaky' AND attempts=1"
stop_daemon KILL
start_or_die settled
[ "$DIED" = 0 ] || fail "the restart died"
wait_until "flaky handled $id again" 10 lines_at_least "$TMP/flaky.txt" "$id 2 ok" 1
[ "$(lines_in "$TMP/flaky.txt" "$id 1 ")" = 1 ] || fail "flaky saw attempt 1 again: $(grep "$id" "$TMP/flaky.txt")"
pass "a retry interrupted by SIGKILL continues as attempt 2 after the restart"
stop_daemon TERM

# --- the budget: max_attempts 2, both made before the restart ---
sed -i 's/succeed_on_attempt: 2/succeed_on_attempt: 9/' "$CONFIG.in"
start_daemon
trigger flaky.twice
expect_status 202
id=$(echo "$BODY" | jq -r .id)
wait_until "flaky asked for a retry" 10 lines_at_least "$TMP/flaky.txt" "$id 1 retry" 1
stop_daemon KILL
# as if attempt 2 had failed too before the daemon died
db_sql "UPDATE delivery_attempts SET attempts=2 WHERE plugin='flaky'"
start_or_die settled
[ "$DIED" = 0 ] || fail "the restart died"
wait_until "dead-lettered at redelivery" 10 log_has "event $id (flaky.twice) dead-lettered instead of delivered again: no attempts left: 2 made before a restart (max_attempts 2)"
wait_until "the dead letter is written" 10 db_count_is 1 dead_letters "plugin='flaky' AND attempts=2"
[ "$(lines_in "$TMP/flaky.txt" "$id")" = 1 ] || fail "flaky was given the event again: $(grep "$id" "$TMP/flaky.txt")"
curl -s "http://127.0.0.1:$MPORT/metrics" | grep -qx 'eventsys_plugin_redelivery_exhausted_total{plugin="flaky"} 1' ||
	fail "eventsys_plugin_redelivery_exhausted_total is not 1"
stop_daemon TERM
pass "with max_attempts 2 made before the restart, the redelivery dead-letters it instead of a third attempt"
