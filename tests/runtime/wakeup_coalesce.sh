#!/bin/bash
# A plugin's wakeup_coalesce_us reaches its workers and a reload changes
# it: GET /api/plugins shows the setting in force (the default 1000, then
# what the config says), the instance is rebuilt on the change, and events
# before and after it are all delivered; a synchronous trigger is answered
# with the window at its longest (its event wakes a worker whatever the
# window: test_worker_pool shows it is not made to wait for it).
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
settings() { # [WINDOW]: the recorder's settings, with wakeup_coalesce_us WINDOW when given
	write_plugin_settings <<YAML
    recorder:
      subscribe: ["wake.**"]
      config: {record: @TMP@/recorder.txt}
${1:+      wakeup_coalesce_us: $1}
YAML
}
settings
start_daemon
[ "$(plugin_field recorder .wakeup_coalesce_us)" = 1000 ] ||
	fail "default window: $(plugin_field recorder .wakeup_coalesce_us)"
for i in 1 2 3; do trigger "wake.before.$i"; expect_status 202; done

settings 100000
render_config
kill -HUP "$DAEMON_PID"
wait_until "the reload in force" 10 prints 100000 plugin_field recorder .wakeup_coalesce_us
expect_log "plugins replaced: recorder"
for i in 1 2 3; do trigger "wake.after.$i"; expect_status 202; done
request POST '/api/events/trigger?wait=true' '{"name":"wake.sync"}'
expect_status 200
expect_body '"status":"ok"'
wait_until "every event delivered" 10 lines_at_least "$TMP/recorder.txt" "wake\." 7
for e in wake.before.1 wake.before.2 wake.before.3 wake.after.1 wake.after.2 wake.after.3 wake.sync; do
	[ "$(lines_in "$TMP/recorder.txt" "$e")" = 1 ] || fail "$e delivered $(lines_in "$TMP/recorder.txt" "$e") times"
done

settings 0
render_config
kill -HUP "$DAEMON_PID"
wait_until "the reload to 0 in force" 10 prints 0 plugin_field recorder .wakeup_coalesce_us
trigger wake.zero
expect_status 202
wait_until "delivered with no window" 10 lines_at_least "$TMP/recorder.txt" "wake.zero" 1
daemon_exited && fail "the daemon died"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "daemon exited with $EXIT_CODE"
pass "wakeup_coalesce_us: shown in /api/plugins, changed by a reload (the instance rebuilt, every event delivered once), a synchronous trigger answered"
