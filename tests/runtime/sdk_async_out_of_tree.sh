#!/bin/bash
# An asynchronous plugin from a plugin author's side: the guide's complete
# asynchronous sink is the installed example file, it builds against the
# installed SDK headers alone (pkg-config, no host source, -Wl,-z,defs),
# loads, writes every event once from its own thread, and the daemon stops
# cleanly with it.
set -eu
. "$(dirname "$0")/lib.sh"
: "${ES_TOP_BUILDDIR:?}" "${ES_TOP_SRCDIR:?}"

DEST="$TMP/root"
${MAKE:-make} -s -C "$ES_TOP_BUILDDIR" install-sdkincludeHEADERS install-pkgconfigDATA install-dist_exampleDATA \
	DESTDIR="$DEST" >/dev/null
pcdir=$(dirname "$(find "$DEST" -name event-system-sdk.pc | head -1)")
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$DEST"
cflags=$(pkg-config --cflags event-system-sdk)
case "$cflags" in *"$DEST"*) ;; *) fail "pkg-config does not point at the installed headers: $cflags" ;; esac
examples=$(find "$DEST" -type d -path '*/doc/event-system/examples' | head -1)
[ -f "$examples/async_sink.c" ] || fail "async_sink.c is not installed under doc/event-system/examples"

awk '/<!-- async_sink.c/ {found=1; next} found && /^```c$/ {inside=1; next} inside && /^```$/ {exit} inside {print}' \
	"$ES_TOP_SRCDIR/docs/plugin-guide.md" > "$TMP/guide_async_sink.c"
cmp -s "$TMP/guide_async_sink.c" "$examples/async_sink.c" ||
	fail "the guide's asynchronous sink differs from the installed one: $(diff "$TMP/guide_async_sink.c" "$examples/async_sink.c" | head)"

mkdir "$TMP/author"
cp "$examples/async_sink.c" "$TMP/author/"
# only the installed headers: the source tree's are not on the path
cc -std=c11 -Wall -Wextra -Werror -O2 -shared -fPIC -fvisibility=hidden $cflags ${ES_SANITIZER_CFLAGS:-} \
	-Wl,-z,defs -o "$TMP/author/async_sink.so" "$TMP/author/async_sink.c" -lpthread ${ES_SANITIZER_CFLAGS:-} ||
	fail "the asynchronous sink does not build against the installed SDK"
exported=$(nm -D --defined-only "$TMP/author/async_sink.so" | awk '{print $3}' | grep -v '^_' | tr '\n' ' ')
[ "$exported" = "es_plugin_entry " ] || fail "the plugin exports more than its descriptor: $exported"
pass "the guide's asynchronous sink is the installed example and builds with the installed SDK alone"

install -m 0644 "$TMP/author/async_sink.so" "$PLUGDIR/async_sink.so"
write_plugin_settings <<YAML
    async_sink:
      subscribe: ["order.**"]
      workers: 2
      queue_size: 64
      config: {path: @TMP@/orders.jsonl}
YAML
start_daemon
expect_log "loaded plugin 'async_sink' 1.1.0 (ABI 1.1)"
body='['
for i in $(seq 1 40); do body="$body{\"name\":\"order.created\",\"id\":\"o-$i\",\"data\":{\"n\":$i}},"; done
request POST /api/events/batch "${body%,}]"
expect_status 202
wait_until "40 events written" 10 lines_at_least "$TMP/orders.jsonl" '"id":"o-' 40
wait_until "40 deliveries ok" 10 prints 40 plugin_counter async_sink ok
[ "$(sort -u "$TMP/orders.jsonl" | wc -l)" = 40 ] || fail "an event was written twice"
wait_until "no delivery left outstanding" 5 prints 0 plugin_field async_sink .async.outstanding
[ "$(plugin_field async_sink .async.late_completions)" = 0 ] || fail "a completion was late"
request POST '/api/events/trigger?wait=true' '{"name":"order.paid","id":"paid-1"}'
expect_status 200
grep -q '"id":"paid-1"' "$TMP/orders.jsonl" || fail "paid-1 answered 200 before it was written"
pass "40 events written once each from the plugin's thread; ?wait=true answers once the delivery is completed"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "the daemon exited with $EXIT_CODE"
