#!/bin/bash
# Scale-out benchmark (queue.backend: jetstream): accepted and delivered
# events/s through one daemon on a one-server JetStream (R1) and on a
# three-server cluster (R3), beside a reference measured in the same run:
# bench/js_reference, the same client library publishing and pull-consuming
# messages of the daemon's shape with no daemon, with as many publishes
# unacknowledged as wrk has connections (REF_IN_FLIGHT=CONNS: the most the
# daemon can have, each trigger being answered after its acknowledgement).
# Also the local backend's rate with the same load, for comparison.
#   accepted/s: triggers answered 202 (wrk, -c$CONNS, SECS seconds);
#   delivered/s: the no-op plugin's deliveries acknowledged to JetStream,
#                from the start of the load until the backlog is drained.
# Run from a configured build directory (built with libnats):
#   BUILD=. ../bench/cluster.sh [SECONDS]      (CONNS=64; REF_COUNT=50000 messages
#                                               and REF_IN_FLIGHT=CONNS for the reference)
# Needs nats-server and wrk (installed with apt when missing).
set -euo pipefail
build=$(cd "${BUILD:-.}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-10}
conns=${CONNS:-64}
ref_count=${REF_COUNT:-50000}
# the reference keeps as many publishes unacknowledged as the daemon can have:
# one per wrk connection (docs/benchmarks.md says why)
ref_in_flight=${REF_IN_FLIGHT:-$conns}
for tool in wrk nats-server; do
	command -v $tool >/dev/null || command -v /usr/sbin/$tool >/dev/null ||
		{ sudo=; [ "$(id -u)" = 0 ] || sudo=sudo; $sudo apt-get install -y -qq $tool >/dev/null; }
done
PATH="$PATH:/usr/sbin"
make -s -C "$build" bench/js_reference host/event-system tests/plugins/noop.la >/dev/null

work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mkdir -m 755 "$work/plugins"
install -m 0644 "$build/tests/plugins/.libs/noop.so" "$work/plugins/"

BASE=${BENCH_PORT:-18300}
nats_pids=()
start_nats() { # COUNT
	local n=$1 i routes=
	for i in $(seq 0 $((n - 1))); do routes="$routes${routes:+,}nats://127.0.0.1:$((BASE + 10 + i))"; done
	for i in $(seq 0 $((n - 1))); do
		rm -rf "$work/nats$i"
		local args=(-js -sd "$work/nats$i" -a 127.0.0.1 -p $((BASE + i)) -m $((BASE + 20 + i)) -n "b$i")
		[ "$n" = 1 ] || args+=(--cluster_name bench --cluster "nats://127.0.0.1:$((BASE + 10 + i))" --routes "$routes")
		nats-server "${args[@]}" > "$work/nats$i.log" 2>&1 &
		nats_pids+=($!)
		pids+=($!)
	done
	for i in $(seq 0 $((n - 1))); do
		for _ in $(seq 1 400); do
			if [ "$(curl -s "http://127.0.0.1:$((BASE + 20 + i))/healthz" | jq -r .status 2>/dev/null)" = ok ] &&
				{ [ "$n" = 1 ] || [ -n "$(curl -s "http://127.0.0.1:$((BASE + 20 + i))/jsz" | jq -r '.meta_cluster.leader // empty')" ]; }; then
				break
			fi
			sleep 0.05
		done
	done
}
stop_nats() {
	for p in "${nats_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	nats_pids=()
}
urls() { local i u=; for i in $(seq 0 $(($1 - 1))); do u="$u${u:+,}nats://127.0.0.1:$((BASE + i))"; done; echo "$u"; }

es_pid=
start_es() { # BACKEND REPLICAS NATS-COUNT
	local port=$((BASE + 50))
	{
		echo "server: {port: $port, threads: 2}"
		echo "event: {async_channel_size: 65536}"
		echo "logging: {level: info, format: json, access_log: false}"
		echo "metrics: {port: $((port + 1))}"
		echo "plugins: {directory: $work/plugins, settings: {noop: {workers: 2, queue_size: 1000, subscribe: ['**']}}}"
		if [ "$1" = jetstream ]; then
			echo "queue: {backend: jetstream, jetstream: {servers: '$(urls "$3")', replicas: $2, max_mb: 0}}"
		fi
	} > "$work/es.yaml"
	"$build/host/event-system" -c "$work/es.yaml" > "$work/es-$1-R$2.log" 2>&1 &
	es_pid=$!
	pids+=($es_pid)
	for _ in $(seq 1 400); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ] && return 0
		sleep 0.05
	done
	echo "the daemon did not become healthy:"
	tail -5 "$work/es-$1-R$2.log"
	exit 1
}
stop_es() { kill "$es_pid" 2>/dev/null || true; wait "$es_pid" 2>/dev/null || true; }

metric() { # NAME-WITH-LABELS
	curl -s "http://127.0.0.1:$((BASE + 51))/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

# run_daemon LABEL BACKEND REPLICAS NATS-COUNT: "accepted/s delivered/s"
run_daemon() {
	start_es "$2" "$3" "$4"
	local out="$work/wrk-$1.txt" t0 t1 accepted delivered acked
	t0=$(date +%s%N)
	wrk -t2 -c"$conns" -d"$secs"s -s "$top/bench/post.lua" "http://127.0.0.1:$((BASE + 50))/api/events/trigger" > "$out" 2>&1
	local total non2xx
	total=$(awk '/requests in/ {print $1}' "$out")
	non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
	accepted=$((total - ${non2xx:-0}))
	if [ "$2" = jetstream ]; then
		# until every accepted event was delivered and acknowledged (60 s at most)
		for _ in $(seq 1 1200); do
			acked=$(metric 'eventsys_jetstream_acks_total{plugin="noop",kind="ack"}')
			[ "${acked:-0}" -ge "$accepted" ] && break
			sleep 0.05
		done
	else
		for _ in $(seq 1 1200); do
			acked=$(curl -s "http://127.0.0.1:$((BASE + 50))/api/plugins" | jq '.plugins[0].counters.ok // .plugins[0].ok // 0')
			[ "${acked:-0}" -ge "$accepted" ] && break
			sleep 0.05
		done
	fi
	t1=$(date +%s%N)
	stop_es
	awk -v a="$accepted" -v d="${acked:-0}" -v s="$secs" -v ms=$(((t1 - t0) / 1000000)) -v n="${non2xx:-0}" -v l="$1" \
		'BEGIN {printf "%s accepted %.0f/s delivered %.0f/s (%d accepted in %ss, %d refused, %d delivered in %.1fs)\n", l, a/s, d/(ms/1000), a, s, n, d, ms/1000}'
}

echo "# one daemon (2 HTTP threads, no-op plugin with 2 workers), wrk -t2 -c$conns -d${secs}s, 120-byte JSON POST"
echo "# reference: bench/js_reference, $ref_count messages published asynchronously ($ref_in_flight unacknowledged at most) and pull-consumed"
run_daemon local local 0 0 | tee "$work/local.txt"
for r in 1 3; do
	start_nats "$r"
	"$build/bench/js_reference" "$(urls "$r")" "$r" "$ref_count" "$ref_in_flight" | sed "s/^/reference-R$r /" | tee "$work/ref$r.txt"
	run_daemon "daemon-R$r" jetstream "$r" "$r" | tee "$work/es$r.txt"
	stop_nats
done
for r in 1 3; do
	paste "$work/es$r.txt" "$work/ref$r.txt" | awk -v r="$r" '{
		for (i = 1; i <= NF; i++) { if ($i == "accepted" && !ea) ea = $(i+1); if ($i == "delivered" && !ed) ed = $(i+1); if ($i == "published" && !rp) rp = $(i+1) }
		split($0, parts, "reference"); n = split(parts[2], w, " "); for (i = 1; i <= n; i++) if (w[i] == "delivered") rd = w[i+1]
		printf "ratio R%s: accepted %.2fx the reference publish rate, delivered %.2fx the reference delivery rate\n", r, ea/rp, ed/rd }'
done
