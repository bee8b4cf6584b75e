#!/bin/bash
# CPU time per request of the trigger API, against the bare libevent server
# (bench/bare_http_server.c) measured in the same run.  Less noisy than
# req/s on a shared machine (what a server spends per request depends less
# on how much CPU the others leave it), but still +-20 % between rounds
# under load: alternate, take several rounds, and use
# bench/http_callgrind.sh for differences of a few per cent.
#
# For each target in turn (rounds alternate the targets): read the server
# process's utime+stime (/proc/PID/stat fields 14 and 15, all its threads),
# run  wrk -t2 -c$CONNS -d${SECONDS}s -s bench/post.lua  against
# POST /api/events/trigger, read them again, and divide by the requests wrk
# reports.  The daemon runs as bench/http.sh's (c): two HTTP threads, one
# no-op plugin subscribed to everything, metrics on, access log off
# (ACCESS_LOG=true turns it on).
#
# Run from a configured build directory:
#   BUILD=. ../bench/http_cpu.sh [SECONDS] [ROUNDS]          (defaults 8, 5)
# To compare builds side by side (before/after a change), name each daemon:
#   ES_BINS="before=/path/to/old/host/event-system after=host/event-system" \
#     BUILD=. ../bench/http_cpu.sh 8 5
# and REF_BINS="bare-old=/path/to/old/bench/bare_http_server" adds other
# builds of the reference, measured beside this build's.
# Prints every measurement, then min/median/max of us/request per target.
# THREADS=1 also splits each target's CPU by thread name (/proc/PID/task:
# es-http, the plugin's es-noop worker, ...), summed over threads of the
# same name, and prints min/median/max of each.
set -euo pipefail
build=$(cd "${BUILD:-.}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-8}
rounds=${2:-5}
conns=${CONNS:-400}
access_log=${ACCESS_LOG:-false}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)"; exit 1; }
make -s -C "$build" bench/bare_http_server host/event-system tests/plugins/noop.la >/dev/null
bins=${ES_BINS:-event-system=$build/host/event-system}

. "$top/bench/bench_lib.sh"
bench_work
names=()
procs=()
ports=()
port=18192
# start NAME COMMAND...: a target on the next port (its log: es-NAME.log)
start() {
	local name=$1
	shift
	"$@" > "$work/es-$name.log" 2>&1 &
	pids+=($!)
	procs+=($!)
	names+=("$name")
	ports+=($port)
	port=$((port + 1))
}
start bare-libevent "$build/bench/bare_http_server" $port 2
for spec in ${REF_BINS:-}; do start "${spec%%=*}" "${spec#*=}" $port 2; done
for spec in $bins; do
	es_noop_config "$work/es-${spec%%=*}.yaml" "$port" true "$access_log"
	start "${spec%%=*}" "${spec#*=}" -c "$work/es-${spec%%=*}.yaml"
done
for p in "${ports[@]}"; do wait_port "$p" || { echo "port $p did not come up"; exit 1; }; done
# A server gone (a port of its taken by another program meanwhile, say)
# would otherwise show as a missing /proc entry.
alive() { # INDEX
	kill -0 "${procs[$1]}" 2>/dev/null && return 0
	echo "${names[$1]} (pid ${procs[$1]}) is gone; its log:"
	tail -5 "$work/es-${names[$1]}.log" 2>/dev/null || true
	exit 1
}

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# "name ticks" for each thread name of process $1 (threads of one name summed)
thread_ticks() {
	for t in "/proc/$1/task/"*; do
		printf '%s %s\n' "$(cat "$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")"
	done 2>/dev/null | awk '{s[$1] += $2} END {for (c in s) print c, s[c]}' | sort
}
split_threads=${THREADS:-0}
: > "$work/threads.txt"
echo "# wrk -t2 -c$conns -d${secs}s -s bench/post.lua, $rounds rounds, targets in turn"
echo "# columns: target us-cpu/request req/s p99 non-2xx"
: > "$work/all.txt"
for round in $(seq 1 "$rounds"); do
	for i in "${!names[@]}"; do
		alive "$i"
		before=$(cpu_ticks "${procs[$i]}")
		[ "$split_threads" = 1 ] && thread_ticks "${procs[$i]}" > "$work/threads-before.txt"
		wrk -t2 -c"$conns" -d"$secs"s --latency -s "$top/bench/post.lua" \
			"http://127.0.0.1:${ports[$i]}/api/events/trigger" > "$work/wrk.txt" 2>&1
		after=$(cpu_ticks "${procs[$i]}")
		[ "$split_threads" = 1 ] && thread_ticks "${procs[$i]}" > "$work/threads-after.txt"
		reqs=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
		rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt")
		p99=$(awk '/^ +99%/ {print $2}' "$work/wrk.txt")
		non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
		awk -v n="${names[$i]}" -v d=$((after - before)) -v t="$ticks" -v r="$reqs" -v s="$rps" -v p="$p99" \
			-v e="${non2xx:-0}" 'BEGIN {printf "%s %.2f %s %s %s\n", n, d * 1e6 / t / r, s, p, e}' |
			tee -a "$work/all.txt"
		if [ "$split_threads" = 1 ]; then
			join "$work/threads-before.txt" "$work/threads-after.txt" |
				awk -v n="${names[$i]}" -v t="$ticks" -v r="$reqs" '{printf "%s %s %.2f\n", n, $1, ($3 - $2) * 1e6 / t / r}' |
				tee -a "$work/threads.txt" | awk '{printf "#   %s thread %s %s\n", $1, $2, $3}'
		fi
	done
done
echo "# us-cpu/request: min median max"
for n in "${names[@]}"; do
	grep "^$n " "$work/all.txt" | sort -k2 -n |
		awk -v n="$n" '{a[NR]=$2} END {printf "%s %.2f %.2f %.2f\n", n, a[1], a[int((NR+1)/2)], a[NR]}'
done
if [ -s "$work/threads.txt" ]; then
	echo "# us-cpu/request by thread name: min median max"
	awk '{print $1, $2}' "$work/threads.txt" | sort -u | while read -r n c; do
		awk -v n="$n" -v c="$c" '$1 == n && $2 == c {print $3}' "$work/threads.txt" | sort -n |
			awk -v n="$n" -v c="$c" '{a[NR]=$1} END {printf "%s %s %.2f %.2f %.2f\n", n, c, a[1], a[int((NR+1)/2)], a[NR]}'
	done
fi
