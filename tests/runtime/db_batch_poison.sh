#!/bin/bash
# A poison event inside an in-process handle_batch() call, with the
# database on: a batch of innocent events with one that makes the plugin
# segfault.  Which event of the call crashed it is unknown, so that crash
# counts for none of them; the next start redelivers the call's events one
# per call, where a crash names its event.  Only the poison event is
# dead-lettered ("crashed the plugin 3 times"); every innocent event of the
# batch is delivered, and no crash is recorded against one.  (The crash was
# counted for the batch's first event, an innocent one, which the poison
# rule then dead-lettered.)
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/db_lib.sh"

db_setup
stage_plugin batch
stage_plugin recorder
write_db_plugin_settings <<'YAML'
    batch:
      subscribe: ["b.**", "crash.**"]
      workers: 1
      batch_max: 8
      batch_linger_ms: 500
      max_crashes: 3
      quarantine_after: 0
      config: {record: @TMP@/batch.txt}
    recorder:
      subscribe: ["**"]
      config: {record: @TMP@/recorder.txt}
YAML
let_fatal_signals_kill

start_daemon
wait_until "database connected" 20 log_has "connected to event_system@unix"
poison=poison-in-batch
innocent="b-1 b-2 b-3 b-4 b-5"
# the poison event first: the crash used to be counted for the call's first event
request POST /api/events/batch "[{\"name\":\"b.one\",\"id\":\"b-1\"},{\"name\":\"crash.poison\",\"id\":\"$poison\"},
	{\"name\":\"b.two\",\"id\":\"b-2\"},{\"name\":\"b.three\",\"id\":\"b-3\"},{\"name\":\"b.four\",\"id\":\"b-4\"},
	{\"name\":\"b.five\",\"id\":\"b-5\"}]"
[ "$STATUS" = 202 ] || [ "$STATUS" = 000 ] || fail "the batch: expected 202 (or no answer), got $STATUS: $BODY"
expect_death "in the batch call" 20 139
expect_log "fatal SIGSEGV in plugin 'batch' in handle_batch() of several events"
log_has "fatal SIGSEGV in plugin 'batch' handling event" && fail "a crash in a call of several events was named for one event"

# Restart as systemd would, until the daemon stays up (bounded: no crash
# loop); redelivered events go one per call: every later crash names the
# poison event, from its attempt 1 on.
restart_until_up batch "$poison" 1 7
deaths=$((1 + RESTART_DEATHS))
[ "$deaths" = 4 ] || fail "expected one crash in the batch call and three of $poison alone, got $deaths deaths"
wait_until "the poison event dead-lettered" 10 \
	log_has "event $poison (crash.poison) dead-lettered instead of delivered again: it crashed the plugin 3 times (max_crashes 3)"
for e in $innocent; do
	wait_until "$e delivered to batch" 10 lines_at_least "$TMP/batch.txt" " $e [0-9]* ok" 1
done
request GET "/api/dead-letters?plugin=batch"
expect_status 200
[ "$(echo "$BODY" | jq '[.dead_letters[] | .event.id] | sort')" = "$(jq -n --arg p "$poison" '[$p]')" ] ||
	fail "expected only $poison dead-lettered for batch: $BODY"
poison_seq=$(db_sql "SELECT seq FROM events WHERE id='$poison'")
[ "$(db_count delivery_crashes "plugin='batch'")" = 3 ] ||
	fail "expected 3 crashes recorded for batch, got $(db_count delivery_crashes "plugin='batch'")"
[ "$(db_count delivery_crashes "plugin='batch' AND event_seq<>$poison_seq")" = 0 ] ||
	fail "a crash was recorded against an innocent event"
for e in $innocent $poison; do
	lines_at_least "$TMP/recorder.txt" " $e " 1 || fail "recorder never received $e"
done
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "stop exited $EXIT_CODE"
pass "a poison event in an in-process batch call: only it is dead-lettered, after $deaths deaths; the innocent events are delivered"
