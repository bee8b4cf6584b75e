#!/bin/bash
# Instructions per request of the trigger API, counted by valgrind's
# callgrind, against the bare libevent server (bench/bare_http_server.c).
# On a machine shared with other work, CPU time per request
# (bench/http_cpu.sh) moves by +-20 % between rounds; the count of
# instructions hardly moves, so it shows changes of a few per cent.  It does
# not see what an instruction costs (cache misses, contended locks,
# system calls): confirm with bench/http_cpu.sh and bench/http.sh.
#
# Each server runs under callgrind with counting off; counting is switched
# on (callgrind_control -i on) for  wrk -t1 -c20 -d${SECONDS}s  against
# POST /api/events/trigger (bench/post.lua), then off, and the counted
# instructions (all threads, user space) are divided by the requests wrk
# reports.  The daemon runs as bench/http.sh's (c): two HTTP threads, one
# no-op plugin subscribed to everything, metrics on, access log off.
#
# Run from a configured build directory:
#   BUILD=. ../bench/http_callgrind.sh [SECONDS]                  (default 8)
# To compare builds (before/after a change), name each daemon:
#   ES_BINS="before=/path/to/old/host/event-system after=host/event-system" \
#     BUILD=. ../bench/http_callgrind.sh 8
# Prints one line per target: name, requests, instructions/request.
# With CG_KEEP=DIR, each target's callgrind output (with --dump-instr=yes)
# is kept as DIR/NAME.cg.* for callgrind_annotate.
set -euo pipefail
build=$(cd "${BUILD:-.}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-8}
for tool in wrk valgrind callgrind_control; do
	command -v $tool >/dev/null || { echo "$tool is needed (apt-get install wrk valgrind)"; exit 1; }
done
make -s -C "$build" bench/bare_http_server host/event-system tests/plugins/noop.la >/dev/null
bins=${ES_BINS:-event-system=$build/host/event-system}

. "$top/bench/bench_lib.sh"
bench_work
pid= # the one process measured now (in pids too, for the cleanup)

measure() { # NAME PORT COMMAND...
	local name=$1 port=$2
	shift 2
	rm -f "$work"/cg.out*
	valgrind --tool=callgrind --instr-atstart=no ${CG_KEEP:+--dump-instr=yes} --callgrind-out-file="$work/cg.out" "$@" > "$work/$name.log" 2>&1 &
	pid=$!
	pids=("$pid")
	wait_port "$port" || { echo "$name did not come up on $port"; exit 1; }
	callgrind_control -i on "$pid" >/dev/null 2>&1
	wrk -t1 -c20 -d"$secs"s -s "$top/bench/post.lua" "http://127.0.0.1:$port/api/events/trigger" > "$work/wrk.txt" 2>&1
	callgrind_control -i off "$pid" >/dev/null 2>&1
	callgrind_control -d "$pid" >/dev/null 2>&1
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
	pids=()
	local reqs ir
	reqs=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
	ir=$(cat "$work"/cg.out* | awk '/^totals:/ {s += $2} END {printf "%.0f", s}')
	if [ -n "${CG_KEEP:-}" ]; then
		mkdir -p "$CG_KEEP"
		local f
		for f in "$work"/cg.out*; do cp "$f" "$CG_KEEP/$name.cg${f#"$work"/cg.out}"; done
	fi
	awk -v n="$name" -v r="$reqs" -v i="$ir" 'BEGIN {printf "%s %d requests %.0f instructions/request\n", n, r, i / r}'
}

echo "# callgrind, wrk -t1 -c20 -d${secs}s -s bench/post.lua"
measure bare-libevent 18492 "$build/bench/bare_http_server" 18492 2
port=18493
for spec in $bins; do
	name=${spec%%=*}
	bin=${spec#*=}
	es_noop_config "$work/es-$name.yaml" "$port"
	measure "$name" "$port" "$bin" -c "$work/es-$name.yaml"
	port=$((port + 1))
done
