# A private NATS JetStream cluster and several daemons sharing it, for the
# scale-out tests; sourced after lib.sh.  Each nats-server has its own
# reserved ports (client, cluster route, monitor: one block of lib.sh's
# reserve_port) and its own store directory under $TMP; each daemon (a
# "node") its own port, config, log and record file.  Everything is killed
# by the test's cleanup.  Needs nats-server (scripts/install-deps.sh --test)
# and a daemon built with the NATS client.

NATS_COUNT=0
NATS_PIDS=()
NATS_PORTS=()  # client ports; route = +1, monitor = +2
NODE_COUNT=0
NODE_PIDS=()
NODE_PORTS=()

cluster_cleanup() {
	local i
	for i in "${!NODE_PIDS[@]}"; do
		if [ -n "${NODE_PIDS[$i]}" ] && kill -0 "${NODE_PIDS[$i]}" 2>/dev/null; then
			kill -KILL "${NODE_PIDS[$i]}" 2>/dev/null || true
			wait "${NODE_PIDS[$i]}" 2>/dev/null || true
		fi
	done
	for i in "${!NATS_PIDS[@]}"; do
		if [ -n "${NATS_PIDS[$i]}" ] && kill -0 "${NATS_PIDS[$i]}" 2>/dev/null; then
			kill -KILL "${NATS_PIDS[$i]}" 2>/dev/null || true
			wait "${NATS_PIDS[$i]}" 2>/dev/null || true
		fi
	done
	local report=
	for i in "${!NODE_PIDS[@]}"; do
		if [ -f "$TMP/node$i.log" ] && grep -q -- "$SANITIZER_REPORT" "$TMP/node$i.log"; then
			echo "FAIL ($TEST_NAME): a sanitizer report in node $i's log:" >&2
			grep -A30 -- "$SANITIZER_REPORT" "$TMP/node$i.log" | head -60 >&2
			report=1
		fi
	done
	cleanup
	[ -z "$report" ] || exit 1
}
trap cluster_cleanup EXIT

# cluster_use_database: for a cluster test that records into a MariaDB of
# its own (db_lib.sh): both libraries' cleanups in one EXIT trap, the
# database server first, then the cluster
cluster_use_database() {
	. "$(dirname "${BASH_SOURCE[0]}")/db_lib.sh"
	trap 'if [ -n "$DB_PID" ]; then kill -KILL "$DB_PID" 2>/dev/null || true; wait "$DB_PID" 2>/dev/null || true; fi; cluster_cleanup' EXIT
}

command -v nats-server >/dev/null 2>&1 || PATH="$PATH:/usr/sbin"
if ! command -v nats-server >/dev/null 2>&1 || "$ES_DAEMON" --version | grep -q "NATS client: not built in"; then
	# scripts/test.sh (and so CI) requires them: there a missing one fails
	[ "${ES_REQUIRE_NATS_TESTS:-}" != 1 ] || fail "nats-server or a daemon built with libnats is missing"
	echo "nats-server not installed or the daemon built without NATS: skipped"
	exit 77
fi

# cluster_fail MESSAGE: fail with the tail of every node's log
cluster_fail() {
	local i
	for i in "${!NODE_PIDS[@]}"; do
		echo "---- node $i log (last 25 lines) ----" >&2
		grep -v '\[access\]' "$TMP/node$i.log" | tail -n 25 >&2 || true
	done
	fail "$@"
}

nats_url() { echo "nats://127.0.0.1:${NATS_PORTS[$1]}"; }

nats_urls() {
	local i urls=
	for i in $(seq 0 $((NATS_COUNT - 1))); do urls="$urls${urls:+,}$(nats_url "$i")"; done
	echo "$urls"
}

