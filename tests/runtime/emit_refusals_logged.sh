#!/bin/bash
# A plugin whose emits are refused in a loop does not flood the log: the
# first ten of each ten seconds are logged with their reason, the rest is
# counted into one line, written when the next ten seconds start or when
# the plugin is unloaded; the counts add up to every refusal.  (Each
# refused emit used to write a line of its own.)
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin misbehave
write_plugin_settings <<'YAML'
    misbehave: {workers: 1, max_attempts: 1, config: {record: @TMP@/misbehave.txt}}
YAML
start_daemon
request POST /api/events/trigger '{"name":"mb.emitloop","data":500}'
expect_status 202
wait_until "500 emits made" 10 lines_at_least "$TMP/misbehave.txt" "refused 500 of 500" 1
full=$(grep -c "emit of 'Not A Name' refused: " "$LOG" || true)
[ "$full" = 10 ] || fail "$full refused emits logged in full (expected the first 10)"
stop_daemon
counted=$(sed -n 's/.*\[misbehave\] \([0-9]*\) more emits refused.*/\1/p' "$LOG" | awk '{n += $1} END {print n + 0}')
[ $((full + counted)) = 500 ] || fail "the log accounts for $((full + counted)) refused emits of 500: $(grep 'more emits refused' "$LOG")"
[ "$(grep -c 'emits refused' "$LOG")" -le 2 ] || fail "more than two summary lines for one burst: $(grep 'emits refused' "$LOG")"
pass "500 refused emits: 10 lines in full and the rest counted, adding up to 500"
