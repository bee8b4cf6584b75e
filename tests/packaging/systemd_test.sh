#!/bin/bash
# The Debian package under a real systemd, as an operator meets it: a
# Debian 12 system with systemd (debootstrap, cached) boots as PID 1 in
# systemd-nspawn, with a network of its own (loopback only: no port of
# this machine is taken); the freshly built event-system and
# event-system-dev packages are installed in it with apt, then:
#   - apt's start and `systemctl start` return only once the daemon serves
#     (Type=notify): /ready answers at once, a trigger is delivered;
#   - a plugin built inside with the -dev package, dropped in, `systemctl
#     reload`: the next event reaches it;
#   - a broken config, `systemctl reload`: the unit stays active, the
#     journal says why;
#   - a daemon that stops answering (SIGSTOP) is restarted by the watchdog;
#   - kill -9 of the main process: Restart=on-failure brings it back;
#   - `systemctl stop`: a clean exit with status 0;
#   - `journalctl -u event-system` shows each step;
#   - `systemd-analyze verify` is clean and `systemd-analyze security`
#     rates the unit OK or better (the report is kept in OUTDIR).
# Needs root; installs debootstrap and systemd-container with apt if missing.
#   tests/packaging/systemd_test.sh OUTDIR [DEBDIR]
# DEBDIR holds event-system_*.deb and event-system-dev_*.deb already built
# (deb_install.sh's); without it they are built here.  The root file system
# is cached in $EVENT_SYSTEM_TEST_CACHE (default /var/cache/event-system-test)
# and never changed: the test runs on an overlay of it.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: $0 OUTDIR [DEBDIR]}
debdir=${2:-}
cache=${EVENT_SYSTEM_TEST_CACHE:-/var/cache/event-system-test}
[ "$(id -u)" = 0 ] || { echo "needs root: skipped"; exit 77; }

