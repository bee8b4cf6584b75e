# Shared by the HTTP benchmarks (http.sh, http_cpu.sh, http_callgrind.sh,
# batch.sh) and dispatch_cpu.sh; sourced, after they set `build`.
#
# bench_work: a private work directory in $work (readable by the daemon's
# plugin checks), removed with every process listed in `pids` on exit, and
# the no-op plugin staged in $work/plugins.
bench_work() {
	work=$(mktemp -d)
	chmod 755 "$work"
	pids=()
	trap bench_cleanup EXIT
	mkdir -m 755 "$work/plugins"
	install -m 0644 "$build/tests/plugins/.libs/noop.so" "$work/plugins/"
}

bench_cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}

# wait_port PORT: until something answers HTTP on PORT (30 s at most)
wait_port() {
	local i
	for i in $(seq 1 600); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done
	return 1
}

# es_noop_config FILE PORT [METRICS [ACCESS_LOG]]: a daemon config with two
# HTTP threads on PORT, metrics on PORT+100, and the no-op plugin with one
# worker subscribed to everything (a queue of 65,536); SUBSCRIBE=PATTERN
# subscribes it to PATTERN instead (one that matches nothing measures the
# daemon without the hand-off to a worker); WAKEUP_COALESCE_US=N sets its
# wakeup_coalesce_us (default: the config's)
es_noop_config() {
	cat > "$1" <<YAML
server: {port: $2, threads: 2}
event: {async_channel_size: 65536}
logging: {level: info, format: json, access_log: ${4:-false}}
metrics: {enabled: ${3:-true}, port: $(($2 + 100))}
plugins:
  directory: $work/plugins
  settings:
    noop: {workers: ${WORKERS:-1}, subscribe: ["${SUBSCRIBE:-**}"]${WAKEUP_COALESCE_US:+, wakeup_coalesce_us: $WAKEUP_COALESCE_US}}
YAML
}
