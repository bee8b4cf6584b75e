#!/bin/bash
# Webhook deliveries per second to a local sink (bench/webhook_sink: answers
# 200 at once), through the real daemon and the bundled webhook plugin, in
# three cases: a new connection per delivery (keep_alive: false), one kept
# connection per worker (keep-alive, the default), and batch mode
# (application/cloudevents-batch+json, batch_max = workers).  Run from a
# configured build directory:
#   bench/webhook.sh [EVENTS] [WORKERS]
# Prints one line per case: events, seconds, deliveries/s, HTTP requests.
# The events are queued first (POST /api/events/batch, 1000 per request),
# then the clock runs until the plugin's ok counter reaches EVENTS.
set -eu
build=${BUILD:-.}
events=${1:-20000}
workers=${2:-8}
src=$(cd "$(dirname "$0")/.." && pwd)
make -s -C "$build" host/event-system plugins/webhook/webhook.la bench/webhook_sink >/dev/null
tmp=$(mktemp -d)
chmod 755 "$tmp"
mkdir -m 755 "$tmp/plugins"
install -m 0644 "$build/plugins/webhook/.libs/webhook.so" "$tmp/plugins/"
daemon_pid= sink_pid=
stop() {
	if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
	if [ -n "$sink_pid" ]; then kill "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; fi
	daemon_pid= sink_pid=
}
trap 'stop; rm -rf "$tmp"' EXIT
port=$((20000 + RANDOM % 20000))
sink_port=$((port + 2))
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# the request bodies: EVENTS events in arrays of 1000
rm -f "$tmp"/chunk.*
python3 - "$events" "$tmp" <<'PY'
import json, sys
n, tmp = int(sys.argv[1]), sys.argv[2]
for c in range(0, n, 1000):
    evs = [{"name": "bench.delivery", "id": "e-%d" % i, "source": "bench",
            "data": {"n": i, "text": "a webhook payload of about a hundred bytes"}} for i in range(c, min(n, c + 1000))]
    open("%s/chunk.%06d" % (tmp, c), "w").write(json.dumps(evs))
PY

ok_count() {
	curl -s "http://127.0.0.1:$port/api/plugins" | jq '.plugins[] | select(.name == "webhook") | .counters.ok'
}

run_case() { # NAME MODE KEEP_ALIVE
	"$build/bench/webhook_sink" "$sink_port" > "$tmp/sink.out" &
	sink_pid=$!
	cat > "$tmp/config.yaml" <<YAML
server: {port: $port}
metrics: {port: $((port + 1))}
logging: {format: text, level: warn}
plugins:
  directory: $tmp/plugins
  settings:
    webhook:
      subscribe: ["bench.**"]
      workers: $workers
      queue_size: $events
      config: {url: "http://127.0.0.1:$sink_port/hook", mode: $2, keep_alive: $3, batch_max: $workers, batch_linger_ms: 2}
YAML
	"$build/host/event-system" -c "$tmp/config.yaml" 2> "$tmp/daemon.log" &
	daemon_pid=$!
	for _ in $(seq 1 500); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ] && break
		sleep 0.02
	done
	local start
	start=$(now_ms)
	for f in "$tmp"/chunk.*; do
		curl -s -o /dev/null -H 'Content-Type: application/json' --data-binary "@$f" \
			"http://127.0.0.1:$port/api/events/batch"
	done
	local deadline=$(($(now_ms) + 300000)) n=0
	while :; do
		n=$(ok_count)
		[ "${n:-0}" -ge "$events" ] && break
		[ "$(now_ms)" -lt $deadline ] || { echo "$1: only ${n:-0} of $events delivered in 300 s" >&2; break; }
		sleep 0.05
	done
	local ms=$(($(now_ms) - start))
	stop
	local requests
	requests=$(cat "$tmp/sink.out")
	awk -v name="$1" -v n="$n" -v ms="$ms" -v req="$requests" 'BEGIN {
		printf "%-12s %8d events %7.2f s %10.0f deliveries/s %8d requests\n", name, n, ms / 1000, n / (ms / 1000), req }'
}

echo "webhook to a local sink: $events events, $workers workers, $(nproc) CPUs"
run_case single structured false
run_case keep-alive structured true
run_case batch batch true
