#!/bin/bash
# The Prometheus endpoint after known traffic: the numbers match what was
# sent (accepted, rejected, dead-lettered, a stalled plugin's full queue),
# the output passes `promtool check metrics`, and a real Prometheus scrapes it.
set -eu
. "$(dirname "$0")/lib.sh"

stage_plugin recorder
stage_plugin failing
stage_plugin slow
write_config <<'YAML'
server: {port: @PORT@}
event: {shutdown_timeout_ms: 500}
logging: {format: text}
metrics: {enabled: true, host: 127.0.0.1, port: @MPORT@}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {subscribe: ["order.*"], config: {record: @TMP@/recorder.txt}}
    failing: {subscribe: ["fail.*"], max_attempts: 1}
    slow: {subscribe: ["slow.*"], workers: 1, queue_size: 3, config: {delay_ms: 30000}}
YAML
start_daemon
scrape() { curl -s "http://127.0.0.1:$MPORT/metrics" > "$TMP/metrics.txt"; }
value() { # SERIES-WITH-LABELS
	awk -v s="$1" '$1 == s {print $2}' "$TMP/metrics.txt"
}
expect_value() { # SERIES EXPECTED
	local v
	v=$(value "$1")
	[ "$v" = "$2" ] || fail "$1 is '$v', expected $2"
}

for i in 1 2 3 4 5; do trigger "order.n$i"; expect_status 202; done
for i in 1 2; do request POST /api/events/trigger '{"name":'; expect_status 400; done
trigger fail.one
expect_status 202
for i in 1 2 3 4 5 6; do trigger "slow.n$i"; done
wait_until "recorder handled 5" 5 lines_at_least "$TMP/recorder.txt" "recorder order" 5
wait_until "the failure is dead-lettered" 5 log_has "dead-lettered"
# a delivery is booked just after its handler returns: poll the endpoint itself
recorder_booked() { scrape; [ "$(value 'eventsys_event_latency_seconds_count{plugin="recorder"}')" = 5 ]; }
wait_until "the recorder's deliveries are booked" 5 recorder_booked

expect_value 'eventsys_api_events_total{result="accepted"}' 9
expect_value 'eventsys_api_events_total{result="bad_request"}' 2
expect_value 'eventsys_api_events_total{result="busy"}' 3
expect_value 'eventsys_plugin_ok_total{plugin="recorder"}' 5
expect_value 'eventsys_plugin_received_total{plugin="recorder"}' 5
expect_value 'eventsys_plugin_dead_lettered_total{plugin="failing"}' 1
expect_value 'eventsys_plugin_queue_depth{plugin="slow"}' 3
expect_value 'eventsys_plugin_queue_capacity{plugin="slow"}' 3
expect_value 'eventsys_plugin_refused_total{plugin="slow"}' 3
expect_value 'eventsys_plugin_workers_busy{plugin="slow"}' 1
expect_value 'eventsys_plugin_handler_duration_seconds_count{plugin="recorder"}' 5
expect_value 'eventsys_event_latency_seconds_count{plugin="recorder"}' 5
expect_value 'eventsys_plugins_loaded' 3
expect_value 'eventsys_config_generation' 1
expect_value 'eventsys_build_info{version="1.0.0",plugin_abi="1.1"}' 1
expect_value 'eventsys_http_requests_total{route="/api/events/trigger",code="4xx"}' 2
expect_value 'eventsys_http_requests_total{route="/api/events/trigger",code="5xx"}' 3
oldest=$(value 'eventsys_plugin_oldest_queued_seconds{plugin="slow"}')
awk -v o="$oldest" 'BEGIN {exit !(o > 0)}' || fail "oldest queued age is $oldest with a stalled queue"
for p in process_cpu_seconds_total process_resident_memory_bytes process_open_fds process_max_fds process_start_time_seconds; do
	[ -n "$(value $p)" ] || fail "no $p"
done
pass "after known traffic: 9 accepted, 2 bad, 3 busy, 1 dead letter, a full stalled queue (3/3), latency counts"

if promtool_checked "$TMP/metrics.txt"; then
	pass "promtool check metrics passes on the live output"
fi

request GET /health
echo "$BODY" | jq -e '.components.metrics == "ok"' >/dev/null || fail "health: $BODY"
pass "/health reports the metrics endpoint as ok"

if command -v prometheus >/dev/null; then
	ppport=$((PORT + 2))
	cat > "$TMP/prometheus.yml" <<PROM
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: event-system
    static_configs: [{targets: ["127.0.0.1:$MPORT"]}]
PROM
	for attempt in 1 2 3; do
		prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
			--web.listen-address="127.0.0.1:$ppport" > "$TMP/prometheus.log" 2>&1 &
		prom=$!
		sleep 0.5
		grep -q "address already in use" "$TMP/prometheus.log" || break
		wait $prom 2>/dev/null || true
		ppport=$((ppport + 1000))
	done
	trap 'kill $prom 2>/dev/null || true; cleanup' EXIT
	query() { curl -s "http://127.0.0.1:$ppport/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // empty'; }
	accepted_in_prometheus() { [ "$(query 'eventsys_api_events_total{result="accepted"}')" = 9 ]; }
	wait_until "Prometheus scraped the daemon" 30 accepted_in_prometheus
	[ "$(query 'up{job="event-system"}')" = 1 ] || fail "up is not 1"
	kill $prom
	wait $prom 2>/dev/null || true
	pass "a real Prometheus scrapes the daemon: its query API returns 9 accepted events"
else
	echo "prometheus not installed: scrape test skipped"
fi
stop_daemon TERM

# The alert rules and the dashboard use only series the daemon exports
# (the database's, eventsys_db_*, are checked by db_history.sh, the
# JetStream backend's, eventsys_jetstream_*, by cluster_balance.sh).
top=${ES_TOP_SRCDIR:?}
grep -oh 'eventsys_[a-z_]*' "$top/configs/prometheus/alerts.yml" "$top/configs/grafana/event-system.json" | sort -u |
	sed -e 's/_bucket$//' | grep -v '^eventsys_db_\|^eventsys_jetstream_' > "$TMP/used.txt"
while read -r name; do
	grep -q "^# TYPE $name " "$TMP/metrics.txt" || fail "$name is used by the alerts or the dashboard but not exported"
done < "$TMP/used.txt"
pass "every series the alerts and the dashboard use is exported ($(wc -l < "$TMP/used.txt") names)"
if command -v promtool >/dev/null; then
	promtool check rules "$top/configs/prometheus/alerts.yml" > "$TMP/rules.txt" 2>&1 || fail "$(cat "$TMP/rules.txt")"
	(cd "$top/configs/prometheus" && promtool test rules alerts_test.yml) > "$TMP/rules-test.txt" 2>&1 ||
		fail "promtool test rules: $(cat "$TMP/rules-test.txt")"
	pass "promtool check rules and promtool test rules pass"
fi
jq -e '.panels | length > 0' "$top/configs/grafana/event-system.json" >/dev/null || fail "the dashboard is not valid JSON"
