#!/bin/sh
# Build the libFuzzer targets with clang (ASan + UBSan) and run each for a
# bounded time over its committed corpus.  New interesting inputs go to a
# scratch directory; copy them into corpus/ to keep them.
#   tests/fuzz/run.sh [SECONDS-PER-TARGET] [BUILDDIR-with-config.h]
set -eu
secs=${1:-20}
build=${2:?usage: $0 SECONDS BUILDDIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
CC=${FUZZ_CC:-clang}
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$build -I$top/host -I$top/sdk/include"
deps="$(pkg-config --cflags --libs libcjson yaml-0.1 libevent libevent_pthreads) -lpthread"
host="$top/host"
build_target() { # NAME SOURCES...
	name=$1
	shift
	$CC $flags -DPLUGINDIR='"/usr/lib/event-system/plugins"' -o "$out/$name" "$top/tests/fuzz/$name.c" "$@" $deps
}
parse="$host/model/trigger_parse.c $host/util/json_tree.c $host/util/json_strict.c $host/util/rfc3339.c $host/model/es_event.c $host/util/block_cache.c $host/util/clock.c"
build_target fuzz_trigger $parse
build_target fuzz_cloudevents "$host/model/cloudevents.c" "$host/util/percent.c" $parse
build_target fuzz_request "$host/model/event_request.c" "$host/model/cloudevents.c" "$host/util/percent.c" $parse
build_target fuzz_config "$host/model/es_config.c" "$host/model/config_table.c" "$host/util/dsn.c" "$host/util/file_trust.c" "$host/util/yaml_tree.c" "$host/util/log.c" "$host/util/json_strict.c"
build_target fuzz_gate "$host/http/http_gate.c" "$host/http/http_gate_chunks.c" "$host/http/http_refusal_log.c" "$host/util/percent.c" "$host/util/clock.c" "$host/core/refusal_summary.c"
for t in trigger cloudevents request config gate; do
	mkdir -p "$out/new-$t"
	echo "fuzzing $t for ${secs}s"
	"$out/fuzz_$t" -max_total_time="$secs" -artifact_prefix="$out/" -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
		"$out/new-$t" "$top/tests/fuzz/corpus/$t" > "$out/$t.log" 2>&1 || {
		sed -n '/ERROR: /,/SUMMARY/p' "$out/$t.log" | head -60
		grep -E "^0x|Test unit written" "$out/$t.log" | tail -3
		echo "fuzz target $t failed (add the input above to tests/fuzz/corpus/$t once fixed)"
		exit 1
	}
	grep -E "^stat::number_of_executed_units" "$out/$t.log" || true
done
echo "fuzzing: no crash"
