#!/bin/bash
# At the open-file limit (ulimit -n 64) a slowloris of 50 connections does
# not make the daemon spin or flood its log: it stops accepting at
# server.max_connections (derived from the limit by default), or when
# accept() fails with EMFILE (a limit set above the file limit), logs that
# once with the episode's counts, keeps answering /health, and accepts
# again once the attackers go.
set -eu
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/resource_lib.sh"

REAL_DAEMON=$ES_DAEMON
ES_DAEMON=$TMP/daemon-with-64-files
printf '#!/bin/bash\nulimit -n 64\nexec "%s" "$@"\n' "$REAL_DAEMON" > "$ES_DAEMON"
chmod +x "$ES_DAEMON"

stage_plugin recorder

# attack_and_recover LOG-PATTERN DESCRIPTION [scrape]: 50 slow clients
# for 5 s; checks the daemon's CPU, log, /health and recovery.  With
# "scrape", the metrics endpoint is scraped while accepting fails too.
attack_and_recover() {
	local pattern=$1 what=$2 scrape=${3:-} scraper=
	begin_episode
	python3 "$(dirname "$0")/slow_client.py" "$PORT" 50 5 0.25 "$TMP/slow.json" &
	local attack=$!
	if [ "$scrape" = scrape ]; then
		wait_until "accepting paused" 5 log_has "$pattern"
		curl -s -o /dev/null -m 8 -w '%{http_code}' "http://127.0.0.1:$MPORT/metrics" > "$TMP/scrape.code" &
		scraper=$!
	fi
	probe_health_while "$attack" 3.0
	wait "$attack"
	if [ -n "$scraper" ]; then
		wait "$scraper" || true
		[ "$(cat "$TMP/scrape.code")" = 200 ] || fail "the metrics scrape during the episode got $(cat "$TMP/scrape.code")"
	fi
	end_episode
	echo "$what: $(cat "$TMP/slow.json"); daemon CPU ${EPISODE_CPU_S}s, $EPISODE_LOG_LINES log lines," \
		"/health worst ${HEALTH_WORST_S}s over $HEALTH_PROBES probes"
	expect_log "$pattern"
	[ "$HEALTH_PROBES" -ge 3 ] || fail "only $HEALTH_PROBES /health probes ran"
	cpu_at_most 1.5
	wait_until "the episode's closing line" 10 log_has "accepting connections again after"
	[ "$(lines_in "$LOG" "stops accepting connections")" -le 1 ] ||
		fail "$(lines_in "$LOG" "stops accepting connections") lines say accepting stopped"
	# accepting stops, the first slow request cut answered 408, accepting
	# again; and the count of the later 408s when 10 s have passed
	[ "$(wc -l < "$LOG")" -le $((EPISODE_LOG0 + 4)) ] || fail "$(($(wc -l < "$LOG") - EPISODE_LOG0)) log lines for the episode"
	trigger after.attack
	expect_status 202
	expect_body '"matched":["recorder"]'
	pass "$what: /health answered $HEALTH_PROBES probes within 3 s (worst $HEALTH_WORST_S s); daemon CPU" \
		"$EPISODE_CPU_S s in 5 s; $(($(wc -l < "$LOG") - EPISODE_LOG0)) log lines; serving again afterwards"
}

# ---- the limit derived from the open-file limit ----
write_config <<'YAML'
server: {port: @PORT@, threads: 2, request_timeout_ms: 1000}
logging: {format: text, access_log: false}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
YAML
start_daemon
expect_log "at most 32 connections (server.max_connections, from the open-file limit)"
attack_and_recover "stops accepting connections: the connection limit is reached (.* open, server.max_connections 32)" \
	"at the connection limit"
[ "$(metric eventsys_http_connections_limit)" = 32 ] || fail "limit metric: $(metric eventsys_http_connections_limit)"
paused=$(metric 'eventsys_http_accept_pauses_total{reason="connection_limit"}')
[ "$paused" -ge 1 ] || fail "no pause at the limit counted"
stop_daemon TERM

# ---- a limit above the file limit: accept() fails with EMFILE ----
write_config <<'YAML'
server: {port: @PORT@, threads: 2, request_timeout_ms: 1000, max_connections: 1000}
logging: {format: text, access_log: false}
plugins:
  directory: @PLUGDIR@
  settings:
    recorder: {config: {record: @TMP@/recorder.txt}}
YAML
start_daemon
attack_and_recover "stops accepting connections: accept() failed: Too many open files" \
	"at the open-file limit (EMFILE), with a metrics scrape" scrape
failed=$(metric 'eventsys_http_accept_pauses_total{reason="accept_failed"}')
[ "$failed" -ge 1 ] || fail "no failed accept counted"
stop_daemon TERM
[ "$EXIT_CODE" = 0 ] || fail "exit code $EXIT_CODE"
