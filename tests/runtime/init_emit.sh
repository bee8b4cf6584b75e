#!/bin/bash
# Events a plugin emits from init() while the daemon starts are delivered:
# they are held until the first routing table is published, then routed
# (emit() answered 0, the guide says emit works from init()).  Before, they
# were routed by the empty start-up table: delivered to nobody and counted
# as unmatched.  In-process and isolated (the child's emit goes through the
# daemon the same way).
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin misuse
stage_plugin recorder
for isolation in in-process process; do
	rm -f "$TMP/record.txt" "$TMP/misuse.txt"
	write_config <<YAML
server: {port: @PORT@}
logging: {format: text, level: info}
plugins:
  directory: @PLUGDIR@
  settings:
    misuse: {isolation: $isolation, workers: 1, config: {record: @TMP@/misuse.txt, init_emit: boot.hello}}
    recorder: {subscribe: ["boot.**"], config: {record: @TMP@/record.txt}}
YAML
	start_daemon
	grep -q '^init emit 0$' "$TMP/misuse.txt" || fail "$isolation: emit() from init(): $(cat "$TMP/misuse.txt")"
	wait_until "$isolation: the recorder got the event emitted from init()" 5 lines_at_least "$TMP/record.txt" 'boot.hello' 1
	curl -s "http://127.0.0.1:$MPORT/metrics" | grep -q '^eventsys_events_unmatched_total 0$' ||
		fail "$isolation: $(curl -s "http://127.0.0.1:$MPORT/metrics" | grep unmatched)"
	expect_log "1 event emitted from init() routed now that the plugins run (0 refused)"
	stop_daemon
	pass "$isolation: an event emitted from init() at start is delivered, not unmatched"
done