nspawn_pid= pid1= root=$out/root
fail() {
	echo "FAIL (systemd): $*" >&2
	if [ -n "$pid1" ]; then
		inside journalctl -u event-system --no-pager -n 30 >&2 || true
		inside systemctl status event-system --no-pager >&2 || true
	fi
	exit 1
}
pass() { echo "ok: $*"; }
# inside COMMAND...: run in the booted system (all its namespaces)
inside() { nsenter -t "$pid1" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
wait_for() { # SECONDS COMMAND...
	local secs=$1
	shift
	for _ in $(seq 1 $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}
cleanup() {
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		kill -TERM "$nspawn_pid" 2>/dev/null || true # nspawn shuts the system down
		for _ in $(seq 1 150); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$nspawn_pid" 2>/dev/null || true
	fi
	if mountpoint -q "$root"; then umount "$root" || umount -l "$root"; fi
	rm -rf "$out/upper" "$out/overlay-work"
}
trap cleanup EXIT

missing=
command -v debootstrap >/dev/null || missing="$missing debootstrap"
command -v systemd-nspawn >/dev/null || missing="$missing systemd-container"
if [ -n "$missing" ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		fail "could not install$missing"
fi

cleanup
rm -rf "$out"
mkdir -p "$out"
t0=$SECONDS
# What the system needs besides minbase: systemd, the daemon's libraries
# (the container has no network, apt finds them installed), a compiler for
# the plugin author.
lower=$("$top/tests/packaging/debian_rootfs.sh" "$cache" systemd systemd-sysv dbus procps curl gcc libc6-dev \
	pkg-config libevent-2.1-7 libevent-pthreads-2.1-7 libyaml-0-2 libcjson1 libmariadb3 libcurl4 libltdl7 \
	libssl3 libnats3.4 libprotobuf-c1) || fail "debootstrap"
pass "Debian 12 root file system with systemd: $lower ($((SECONDS - t0)) s)"

if [ -z "$debdir" ] || ! ls "$debdir"/event-system_*.deb >/dev/null 2>&1; then
	debdir=$out/debs
	"$top/tests/packaging/build_debs.sh" "$debdir" || fail "building the packages"
fi
mkdir -p "$out/upper" "$out/overlay-work" "$root"
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$out/upper,workdir=$out/overlay-work" "$root" ||
	fail "mounting an overlay on the cached root file system"
mkdir -p "$root/root/debs" "$root/root/author"
cp "$debdir"/event-system_*.deb "$debdir"/event-system-dev_*.deb "$root/root/debs/"
sed 's/\.name = "example"/.name = "hello"/' "$top/plugins/example/example.c" > "$root/root/author/hello.c"

setsid systemd-nspawn --register=no --keep-unit --private-network --machine="es-test-$$" -D "$root" -b \
	--console=read-only < /dev/null > "$out/boot.log" 2>&1 &
nspawn_pid=$!
find_pid1() { pid1=$(pgrep -P "$nspawn_pid" -x systemd) && [ -n "$pid1" ]; }
wait_for 30 find_pid1 || { tail -20 "$out/boot.log"; fail "systemd did not start in the container"; }
booted() { local s; s=$(inside systemctl is-system-running) || true; [ "$s" = running ] || [ "$s" = degraded ]; }
wait_for 60 booted || fail "the system did not finish booting: $(inside systemctl is-system-running)"
pass "booted with systemd-nspawn: systemd $(inside systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p') is PID 1"

main_pid() { inside systemctl show -P MainPID event-system; }
is_active() { [ "$(inside systemctl is-active event-system)" = active ]; }
serves() { inside curl -sf -m 5 -o /dev/null http://127.0.0.1:8080/ready; }
trigger() { # NAME: POST one event; prints the status and keeps the body in $out/body
	inside curl -s -m 10 -w '\n%{http_code}' -H 'Content-Type: application/json' \
		-d "{\"name\":\"$1\"}" http://127.0.0.1:8080/api/events/trigger > "$out/trigger"
	sed '$d' "$out/trigger" > "$out/body"
	tail -1 "$out/trigger"
}
journal() { inside journalctl -u event-system --no-pager -o cat; }
# The journal's cursor before a step, to look only at what the step logged.
mark() { inside journalctl -u event-system -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p'; }
journal_since_has() { # CURSOR PATTERN (the journal is read whole, then searched)
	local lines
	lines=$(inside journalctl -u event-system --no-pager -o cat --after-cursor="$1") && grep -q -- "$2" <<< "$lines"
}

# apt starts the service (deb-systemd-invoke): Type=notify makes it wait
# until the daemon says READY=1, so it serves the moment apt returns.
inside sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/debs/*.deb' > "$out/apt.log" 2>&1 || { tail -20 "$out/apt.log"; fail "apt-get install"; }
is_active || fail "not active after apt-get install"
serves || fail "active after apt-get install, but /ready does not answer"
pass "apt-get install event-system event-system-dev: enabled, started, serving when apt returns"

# --man=no: the minimal system has no man(1); the page itself is checked.
inside test -e /usr/share/man/man8/event-system.8.gz || fail "the unit's Documentation= page is not installed"
inside systemd-analyze verify --man=no event-system.service > "$out/verify.log" 2>&1 || { cat "$out/verify.log"; fail "systemd-analyze verify"; }
[ ! -s "$out/verify.log" ] || { cat "$out/verify.log"; fail "systemd-analyze verify is not clean"; }
pass "systemd-analyze verify event-system.service: clean"
inside systemd-analyze security --no-pager event-system > "$out/security.txt" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for event-system.service: \(.*\)/\1/p' "$out/security.txt")
[ -n "$score" ] || { cat "$out/security.txt"; fail "systemd-analyze security gave no score"; }
echo "$score" | grep -q ' \(OK\|SAFE\|PERFECT\)' || fail "systemd-analyze security: $score (aim: OK or better)"
pass "systemd-analyze security event-system: $score (report: security.txt)"

# stop: SIGTERM, the daemon drains and exits 0
t=$SECONDS
inside systemctl stop event-system || fail "systemctl stop"
[ "$(inside systemctl show -P Result event-system)" = success ] || fail "stop: Result=$(inside systemctl show -P Result event-system)"
[ "$(inside systemctl show -P ExecMainStatus event-system)" = 0 ] || fail "stop: exit status $(inside systemctl show -P ExecMainStatus event-system)"
pass "systemctl stop: exit status 0, Result=success, in $((SECONDS - t)) s"

# start: the same promise as apt's
inside systemctl start event-system || fail "systemctl start"
is_active || fail "not active after systemctl start"
serves || fail "systemctl start returned before the daemon served /ready"
inside curl -sf -m 5 http://127.0.0.1:8080/health > "$out/health" || fail "/health"
[ "$(trigger example.systemd)" = 202 ] || fail "trigger: $(cat "$out/body")"
wait_for 10 inside grep -q example.systemd /var/log/event-system/events.log || fail "the log plugin wrote nothing to LogsDirectory"
[ "$(inside ps -o user= -p "$(main_pid)")" = event-system ] || fail "the daemon does not run as event-system"
pass "systemctl start returns once /ready answers; /health, a trigger (202) reaches the log plugin; runs as event-system"

# A plugin author with the -dev package alone, inside; reload picks it up.
inside sh -c 'cd /root/author && cc -O2 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags event-system-sdk) \
	-Wl,-z,defs -o hello.so hello.c && install -m 0644 hello.so "$(pkg-config --variable=pluginsdir event-system-sdk)/"' \
	> "$out/author.log" 2>&1 || { cat "$out/author.log"; fail "building a plugin against event-system-dev"; }
pid=$(main_pid)
c=$(mark)
inside systemctl reload event-system || fail "systemctl reload"
wait_for 10 journal_since_has "$c" "reload by signal SIGHUP: ok.*plugins added: hello" || fail "reload did not add hello"
[ "$(main_pid)" = "$pid" ] && is_active || fail "reload changed the main process or left the unit inactive"
[ "$(trigger example.after)" = 202 ] && grep -q '"hello"' "$out/body" || fail "hello did not match: $(cat "$out/body")"
wait_for 10 journal_since_has "$c" '\[hello\] received example.after' || fail "hello did not receive the event"
pass "a plugin built inside with event-system-dev, dropped in, systemctl reload: the next event reaches it"

# A broken config: the reload fails, the unit stays active and says why.
inside cp /etc/event-system/config.yaml /root/config.yaml.good
inside sh -c 'printf "surprise_key: 1\n" >> /etc/event-system/config.yaml'
c=$(mark)
inside systemctl reload event-system || fail "systemctl reload (broken config)"
wait_for 10 journal_since_has "$c" "reload by signal SIGHUP: failed.*surprise_key" || fail "the journal does not say why the reload failed"
[ "$(main_pid)" = "$pid" ] && is_active && serves || fail "a failed reload took the service down"
inside systemctl status --no-pager event-system > "$out/status-after-failed-reload.txt" 2>&1 || true
grep -q 'last reload failed' "$out/status-after-failed-reload.txt" || fail "systemctl status does not show the failed reload"
inside cp /root/config.yaml.good /etc/event-system/config.yaml
c=$(mark)
inside systemctl reload event-system
wait_for 10 journal_since_has "$c" "reload by signal SIGHUP: ok" || fail "reload after the fix"
pass "broken config + systemctl reload: still active on the old config; the journal and status say why"

# The watchdog, with shorter timings in a drop-in (the shipped 30 s would
# make this step take a minute; the mechanism is the same).
inside mkdir -p /etc/systemd/system/event-system.service.d
inside sh -c 'printf "[Service]\nWatchdogSec=3s\nRestartSec=1s\nTimeoutAbortSec=5s\n" > /etc/systemd/system/event-system.service.d/test-timing.conf'
inside systemctl daemon-reload
inside systemctl restart event-system || fail "systemctl restart"
serves || fail "not serving after restart"
pid=$(main_pid)
restarts=$(inside systemctl show -P NRestarts event-system)
c=$(mark)
inside kill -STOP "$pid"
back() { p=$(main_pid) && [ "$p" != 0 ] && [ "$p" != "$pid" ] && is_active && serves; }
wait_for 30 back || fail "a daemon that stopped answering was not restarted"
journal_since_has "$c" "Watchdog timeout" || fail "the journal does not name the watchdog"
[ "$(inside systemctl show -P NRestarts event-system)" -gt "$restarts" ] || fail "NRestarts did not grow"
pass "a daemon that stops answering (SIGSTOP) is killed by the watchdog and restarted (pid $pid -> $(main_pid))"

pid=$(main_pid)
c=$(mark)
inside kill -9 "$pid"
wait_for 20 back || fail "kill -9: Restart=on-failure did not bring it back"
journal_since_has "$c" "status=9/KILL" || fail "the journal does not show the kill"
[ "$(trigger example.after.restart)" = 202 ] || fail "trigger after the restart: $(cat "$out/body")"
pass "kill -9 of the main process: Restart=on-failure brings it back serving (pid $pid -> $(main_pid))"

c=$(mark)
inside systemctl stop event-system || fail "systemctl stop"
[ "$(inside systemctl show -P ExecMainStatus event-system)" = 0 ] && [ "$(inside systemctl show -P Result event-system)" = success ] ||
	fail "stop after restarts: status $(inside systemctl show -P ExecMainStatus event-system)"
journal_since_has "$c" "stopping; draining queues" || fail "the journal does not show the daemon draining"
pass "systemctl stop: exit status 0 again"

journal > "$out/journal.txt"
for line in 'ready: listening on' 'Started event-system.service' 'Reloading event-system.service' \
	'reload by signal SIGHUP: ok' 'reload by signal SIGHUP: failed' 'Watchdog timeout' 'status=9/KILL' \
	'Scheduled restart job' 'Stopping event-system.service' 'Deactivated successfully'; do
	grep -q -- "$line" "$out/journal.txt" || fail "journalctl -u event-system lacks '$line'"
done
pass "journalctl -u event-system shows each step (journal.txt)"
