#!/bin/bash
# A plugin author's path: install the SDK, build the example plugin from
# its single C file with only `pkg-config --cflags event-system-sdk`, drop it
# into the plugin directory, and it loads and receives events.
set -eu
. "$(dirname "$0")/lib.sh"
: "${ES_TOP_BUILDDIR:?}" "${ES_TOP_SRCDIR:?}"

DEST="$TMP/root"
${MAKE:-make} -s -C "$ES_TOP_BUILDDIR" install-sdkincludeHEADERS install-pkgconfigDATA DESTDIR="$DEST" >/dev/null
pcdir=$(dirname "$(find "$DEST" -name event-system-sdk.pc | head -1)")
[ -n "$pcdir" ] || fail "event-system-sdk.pc was not installed"
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$DEST"
cflags=$(pkg-config --cflags event-system-sdk)
libs=$(pkg-config --libs event-system-sdk)
[ -z "$libs" ] || fail "the SDK asks plugins to link '$libs'"
pkg-config --variable=pluginsdir event-system-sdk | grep -q 'event-system/plugins$' || fail "no pluginsdir variable"

# The tutorial's sources are installed with the documentation, and build
# there with their own Makefile and the installed SDK alone.
${MAKE:-make} -s -C "$ES_TOP_BUILDDIR" install-dist_exampleDATA DESTDIR="$DEST" >/dev/null
examples=$(find "$DEST" -type d -path '*/doc/event-system/examples' | head -1)
[ -f "$examples/example.c" ] && [ -f "$examples/Makefile.standalone" ] ||
	fail "example.c and Makefile.standalone are not installed under doc/event-system/examples"
mkdir "$TMP/author"
cp "$examples/example.c" "$examples/Makefile.standalone" "$TMP/author/"
make -s -C "$TMP/author" -f Makefile.standalone CFLAGS="-O2 -Wall -Werror" >/dev/null ||
	fail "the installed example does not build with its installed Makefile"
pass "the tutorial sources are installed under doc/event-system/examples and build with their Makefile"
rm -f "$TMP/author/example.so"
cc -std=c11 -Wall -Wextra -Werror -O2 -shared -fPIC -fvisibility=hidden $cflags -Wl,-z,defs \
	-o "$TMP/author/example.so" "$TMP/author/example.c" || fail "the example does not build against the installed SDK"
exported=$(nm -D --defined-only "$TMP/author/example.so" | awk '{print $3}' | grep -v '^_' | tr '\n' ' ')
[ "$exported" = "es_plugin_entry " ] || fail "the plugin exports more than its descriptor: $exported"
pass "the example builds out of tree with pkg-config alone and exports one symbol"

install -m 0644 "$TMP/author/example.so" "$PLUGDIR/example.so"
write_config <<'YAML'
server: {port: @PORT@}
logging: {format: text}
plugins: {directory: @PLUGDIR@}
YAML
start_daemon
expect_log "loaded plugin 'example' 1.0.0 (ABI 1.1)"
trigger example.greeting '{"who":"author"}'
expect_status 202
expect_body '"matched":["example"]'
wait_until "the out-of-tree plugin handled the event" 5 log_has '\[example\] received example.greeting'
pass "the out-of-tree plugin loads and receives events"
stop_daemon TERM
