# Measuring the daemon during an attack, for the runtime tests of its
# limits (sourced after lib.sh).

# The daemon's CPU time (user + system) in clock ticks.
daemon_cpu_ticks() {
	sed 's/.*) //' "/proc/$DAEMON_PID/stat" | awk '{ print $12 + $13 }'
}

begin_episode() {
	EPISODE_CPU0=$(daemon_cpu_ticks)
	EPISODE_LOG0=$(wc -l < "$LOG")
}

# Sets EPISODE_CPU_S (seconds of daemon CPU) and EPISODE_LOG_LINES.
end_episode() {
	local ticks=$(($(daemon_cpu_ticks) - EPISODE_CPU0))
	EPISODE_CPU_S=$(awk -v t=$ticks -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
	EPISODE_LOG_LINES=$(($(wc -l < "$LOG") - EPISODE_LOG0))
}

cpu_at_most() {
	awk -v c="$EPISODE_CPU_S" -v m="$1" 'BEGIN { exit !(c <= m) }' ||
		fail "the daemon used $EPISODE_CPU_S s of CPU during the episode (at most $1 expected)"
}

# probe_health_while PID SECONDS: GET /health every 0.2 s while PID runs;
# each must answer 200 within SECONDS.  Sets HEALTH_PROBES, HEALTH_WORST_S.
probe_health_while() {
	local pid=$1 limit=$2 out code secs
	HEALTH_PROBES=0
	HEALTH_WORST_S=0
	while kill -0 "$pid" 2>/dev/null; do
		out=$(curl -s -o /dev/null -m "$limit" -w '%{http_code} %{time_total}' "http://127.0.0.1:$PORT/health") || true
		code=${out%% *}
		secs=${out#* }
		[ "$code" = 200 ] || fail "/health did not answer within $limit s during the attack (got '$out')"
		HEALTH_PROBES=$((HEALTH_PROBES + 1))
		HEALTH_WORST_S=$(awk -v a="$HEALTH_WORST_S" -v b="$secs" 'BEGIN { print (b > a ? b : a) }')
		sleep 0.2 # pacing, not synchronisation
	done
}

# metric NAME: a value from the metrics endpoint (NAME with its labels)
metric() {
	curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

metric_is() {
	[ "$(metric "$1")" = "$2" ]
}
