#!/bin/bash
# The plugin guide's complete batch sink: the code in docs/plugin-guide.md is
# the installed example file, it builds with the SDK alone, and under load
# it writes every event once, several per handle_batch() call, with its
# counter and gauge in /metrics.
set -eu
. "$(dirname "$0")/lib.sh"
: "${ES_TOP_SRCDIR:?}"

guide="$ES_TOP_SRCDIR/docs/plugin-guide.md"
awk '/<!-- batch_sink.c/ {found=1; next} found && /^```c$/ {inside=1; next} inside && /^```$/ {exit} inside {print}' \
	"$guide" > "$TMP/batch_sink.c"
cmp -s "$TMP/batch_sink.c" "$ES_TOP_SRCDIR/plugins/example/batch_sink.c" ||
	fail "the guide's batch sink differs from plugins/example/batch_sink.c: $(diff "$TMP/batch_sink.c" "$ES_TOP_SRCDIR/plugins/example/batch_sink.c" | head)"
cc -std=c11 -Wall -Wextra -Werror -O1 -shared -fPIC -fvisibility=hidden ${ES_SANITIZER_CFLAGS:-} \
	-I"$ES_TOP_SRCDIR/sdk/include" -Wl,-z,defs -o "$PLUGDIR/batch_sink.so" "$TMP/batch_sink.c" -lpthread ${ES_SANITIZER_CFLAGS:-} ||
	fail "the guide's batch sink does not build"
chmod 644 "$PLUGDIR/batch_sink.so"
pass "the guide's batch sink is the installed example and builds with the SDK alone"

write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins:
  directory: @PLUGDIR@
  settings:
    batch_sink:
      subscribe: ["order.**"]
      workers: 2
      batch_max: 8
      batch_linger_ms: 300
      config: {path: @TMP@/orders.jsonl}
YAML
start_daemon
body='['
for i in $(seq 1 16); do body="$body{\"name\":\"order.created\",\"id\":\"o-$i\",\"data\":{\"n\":$i}},"; done
request POST /api/events/batch "${body%,}]"
[ "$STATUS" = 202 ] || [ "$STATUS" = 207 ] || fail "batch trigger: $STATUS $BODY"
wait_until "16 events written" 10 lines_at_least "$TMP/orders.jsonl" '"id":"o-' 16
[ "$(sort -u "$TMP/orders.jsonl" | wc -l)" = 16 ] || fail "an event was written twice"
curl -s "http://127.0.0.1:$MPORT/metrics" > "$TMP/metrics.txt"
batches=$(sed -n 's/^eventsys_plugin_custom_total{plugin="batch_sink",name="batches"} //p' "$TMP/metrics.txt")
[ -n "$batches" ] && [ "$batches" -lt 16 ] || fail "16 events took ${batches:-no} batches"
grep -q '^eventsys_plugin_custom_value{plugin="batch_sink",name="last_batch_size"} [1-8]$' "$TMP/metrics.txt" ||
	fail "no batch size gauge: $(grep batch_sink "$TMP/metrics.txt" | grep custom)"
pass "16 events written once each in $batches batches; the plugin's counter and gauge are in /metrics"
stop_daemon TERM