# nats_healthy I: server I answers and its JetStream is up (and, clustered,
# has a metadata leader)
nats_healthy() {
	local m=$((NATS_PORTS[$1] + 2))
	[ "$(curl -s "http://127.0.0.1:$m/healthz" | jq -r .status 2>/dev/null)" = ok ] || return 1
	[ "$NATS_COUNT" = 1 ] && return 0
	[ -n "$(curl -s "http://127.0.0.1:$m/jsz" | jq -r '.meta_cluster.leader // empty' 2>/dev/null)" ]
}

# nats_wait_healthy I WHAT: wait for server I (NATS_READY_S, 60 s: a
# restarted cluster elects its JetStream leader again, slow under load);
# a timeout shows the end of its log
nats_wait_healthy() {
	local deadline=$((SECONDS + ${NATS_READY_S:-60}))
	until nats_healthy "$1" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "---- nats-server $1 log (last 20 lines) ----" >&2
			tail -n 20 "$TMP/nats$1.log" >&2 || true
			cluster_fail "timed out after ${NATS_READY_S:-60}s waiting for: $2"
		fi
		sleep 0.05
	done
}

# nats_launch I: start server I (again) with its reserved ports and store
nats_launch() {
	local i=$1 p=${NATS_PORTS[$1]} routes= j
	local args=(-js -sd "$TMP/nats$i" -a 127.0.0.1 -p "$p" -m $((p + 2)) -n "n$i")
	if [ "$NATS_COUNT" -gt 1 ]; then
		for j in $(seq 0 $((NATS_COUNT - 1))); do
			routes="$routes${routes:+,}nats://127.0.0.1:$((NATS_PORTS[$j] + 1))"
		done
		args+=(--cluster_name es-test --cluster "nats://127.0.0.1:$((p + 1))" --routes "$routes")
	fi
	mkdir -p "$TMP/nats$i"
	nats-server "${args[@]}" >> "$TMP/nats$i.log" 2>&1 &
	NATS_PIDS[$i]=$!
}

# nats_start COUNT: a JetStream cluster of COUNT servers, healthy
nats_start() {
	NATS_COUNT=$1
	local i p
	for i in $(seq 0 $((NATS_COUNT - 1))); do
		while :; do
			p=$((10000 + (RANDOM * 32768 + RANDOM) % 22000 / 4 * 4))
			reserve_port "$p" && break
		done
		NATS_PORTS[$i]=$p
	done
	for i in $(seq 0 $((NATS_COUNT - 1))); do nats_launch "$i"; done
	for i in $(seq 0 $((NATS_COUNT - 1))); do nats_wait_healthy "$i" "nats-server $i healthy"; done
}

nats_kill() {
	kill -KILL "${NATS_PIDS[$1]}" 2>/dev/null || true
	wait "${NATS_PIDS[$1]}" 2>/dev/null || true
	NATS_PIDS[$1]=
}

# node_config I: node I's config (stdin: its plugins: section and any other
# top-level ones; @TMP@, @NODE@ filled in), JetStream on every server, with
# $NODE_JS_EXTRA (say "node_id: 2") added to queue.jetstream when set
node_config() {
	local i=$1
	{
		echo "server: {port: ${NODE_PORTS[$i]}}"
		echo "metrics: {port: $((NODE_PORTS[$i] + 1))}"
		echo "logging: {format: text}"
		echo "event: {shutdown_timeout_ms: 3000}"
		echo "queue:"
		echo "  backend: jetstream"
		echo "  jetstream: {servers: \"$(nats_urls)\", replicas: ${NATS_REPLICAS:-$NATS_COUNT}, publish_timeout_ms: ${PUBLISH_TIMEOUT_MS:-2000}${NODE_JS_EXTRA:+, $NODE_JS_EXTRA}}"
		sed -e "s|@TMP@|$TMP|g" -e "s|@NODE@|$i|g" -e "s|@PLUGDIR@|$PLUGDIR|g"
	} > "$TMP/node$i.yaml"
}

node_ready() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${NODE_PORTS[$1]}/health")" = 200 ]
}

# node_launch I: start daemon I with $TMP/node$I.yaml (node_config) and
# its own state directory ($NODE_STATE_DIR, default $TMP/state$I: each
# daemon of a host has its own), without waiting
node_launch() {
	local i=$1 state=${NODE_STATE_DIR:-$TMP/state$1}
	mkdir -p -m 700 "$state"
	STATE_DIRECTORY="$state" "$ES_DAEMON" -c "$TMP/node$i.yaml" >> "$TMP/node$i.log" 2>&1 &
	NODE_PIDS[$i]=$!
}

# node_start I: node_launch I and wait until its /health is 200 (JetStream
# connected, streams ready)
node_start() {
	node_launch "$1"
	wait_until "node $1 healthy" 60 node_ready "$1"
}

# node_reserve I: a port for daemon I (its metrics on +1)
node_reserve() {
	local p
	while :; do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % 22000 / 4 * 4))
		reserve_port "$p" && break
	done
	NODE_PORTS[$1]=$p
	NODE_COUNT=$((NODE_COUNT > $1 + 1 ? NODE_COUNT : $1 + 1))
}

