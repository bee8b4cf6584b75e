#!/bin/bash
# Durable-mode benchmark: in one run against one private MariaDB,
#   (a) the reference: raw multi-row INSERTs of event rows (ROWS_PER_INSERT
#       per statement, each statement its own commit) through the mariadb
#       client -- the rate the database itself takes;
#   (b) event-system in durable mode (202 only after the commit) with one
#       no-op plugin, driven by wrk over HTTP;
#   (c) the same daemon without a database, for the latency durability adds;
#   (d) async mode (history written behind the 202).
# Run from a configured build directory:  BUILD=. ../bench/db.sh [SECONDS]
# Needs mariadb-server and wrk (installed with apt when missing).
set -euo pipefail
build=$(cd "${BUILD:-.}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-10}
conns=${CONNS:-200}
rows_per_insert=${ROWS_PER_INSERT:-100}
raw_rows=${RAW_ROWS:-200000}
PATH="$PATH:/usr/sbin"
sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
command -v wrk >/dev/null || $sudo apt-get install -y -qq wrk >/dev/null
command -v mariadbd >/dev/null || $sudo apt-get install -y -qq mariadb-server >/dev/null
make -s -C "$build" host/event-system tests/plugins/noop.la >/dev/null

work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The database: default durability (innodb_flush_log_at_trx_commit=1).
mariadb-install-db --no-defaults --datadir="$work/data" --user="$(id -un)" --auth-root-authentication-method=socket \
	--skip-test-db > "$work/install.log" 2>&1
mariadbd --no-defaults --datadir="$work/data" --socket="$work/mysqld.sock" --skip-networking \
	--user="$(id -un)" --innodb-buffer-pool-size=512M --innodb-log-file-size=256M --log-error="$work/mysqld.err" &
pids+=($!)
for _ in $(seq 1 200); do mariadb --no-defaults -S "$work/mysqld.sock" -u root -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.05; done
sql() { mariadb --no-defaults -S "$work/mysqld.sock" -u root "$@"; }
sql -e "CREATE DATABASE es_raw; CREATE DATABASE es_durable; CREATE DATABASE es_async;
	CREATE USER bench@localhost IDENTIFIED BY 'bench'; GRANT ALL ON *.* TO bench@localhost;"
for db in es_raw es_durable es_async; do sql "$db" < "$top/sql/schema.sql"; done

# (a) raw multi-row INSERTs of the rows the daemon writes for one event
payload='{"order":12345,"total":99.5,"currency":"EUR","items":["a","b"]}'
awk -v n="$raw_rows" -v per="$rows_per_insert" -v payload="$payload" 'BEGIN {
	for (i = 1; i <= n; i++) {
		if ((i - 1) % per == 0) printf "INSERT INTO events (seq,id,name,source,event_time,received_at,payload) VALUES ";
		printf "(%d,\"%08d-0000-4000-8000-000000000000\",\"bench.order.created\",\"\",NOW(6),NOW(6),\x27%s\x27)", i, i, payload;
		if (i % per == 0 || i == n) printf ";\n"; else printf ",";
	}
}' > "$work/raw.sql"
raw_round() { # prints rows/s; the table is emptied first
	sql es_raw -e "TRUNCATE events"
	local t0 t1
	t0=$(date +%s.%N)
	sql es_raw < "$work/raw.sql"
	t1=$(date +%s.%N)
	echo "$raw_rows / ($t1 - $t0)" | bc -l
}

