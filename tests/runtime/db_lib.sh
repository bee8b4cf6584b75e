# A private MariaDB server for the database tests, sourced after lib.sh:
# mariadb-install-db into $TMP/mysql, mariadbd on its own socket and port
# (never the system's), an `event_system` user with a password, stopped by
# the test's cleanup.  Needs mariadb-server (scripts/install-deps.sh --test).

DB_DIR="$TMP/mysql"
DB_SOCKET="$DB_DIR/mysqld.sock"
DB_PID=
DB_PORT=
DB_USER=event_system
DB_PASSWORD='s3cret-Pa55word'
DB_NAME=event_system

db_cleanup() {
	if [ -n "$DB_PID" ] && kill -0 "$DB_PID" 2>/dev/null; then
		kill -KILL "$DB_PID" 2>/dev/null || true
		wait "$DB_PID" 2>/dev/null || true
	fi
	cleanup
}
trap db_cleanup EXIT

command -v mariadbd >/dev/null 2>&1 || PATH="$PATH:/usr/sbin"
if ! command -v mariadbd >/dev/null 2>&1 || ! command -v mariadb-install-db >/dev/null 2>&1; then
	# scripts/test.sh (and so CI) requires them: there a missing server fails
	[ "${ES_REQUIRE_DATABASE_TESTS:-}" != 1 ] || fail "mariadbd not found (install mariadb-server-core)"
	echo "mariadbd not installed (mariadb-server-core): skipped"
	exit 77
fi

# db_root SQL...: run SQL as root over the socket
db_root() {
	mariadb --no-defaults -S "$DB_SOCKET" -u root -N -B -e "$*"
}

# db_sql SQL: run SQL as the event-system user in its database; prints rows
db_sql() {
	mariadb --no-defaults -S "$DB_SOCKET" -u "$DB_USER" -p"$DB_PASSWORD" -N -B "$DB_NAME" -e "$*"
}

db_alive() {
	mariadb --no-defaults -S "$DB_SOCKET" -u root -e 'SELECT 1' >/dev/null 2>&1
}

# db_start_server: start mariadbd on the existing data directory (with
# $DB_EXTRA_ARGS, if set)
db_start_server() {
	local try
	for try in 1 2 3 4 5 6 7 8; do
		# a reserved port below the ephemeral range, like the daemon's (lib.sh):
		# a random port in 33000-53000 could be held by any client socket
		if [ -z "$DB_PORT" ]; then
			DB_PORT=$((10000 + (RANDOM * 32768 + RANDOM) % 22000 / 4 * 4))
			reserve_port "$DB_PORT" || { DB_PORT=; continue; }
		fi
		# each attempt reads only its own error lines
		[ ! -f "$DB_DIR/error.log" ] || cat "$DB_DIR/error.log" >> "$DB_DIR/error.old.log"
		: > "$DB_DIR/error.log"
		mariadbd --no-defaults --datadir="$DB_DIR/data" --socket="$DB_SOCKET" --port="$DB_PORT" \
			--bind-address=127.0.0.1 --user="$(id -un)" --pid-file="$DB_DIR/mysqld.pid" --tmpdir="$DB_DIR/tmp" \
			--log-error="$DB_DIR/error.log" --innodb-buffer-pool-size=64M \
			--innodb-log-file-size=64M --max-connections=64 --skip-name-resolve ${DB_EXTRA_ARGS:-} \
			>/dev/null 2>&1 &
		DB_PID=$!
		# generous: several sanitizer builds may be starting servers at once
		local deadline=$(($(date +%s) + 90))
		while [ "$(date +%s)" -lt $deadline ]; do
			if db_alive; then return 0; fi
			kill -0 "$DB_PID" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$DB_PID" 2>/dev/null; then
			# still starting: never leave it behind to hold the data directory
			kill -KILL "$DB_PID" 2>/dev/null || true
			wait "$DB_PID" 2>/dev/null || true
			tail -n 20 "$DB_DIR/error.log" >&2 || true
			fail "mariadbd did not answer within 90 s"
		fi
		if grep -q "Address already in use" "$DB_DIR/error.log" 2>/dev/null; then
			DB_PORT=
			continue
		fi
		tail -n 20 "$DB_DIR/error.log" >&2 || true
		fail "mariadbd did not start"
	done
	fail "no free port for mariadbd"
}

# db_stop_server: stop mariadbd cleanly (SIGTERM, wait for it)
db_stop_server() {
	kill -TERM "$DB_PID" 2>/dev/null || true
	local deadline=$(($(date +%s) + 30))
	while kill -0 "$DB_PID" 2>/dev/null; do
		[ "$(date +%s)" -lt $deadline ] || fail "mariadbd did not stop"
		sleep 0.05
	done
	wait "$DB_PID" 2>/dev/null || true
	DB_PID=
}