# nodes_stop: SIGTERM every running node; each must exit 0 within 20 s
# (a sanitizer build reports leaks then)
nodes_stop() {
	local i pid rc
	for i in "${!NODE_PIDS[@]}"; do
		pid=${NODE_PIDS[$i]}
		[ -n "$pid" ] || continue
		kill -TERM "$pid"
	done
	for i in "${!NODE_PIDS[@]}"; do
		pid=${NODE_PIDS[$i]}
		[ -n "$pid" ] || continue
		local deadline=$(($(date +%s) + 20))
		while kill -0 "$pid" 2>/dev/null; do
			[ "$(date +%s)" -lt $deadline ] || cluster_fail "node $i did not stop within 20 s of SIGTERM"
			sleep 0.05
		done
		rc=0
		wait "$pid" || rc=$?
		NODE_PIDS[$i]=
		[ "$rc" = 0 ] || cluster_fail "node $i exited with $rc after SIGTERM"
	done
}

# cluster_use_tokens: an admin and a trigger token for the nodes, in
# $ES_TEST_ADMIN_TOKEN and $ES_TEST_TRIGGER_TOKEN; cluster_auth_section
# prints the auth: section naming them, for node_config's stdin
cluster_use_tokens() {
	export ES_TEST_ADMIN_TOKEN=admin-token-0123456789abcdef
	export ES_TEST_TRIGGER_TOKEN=trigger-token-0123456789abcdef
}
cluster_auth_section() {
	cat <<'EOF'
auth:
  tokens:
    - {name: ops, role: admin, token_env: ES_TEST_ADMIN_TOKEN}
    - {name: ci, role: trigger, token_env: ES_TEST_TRIGGER_TOKEN}
EOF
}

# node_call I TOKEN METHOD PATH [BODY]: a request to node I with TOKEN (""
# for none) and a JSON BODY; sets STATUS (000: no answer) and BODY
node_call() {
	local args=(-s -o "$TMP/body" -w '%{http_code}' -m 20 -X "$3")
	[ -z "$2" ] || args+=(-H "Authorization: Bearer $2")
	[ $# -ge 5 ] && args+=(-H 'Content-Type: application/json' --data-binary "$5")
	rm -f "$TMP/body"
	STATUS=$(curl "${args[@]}" "http://127.0.0.1:${NODE_PORTS[$1]}$4") || STATUS=000
	BODY=$(cat "$TMP/body" 2>/dev/null || true)
}

node_kill() {
	kill -KILL "${NODE_PIDS[$1]}" 2>/dev/null || true
	wait "${NODE_PIDS[$1]}" 2>/dev/null || true
	NODE_PIDS[$1]=
}

# node_trigger I NAME ID: POST one event to node I; prints the HTTP status
node_trigger() {
	curl -s -o /dev/null -w '%{http_code}' -m 10 -H 'Content-Type: application/json' \
		--data-binary "{\"name\":\"$2\",\"id\":\"$3\",\"data\":null}" \
		"http://127.0.0.1:${NODE_PORTS[$1]}/api/events/trigger" || echo 000
}

# records PLUGIN: "<event id>" for every delivery PLUGIN recorded as ok, on
# any node (the record files are $TMP/rec<node>.txt)
records() {
	cat "$TMP"/rec*.txt 2>/dev/null | awk -v p="$1" '$1 == p && $5 == "ok" {print $3}'
}

# distinct_handled PLUGIN: how many different events PLUGIN handled
distinct_handled() {
	records "$1" | sort -u | wc -l
}

# each_node_handles PLUGIN NAME NODES: for wait_until; true once each of
# nodes 0..NODES-1 recorded PLUGIN handling an event, else one more NAME
# event goes to the next node in turn (EXTRA_SENT counts them).  A loaded
# machine can let one node's puller take a whole burst; with a consumer
# that is not shared, some node would never get any.
EXTRA_SENT=0
each_node_handles() {
	local i
	for i in $(seq 0 $(($3 - 1))); do
		if ! awk -v p="$1" '$1 == p && $5 == "ok"' "$TMP/rec$i.txt" 2>/dev/null | grep -q .; then
			EXTRA_SENT=$((EXTRA_SENT + 1))
			node_trigger $((EXTRA_SENT % $3)) "$2" "extra-$EXTRA_SENT" > /dev/null
			return 1
		fi
	done
}

handled_at_least() { [ "$(distinct_handled "$1")" -ge "$2" ]; }
