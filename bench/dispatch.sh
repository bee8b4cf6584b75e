#!/bin/sh
# In-process dispatch benchmark: run from a configured build directory.
#   bench/dispatch.sh [EVENTS]
# Prints one line per case: events/s through router → queue → worker → the
# no-op plugin, beside a bare malloc + mutex-ring handoff measured in the
# same process (the ratio column: the median of DISPATCH_ROUNDS rounds,
# default 3, each the reference then the pipeline; ratio_min and ratio_max
# are the other rounds'; DISPATCH_VERBOSE=1 prints each round on stderr).  The last cases run the no-op plugin
# in-process and isolated (`isolation: process`) one after the other in the
# same run: deliveries/s of each and isolated_ratio (target: >= 0.25).
# ISOLATED_EVENTS sets their count (default EVENTS / 10: each isolated
# delivery crosses a socket twice).
set -eu
build=${BUILD:-.}
events=${1:-3000000}
make -s -C "$build" bench/dispatch_bench tests/plugins/noop.la >/dev/null
plugdir=$(mktemp -d)
trap 'rm -rf "$plugdir"' EXIT
chmod 755 "$plugdir"
install -m 0644 "$build/tests/plugins/.libs/noop.so" "$plugdir/noop.so"
for fanout in 1 4; do
	"$build/bench/dispatch_bench" "$plugdir/noop.so" "$events" "$fanout" 1
done
isolated_events=${ISOLATED_EVENTS:-$((events / 10))}
for workers in 1 2; do
	"$build/bench/dispatch_bench" "$plugdir/noop.so" "$isolated_events" 1 "$workers" isolation
done
