#!/bin/sh
# The layer rule (host/LAYERS, scripts/check-layers.sh) holds for this tree,
# and the check fails on a deliberate back edge: a copy of the tree where a
# util file includes a core header, and a copy of the built libraries where
# the util library calls into core.
set -eu
: "${ES_TOP_SRCDIR:?run through make check}"
: "${ES_TOP_BUILDDIR:?run through make check}"
check="$ES_TOP_SRCDIR/scripts/check-layers.sh"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/es-layers-XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

sh "$check" "$ES_TOP_SRCDIR" "$ES_TOP_BUILDDIR" || fail "the tree breaks its own layer rule"
echo "ok: includes and symbols of host/ follow host/LAYERS"

# An include back edge: util (lowest) including a core header.
mkdir -p "$TMP/src"
cp -R "$ES_TOP_SRCDIR/host" "$TMP/src/host"
printf '#include "core/router.h"\n' >>"$TMP/src/host/util/log.c"
out=$(sh "$check" "$TMP/src" 2>&1) && fail "an include back edge passed: $out"
echo "$out" | grep -q 'back edge: host/util/log.c includes "core/router.h" (layer core is above util)' ||
	fail "the include back edge is not named: $out"
echo "ok: util including a core header fails the check"

# A bare include of another folder's header.
cp "$ES_TOP_SRCDIR/host/util/log.c" "$TMP/src/host/util/log.c"
printf '#include "router.h"\n' >>"$TMP/src/host/util/log.c"
out=$(sh "$check" "$TMP/src" 2>&1) && fail "a bare include of another folder passed: $out"
echo "$out" | grep -q 'bad include: host/util/log.c includes "router.h"' || fail "the bare include is not named: $out"
echo "ok: a bare include of another folder's header fails the check"

# A call back edge: an object in the util library calling router_acquire()
# (core) through its own prototype, with no include to see.
cp "$ES_TOP_SRCDIR/host/util/log.c" "$TMP/src/host/util/log.c"
mkdir -p "$TMP/build/host"
cp -R "$ES_TOP_BUILDDIR/host/." "$TMP/build/host/"
printf 'void *router_acquire(void *r);\nvoid *sneaky(void *r);\nvoid *sneaky(void *r) { return router_acquire(r); }\n' >"$TMP/sneaky.c"
${CC:-cc} -c -o "$TMP/sneaky.o" "$TMP/sneaky.c"
${AR:-ar} r "$TMP/build/host/util/.libs/libes_util.a" "$TMP/sneaky.o" 2>/dev/null
out=$(sh "$check" "$TMP/src" "$TMP/build" 2>&1) && fail "a call back edge passed: $out"
echo "$out" | grep -q 'back edge: layer util calls router_acquire, defined in layer core above it' ||
	fail "the call back edge is not named: $out"
echo "ok: util calling a core function fails the check"

# A cycle inside a folder: worker_pool.c (which everything in core/ builds
# on) including host_api.h, whose host API reaches the pool again.
cp "$ES_TOP_SRCDIR/host/util/log.c" "$TMP/src/host/util/log.c"
cp "$ES_TOP_SRCDIR/host/core/worker_pool.c" "$TMP/src/host/core/worker_pool.c"
printf '#include "core/host_api.h"\n' >>"$TMP/src/host/core/worker_pool.c"
out=$(sh "$check" "$TMP/src" 2>&1) && fail "an include cycle inside core/ passed: $out"
echo "$out" | grep -q 'cycle in host/core/: .*worker_pool.* need each other' || fail "the include cycle is not named: $out"
echo "ok: two files of core/ including each other (through others) fail the check"

# A call cycle inside a folder: an object in place of worker_pool.o that
# defines worker_pool_create() (plugin_instance.c calls it) and calls
# host_api_table() (host_api.c, which calls instances), with no include.
cp "$ES_TOP_SRCDIR/host/core/worker_pool.c" "$TMP/src/host/core/worker_pool.c"
rm -rf "$TMP/build/host"
mkdir -p "$TMP/build/host"
cp -R "$ES_TOP_BUILDDIR/host/." "$TMP/build/host/"
printf 'const void *host_api_table(void);\nconst void *worker_pool_create(void) { return host_api_table(); }\n' >"$TMP/libes_core_la-sneaky.c"
${CC:-cc} -c -o "$TMP/libes_core_la-sneaky.o" "$TMP/libes_core_la-sneaky.c"
${AR:-ar} d "$TMP/build/host/core/.libs/libes_core.a" libes_core_la-worker_pool.o 2>/dev/null
${AR:-ar} r "$TMP/build/host/core/.libs/libes_core.a" "$TMP/libes_core_la-sneaky.o" 2>/dev/null
out=$(sh "$check" "$TMP/src" "$TMP/build" 2>&1) && fail "a call cycle inside core/ passed: $out"
echo "$out" | grep -q 'cycle in host/core/: .*sneaky.* need each other' || fail "the call cycle is not named: $out"
echo "ok: two objects of core/ calling each other (through others) fail the check"
