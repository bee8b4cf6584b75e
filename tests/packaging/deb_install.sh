#!/bin/bash
# The Debian packages as an operator meets them: build them with
# dpkg-buildpackage, install them with apt, check the user, files and unit,
# start the daemon the way the unit does (as the event-system user, the
# installed config), trigger with curl, build a plugin out of tree with the
# -dev package alone, drop it in and reload, then remove and purge.
# Needs root and a Debian-like system; changes this machine's packages.
#   tests/packaging/deb_install.sh OUTDIR
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: $0 OUTDIR}
[ "$(id -u)" = 0 ] || { echo "needs root: skipped"; exit 77; }
command -v dpkg-buildpackage >/dev/null || { echo "dpkg-buildpackage missing: skipped"; exit 77; }
pid=
fail() { echo "FAIL (deb): $*" >&2; [ -f "$out/daemon.log" ] && tail -20 "$out/daemon.log" >&2; exit 1; }
pass() { echo "ok: $*"; }
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	pkill -u event-system -f '^/usr/sbin/event-system' 2>/dev/null || true # a daemon this test started
}
trap cleanup EXIT
wait_for() { # SECONDS COMMAND...
	local secs=$1
	shift
	for _ in $(seq 1 $((secs * 20))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
	return 1
}

rm -rf "$out" /usr/lib/event-system/plugins/hello.so
# One version: configure.ac's, which debian/changelog must repeat.
version=$(sed -n 's/^AC_INIT(\[event-system\], \[\([^]]*\)\].*/\1/p' "$top/configure.ac")
changelog=$(sed -n '1s/^event-system (\([^)]*\)).*/\1/p' "$top/debian/changelog")
[ -n "$version" ] && [ "$version" = "$changelog" ] ||
	fail "configure.ac says '$version' but debian/changelog says '$changelog'"
pass "configure.ac and debian/changelog agree on version $version"
"$top/tests/packaging/build_debs.sh" "$out/old" 0.9.0 || fail "dpkg-buildpackage (0.9.0) failed" # to upgrade from
"$top/tests/packaging/build_debs.sh" "$out/src" || fail "dpkg-buildpackage (1.0.0) failed"
debs=("$out"/src/event-system_1.0.0_*.deb "$out"/src/event-system-dev_1.0.0_*.deb)
pass "dpkg-buildpackage -us -uc -b built $(ls "$out"/src/*.deb | wc -l) packages"
if command -v lintian >/dev/null; then
	chmod -R a+rX "$out"
	su nobody -s /bin/sh -c "lintian --fail-on error,warning '$out'/src/event-system_1.0.0_*.changes" > "$out/lintian.txt" 2>&1 ||
		{ cat "$out/lintian.txt"; fail "lintian"; }
	pass "lintian: no errors or warnings"
fi

# Upgrade: the older release first, an operator's edit, then this one.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$out"/old/event-system_0.9.0_*.deb > "$out/install-old.log" 2>&1 ||
	{ tail -20 "$out/install-old.log"; fail "installing 0.9.0"; }
sed -i 's/^  level: info/  level: warn  # edited by the operator/' /etc/event-system/config.yaml
grep -q 'edited by the operator' /etc/event-system/config.yaml || fail "could not edit the config"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" > "$out/install.log" 2>&1 ||
	{ tail -20 "$out/install.log"; fail "apt-get install (upgrade to 1.0.0)"; }
[ "$(dpkg-query -W -f='${Version}' event-system)" = 1.0.0 ] || fail "not upgraded"
grep -q 'edited by the operator' /etc/event-system/config.yaml || fail "the upgrade lost the operator's config edit"
getent passwd event-system >/dev/null || fail "the upgrade lost the service user"
pass "upgrade 0.9.0 -> 1.0.0 keeps the edited config and the service user"
sed -i 's/  level: warn  # edited by the operator/  level: info/' /etc/event-system/config.yaml
getent passwd event-system >/dev/null || fail "no event-system user"
[ "$(stat -c %U:%a /usr/lib/event-system/plugins)" = root:755 ] || fail "plugin dir: $(stat -c %U:%a /usr/lib/event-system/plugins)"
for f in /usr/sbin/event-system /etc/event-system/config.yaml /lib/systemd/system/event-system.service \
	/etc/logrotate.d/event-system \
	/usr/lib/event-system/plugins/log.so /usr/include/event-system/plugin.h /usr/share/man/man8/event-system.8.gz \
	/usr/share/event-system/sql/schema.sql /usr/share/event-system/sql/init_data.sql \
	/usr/share/event-system/sql/migrations/0001_initial.sql; do
	[ -e "$f" ] || fail "$f not installed"
done
grep -q '^User=event-system' /lib/systemd/system/event-system.service || fail "the unit does not use the service user"
version=$(/usr/sbin/event-system --version) # whole: a pipe into head could end it early (pipefail)
[ "${version%%$'\n'*}" = 'Event System v1.0.0' ] || fail "--version"
pass "installed: the user, the daemon, plugins, config, unit, SDK and manual pages"

# Start it as the unit does: the service user, the installed config, LogsDirectory.
install -d -o event-system -g event-system /var/log/event-system /var/lib/event-system
(cd /var/lib/event-system && runuser -u event-system -- env EVENT_SYSTEM_CONFIG=/etc/event-system/config.yaml \
	EVENT_SYSTEM_ENV=prod LOGS_DIRECTORY=/var/log/event-system /usr/sbin/event-system > "$out/daemon.log" 2>&1) &
pid=$!
wait_for 10 curl -sf http://127.0.0.1:8080/ready || fail "the installed daemon did not become ready"
pid=$(pgrep -f '^/usr/sbin/event-system' | head -1) # the daemon itself, not the subshell
[ "$(ps -o user= -p "$pid")" = event-system ] || fail "not running as event-system"
st=$(curl -s -o "$out/body" -w '%{http_code}' -H 'Content-Type: application/json' \
	-d '{"name":"example.installed"}' http://127.0.0.1:8080/api/events/trigger)
[ "$st" = 202 ] || fail "trigger: $st $(cat "$out/body")"
wait_for 5 grep -q example.installed /var/log/event-system/events.log || fail "the log plugin wrote nothing"
pass "runs as event-system with the installed config; curl gets 202; the log plugin writes to LogsDirectory"

# A plugin author with only the -dev package.
mkdir -p "$out/author"
sed 's/\.name = "example"/.name = "hello"/' "$top/plugins/example/example.c" > "$out/author/hello.c"
cc -O2 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags event-system-sdk) -Wl,-z,defs \
	-o "$out/author/hello.so" "$out/author/hello.c" || fail "building against the installed SDK"
install -m 0644 "$out/author/hello.so" "$(pkg-config --variable=pluginsdir event-system-sdk)/hello.so"
kill -HUP "$pid"
wait_for 10 grep -q "reload by signal SIGHUP: ok.*plugins added: hello" "$out/daemon.log" || fail "reload with hello"
st=$(curl -s -o "$out/body" -w '%{http_code}' -H 'Content-Type: application/json' \
	-d '{"name":"example.after"}' http://127.0.0.1:8080/api/events/trigger)
grep -q '"hello"' "$out/body" || fail "hello did not match: $(cat "$out/body")"
wait_for 5 grep -q '\[hello\] received example.after' "$out/daemon.log" || fail "hello did not receive the event"
pass "a plugin built with the -dev package alone, dropped in, receives the next event after SIGHUP"
kill "$pid"
wait_for 15 sh -c "! kill -0 $pid" || fail "the daemon did not stop"
pid=
rm -f /usr/lib/event-system/plugins/hello.so

DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq event-system event-system-dev > "$out/remove.log" 2>&1 || fail "remove"
[ ! -e /usr/sbin/event-system ] && [ ! -e /usr/include/event-system/plugin.h ] || fail "files left after remove"
[ -e /etc/event-system/config.yaml ] || fail "remove deleted the config (a conffile)"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq event-system > "$out/purge.log" 2>&1 || fail "purge"
[ ! -e /etc/event-system/config.yaml ] || fail "purge left the config"
[ ! -e /var/lib/event-system ] && [ ! -e /var/log/event-system ] || fail "purge left state or logs"
pass "remove keeps only the config; purge removes it and the state and logs"