mkdir -m 755 "$work/plugins"
install -m 0644 "$build/tests/plugins/.libs/noop.so" "$work/plugins/"
start_es() { # NAME PORT DATABASE-YAML
	cat > "$work/es-$1.yaml" <<YAML
server: {port: $2, threads: 2}
event: {async_channel_size: 65536}
logging: {level: info, format: json, access_log: false}
metrics: {enabled: true, port: $(($2 + 100))}
$3
plugins:
  directory: $work/plugins
  settings:
    noop: {workers: 1, subscribe: ["**"]}
YAML
	"$build/host/event-system" -c "$work/es-$1.yaml" > "$work/es-$1.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$2/ready" && return 0; sleep 0.05; done
	echo "event-system ($1) did not start"; cat "$work/es-$1.log"; exit 1
}
start_es durable 18201 "database: {enabled: true, dsn: 'bench:bench@unix($work/mysqld.sock)/es_durable', mode: durable}"
start_es nodb 18202 ""
start_es async 18203 "database: {enabled: true, dsn: 'bench:bench@unix($work/mysqld.sock)/es_async', mode: async}"

run_wrk() { # NAME PORT
	local out="$work/wrk-$1.txt"
	wrk -t2 -c"$conns" -d"$secs"s --latency -s "$top/bench/post.lua" "http://127.0.0.1:$2/api/events/trigger" > "$out" 2>&1
	rps[$1]=$(awk '/^Requests\/sec/ {print $2}' "$out")
	p50[$1]=$(awk '$1 == "50%" {print $2}' "$out")
	p99[$1]=$(awk '$1 == "99%" {print $2}' "$out")
	non2xx[$1]=$(awk '/Non-2xx/ {print $NF}' "$out")
}
declare -A rps p50 p99 non2xx
# Raw and durable alternate, ROUNDS times: the machine's speed drifts, so the
# ratio is taken within each round and the median round reported.
rounds=${ROUNDS:-3}
ratios=()
for r in $(seq 1 "$rounds"); do
	raw=$(raw_round)
	# both start each round from empty tables
	sql es_durable -e "TRUNCATE events; TRUNCATE deliveries"
	run_wrk durable 18201
	ratio=$(echo "${rps[durable]} / $raw" | bc -l)
	printf "round %d: raw INSERT %.0f rows/s, durable %s req/s (p50 %s, p99 %s): %.2fx\n" "$r" "$raw" \
		"${rps[durable]}" "${p50[durable]}" "${p99[durable]}" "$ratio"
	ratios+=("$ratio|$raw|${rps[durable]}|${p50[durable]}|${p99[durable]}|${non2xx[durable]:-0}")
done
median=$(printf '%s\n' "${ratios[@]}" | sort -t'|' -k1,1g | sed -n "$(((rounds + 1) / 2))p")
IFS='|' read -r ratio raw_rate rps[durable] p50[durable] p99[durable] non2xx[durable] <<< "$median"
run_wrk nodb 18202
run_wrk async 18203

stored=$(sql -N -e "SELECT COUNT(*) FROM es_durable.events") # the last round's
metric() { curl -s "http://127.0.0.1:$(($1 + 100))/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
rows=$(metric 18201 'eventsys_db_rows_written_total{table="events"}')
tx=$(metric 18201 'eventsys_db_transactions_total{writer="events"}')

echo "event-system durable-mode benchmark: wrk -t2 -c$conns -d${secs}s, $(nproc) cores; durable: the median of $rounds rounds"
printf "%-44s %12s\n" "raw multi-row INSERT ($rows_per_insert rows/statement)" "$(printf '%.0f rows/s' "$raw_rate")"
for n in durable async nodb; do
	printf "%-44s %12s  p50 %-8s p99 %-8s non-2xx %s\n" "event-system $n" "${rps[$n]} req/s" "${p50[$n]}" "${p99[$n]}" \
		"${non2xx[$n]:-0}"
done
echo "durable / raw INSERT (median round): $(printf '%.2f' "$ratio")x (target >= 0.3x)"
echo "durable / no database: $(echo "${rps[durable]} / ${rps[nodb]}" | bc -l | xargs printf '%.2f')x"
echo "durable: $stored events stored in the last round; mean group commit $(echo "$rows / $tx" | bc -l | xargs printf '%.1f') event rows per transaction ($tx transactions)"
