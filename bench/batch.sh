#!/bin/bash
# Batch endpoint benchmark: events/s accepted into one no-op plugin through
# POST /api/events/batch (BATCH_EVENTS=100 events of 120 bytes per request,
# wrk -t2 -cCONNS=50), beside references from the same run:
#   (a) a bare libevent server (bench/bare_http_server.c) parsing the same
#       batch body with cJSON and answering 202: the least an HTTP server
#       could do with it;
#   (b) event-system's single-event endpoint (/api/events/trigger, the
#       120-byte event of bench/post.lua), events/s.
# Then the same batches at a fixed rate below saturation (RATE events/s,
# default 400000: 80 % of the 500 k events/s goal, paced by batch.lua's
# schedule) and the refusals there.
# Accepted and refused events are the no-op plugin's own counters
# (received, refused), read before and after each run.
# Run from a configured build directory:  BUILD=. ../bench/batch.sh [SECONDS]
# (ROUNDS=3 rounds in turn, the median reported.)  Installs wrk with apt when
# missing.
set -euo pipefail
build=$(cd "${BUILD:-.}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-10}
conns=${CONNS:-50}
per=${BATCH_EVENTS:-100}
rate=${RATE:-400000}
export BATCH_EVENTS=$per
command -v wrk >/dev/null ||
	{ sudo=; [ "$(id -u)" = 0 ] || sudo=sudo; $sudo apt-get install -y -qq wrk >/dev/null; }
make -s -C "$build" bench/bare_http_server host/event-system tests/plugins/noop.la >/dev/null

. "$top/bench/bench_lib.sh"
bench_work

"$build/bench/bare_http_server" 18192 2 &
pids+=($!)
es_noop_config "$work/es.yaml" 18193
"$build/host/event-system" -c "$work/es.yaml" > "$work/es.log" 2>&1 &
pids+=($!)
for p in 18192 18193; do wait_port $p || { echo "port $p did not come up"; exit 1; }; done

counter() { curl -s "http://127.0.0.1:18193/api/plugins" | jq ".plugins[0].counters.$1"; }
# run_wrk NAME PORT PATH SCRIPT EVENTS_PER_REQUEST: one line
#   NAME req/s events/s accepted/s refused p99 non-2xx
run_wrk() {
	local out="$work/wrk-$1.txt" r0 f0 r1 f1
	r0=$(counter received); f0=$(counter refused)
	wrk -t2 -c"$conns" -d"$secs"s --latency -s "$top/bench/$4" "http://127.0.0.1:$2$3" > "$out" 2>&1
	r1=$(counter received); f1=$(counter refused)
	local rps p99 non2xx
	rps=$(awk '/^Requests\/sec/ {print $2}' "$out")
	p99=$(awk '/^ +99%/ {print $2}' "$out")
	non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
	awk -v n="$1" -v rps="$rps" -v per="$5" -v acc=$((r1 - r0)) -v ref=$((f1 - f0)) -v s="$secs" \
		-v p99="$p99" -v bad="${non2xx:-0}" \
		'BEGIN {printf "%s %.0f %.0f %.0f %d %s %d\n", n, rps, rps * per, acc / s, ref, p99, bad}'
}

rounds=${ROUNDS:-3}
echo "# wrk -t2 -c$conns -d${secs}s; batches of $per 120-byte events; $rounds rounds in turn, median shown"
echo "# columns: target req/s events/s accepted-by-plugin/s refused p99 non-2xx"
echo "# (the bare server accepts nothing into a plugin: its events/s is what it parsed)"
: > "$work/all.txt"
for round in $(seq 1 "$rounds"); do
	run_wrk bare-libevent-batch 18192 /api/events/batch batch.lua "$per" >> "$work/all.txt"
	run_wrk event-system-batch 18193 /api/events/batch batch.lua "$per" >> "$work/all.txt"
	run_wrk event-system-single 18193 /api/events/trigger post.lua 1 >> "$work/all.txt"
done
median() { grep "^$1 " "$work/all.txt" | sort -k3 -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
r_bare=$(median bare-libevent-batch)
r_batch=$(median event-system-batch)
r_single=$(median event-system-single)
printf '%s\n' "$r_bare" "$r_batch" "$r_single"
echo "# every round:"
sed 's/^/#   /' "$work/all.txt"
bare=$(echo "$r_bare" | awk '{print $3}')
single=$(echo "$r_single" | awk '{print $4}')
echo "$r_batch" | awk -v b="$bare" -v s="$single" \
	'{printf "ratio event-system-batch: %.2fx bare libevent (events parsed), %.2fx the single-event endpoint (events accepted)\n", $4/b, $4/s}'

# The same batches at a fixed rate: each wrk thread sends on a schedule
# (batch.lua), so what is asked is offered while the answers keep up.
echo "# at a fixed rate: $rate events/s asked (batches on a schedule over $conns connections)"
BATCH_RATE=$rate BATCH_THREADS=2 run_wrk event-system-batch-at-rate 18193 /api/events/batch batch.lua "$per"
