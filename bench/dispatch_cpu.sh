#!/bin/bash
# CPU per event of each thread of the in-process dispatch benchmark, so a
# ratio can be read as cost against share: run from a configured build
# directory.
#   bench/dispatch_cpu.sh [EVENTS] [FANOUT]
# Runs dispatch_bench's pipeline alone, then its reference alone (a malloc
# + mutex-ring hand-off), and samples each thread's utime+stime
# (/proc/PID/task/*/stat) over one second in the middle of the run.  Prints
# per thread: its CPU in that second (cores) and its voluntary and
# involuntary context switches; then the CPU of all threads per event (µs),
# from the rate the run printed.  Run it beside two busy loops to see what
# a loaded machine changes: the CPU an event costs, or the share of the
# machine the threads get.
set -eu
build=$(cd "${BUILD:-.}" && pwd)
events=${1:-12000000}
fanout=${2:-4}
make -s -C "$build" bench/dispatch_bench tests/plugins/noop.la >/dev/null
. "$(dirname "$0")/bench_lib.sh"
bench_work
hz=$(getconf CLK_TCK)

snapshot() { # PID: one line per thread: tid name ticks voluntary involuntary
	# bash builtins only: a process forked per file would take CPU from
	# the threads measured
	local t stat rest name key value vol invol
	local -a f
	shopt -s nullglob
	for t in /proc/"$1"/task/*; do
		read -r stat < "$t/stat" 2>/dev/null || continue
		name=${stat#*(}
		name=${name%)*}
		rest=${stat##*) }
		read -r -a f <<< "$rest" # f[0] is field 3 (state): utime is f[11], stime f[12]
		vol=0 invol=0
		while read -r key value _; do
			case $key in
			voluntary_ctxt_switches:) vol=$value ;;
			nonvoluntary_ctxt_switches:) invol=$value ;;
			esac
		done < "$t/status" 2>/dev/null
		echo "${t##*/} ${name// /_} $((f[11] + f[12])) $vol $invol"
	done | LC_ALL=C sort -k1,1
}

measure() { # MODE FANOUT EVENTS
	"$build/bench/dispatch_bench" "$work/plugins/noop.so" "$3" "$2" 1 "$1" > "$work/out" 2>&1 &
	local pid=$!
	pids+=($pid)
	sleep 0.3
	local t0 t1
	t0=$(date +%s%N)
	snapshot $pid > "$work/t0"
	sleep 1
	snapshot $pid > "$work/t1"
	t1=$(date +%s%N)
	local running=1
	kill -0 $pid 2>/dev/null || running=
	wait $pid || { cat "$work/out" >&2; echo "dispatch_bench failed" >&2; exit 1; }
	if [ -z "$running" ]; then
		echo "the $1 run ended before its one-second sample: give more EVENTS" >&2
		exit 1
	fi
	local rate
	rate=$(grep -o '\(pipeline_events_per_s\|reference_handoff_per_s\)=[0-9]*' "$work/out" | cut -d= -f2)
	[ -n "$rate" ] || { cat "$work/out" >&2; echo "no rate in dispatch_bench's output" >&2; exit 1; }
	echo "# $1, fan-out $2: $(cat "$work/out")"
	# the CPU over the sample's own length (the snapshots take time too)
	LC_ALL=C join "$work/t0" "$work/t1" |
		awk -v hz="$hz" -v rate="$rate" -v mode="$1" -v secs="$(((t1 - t0) / 1000000))" '
		{ cpu = ($7 - $3) / hz / (secs / 1000); total += cpu
		  if (cpu > 0) printf "#   %s %s: %.2f cores, %d voluntary, %d involuntary switches\n", $1, $2, cpu, $8 - $4, $9 - $5 }
		END { printf "%s cpu_per_event_us=%.3f cores=%.2f events_per_s=%s\n", mode, total / rate * 1e6, total, rate }'
}

# enough events that the run outlasts the sample
measure pipeline "$fanout" "$events"
measure reference 1 "$((events * 2))"