# db_setup [empty]: a fresh server with the database and user of
# docs/operations.md; loads sql/schema.sql and init_data.sql unless "empty"
db_setup() {
	# a private tmpdir: servers installed at the same time (parallel tests)
	# collided on temporary tables in /tmp and the install failed
	mkdir -p "$DB_DIR/tmp"
	mariadb-install-db --no-defaults --datadir="$DB_DIR/data" --user="$(id -un)" --tmpdir="$DB_DIR/tmp" \
		--auth-root-authentication-method=socket --skip-test-db > "$DB_DIR/install.log" 2>&1 ||
		{ cat "$DB_DIR/install.log" >&2; fail "mariadb-install-db failed"; }
	db_start_server
	db_root "CREATE DATABASE $DB_NAME CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
		CREATE USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
		CREATE USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
		GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'localhost';
		GRANT ALL PRIVILEGES ON $DB_NAME.* TO '$DB_USER'@'127.0.0.1';
		FLUSH PRIVILEGES;"
	if [ "${1:-}" != empty ]; then
		db_load "$ES_TOP_SRCDIR/sql/schema.sql"
		db_load "$ES_TOP_SRCDIR/sql/init_data.sql"
	fi
}

# db_load FILE: the way docs/operations.md loads it (mysql ... < FILE)
db_load() {
	mariadb --no-defaults -S "$DB_SOCKET" -u "$DB_USER" -p"$DB_PASSWORD" "$DB_NAME" < "$1" ||
		fail "loading $1 failed"
}

# The DSN in the requirements document's form, over TCP
db_dsn_tcp() {
	echo "$DB_USER:$DB_PASSWORD@tcp(127.0.0.1:$DB_PORT)/$DB_NAME?charset=utf8mb4&parseTime=True&loc=Local"
}

db_dsn_unix() {
	echo "$DB_USER:$DB_PASSWORD@unix($DB_SOCKET)/$DB_NAME"
}

# write_db_plugin_settings [DATABASE-LINE...]: like write_plugin_settings
# (CONFIG_HEAD too), with the database on (this server over its socket,
# durable mode) and info logs without the access log.  Each DATABASE-LINE
# is a key under database: ('reconnect_max_ms: 300'); a 'dsn: ...' one
# stands for this server's.
write_db_plugin_settings() {
	local line dsn
	dsn=$(printf 'dsn: "%s"' "$(db_dsn_unix)")
	for line in "$@"; do
		case "$line" in dsn:*) dsn= ;; esac
	done
	{
		printf 'server: {port: @PORT@}\nlogging: {format: text, level: info, access_log: false}\n'
		[ -z "${CONFIG_HEAD:-}" ] || printf '%s\n' "$CONFIG_HEAD"
		printf 'database:\n  enabled: true\n'
		for line in ${dsn:+"$dsn"} "$@"; do
			printf '  %s\n' "$line"
		done
		printf 'plugins:\n  directory: @PLUGDIR@\n  settings:\n'
		cat
	} > "$CONFIG.in"
}

# db_count TABLE [WHERE]: rows
db_count() {
	db_sql "SELECT COUNT(*) FROM $1 ${2:+WHERE $2}"
}

# db_count_is N TABLE [WHERE]: for wait_until
db_count_is() {
	local n=$1
	shift
	[ "$(db_count "$@")" = "$n" ]
}

db_count_at_least() {
	local n=$1
	shift
	[ "$(db_count "$@")" -ge "$n" ]
}

# db_recovery_settled: for start_or_die, a start whose recovery pass is
# over: the earlier run's unfinished events were redelivered or
# dead-lettered, or there were none
db_recovery_settled() {
	log_has "dead-lettered instead of delivered again\|no unfinished events from an earlier run"
}

# restart_until_up PLUGIN EVENT FIRST_ATTEMPT MAX_STARTS: after the daemon
# died of a poison event, restart it as systemd would (Restart=on-failure)
# until a start stays up.  Every start that dies must die of SIGSEGV in
# PLUGIN handling EVENT, the first at attempt FIRST_ATTEMPT and each later
# one at the next attempt; more than MAX_STARTS starts is a crash loop.
# Sets STARTS (starts made) and RESTART_DEATHS (how many of them died).
restart_until_up() {
	local plugin=$1 event=$2 attempt=$3 max_starts=$4
	STARTS=0
	RESTART_DEATHS=0
	while :; do
		STARTS=$((STARTS + 1))
		[ "$STARTS" -le "$max_starts" ] || fail "still dying after $STARTS restarts: a crash loop"
		start_or_die db_recovery_settled
		[ "$DIED" = 1 ] || return 0
		[ "$EXIT_CODE" = 139 ] || fail "a restart died with $EXIT_CODE, not SIGSEGV"
		grep -q "fatal SIGSEGV in plugin '$plugin' handling event $event (attempt $attempt)" "$LOG" ||
			fail "restart $STARTS died of something else than $event's attempt $attempt: $(grep fatal "$LOG")"
		RESTART_DEATHS=$((RESTART_DEATHS + 1))
		attempt=$((attempt + 1))
	done
}
