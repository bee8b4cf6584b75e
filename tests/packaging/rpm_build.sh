#!/bin/bash
# The RPM packages: `make rpm` (rpmbuild --nodeps on Debian), then the file
# lists, the scriptlets (user creation, systemd), the dependencies, and
# rpmlint with the accepted findings in rpm/rpmlint-filters.
#   tests/packaging/rpm_build.sh BUILDDIR
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:?usage: $0 BUILDDIR}" && pwd)
command -v rpmbuild >/dev/null || { echo "rpmbuild missing (Debian package rpm): skipped"; exit 77; }
fail() { echo "FAIL (rpm): $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

make -s -C "$build" rpm > "$build/rpm.log" 2>&1 || { tail -30 "$build/rpm.log"; fail "make rpm"; }
version=$("$build/host/event-system" --version | sed -n 's/^Event System v//p')
main=$(ls "$build"/rpmbuild/RPMS/*/event-system-"$version"-*.rpm)
devel=$(ls "$build"/rpmbuild/RPMS/*/event-system-devel-"$version"-*.rpm)
[ "$(rpm -qp --qf '%{VERSION}' "$main")" = "$version" ] || fail "the rpm version differs from --version ($version)"
pass "make rpm built $(basename "$main") and $(basename "$devel"), version $version as --version says"

files=$(rpm -qpl "$main")
for f in /usr/sbin/event-system /usr/lib/event-system/plugins/log.so /usr/lib/event-system/plugins/example.so \
	/etc/event-system/config.yaml /usr/lib/systemd/system/event-system.service /usr/lib/sysusers.d/event-system.conf \
	/etc/logrotate.d/event-system /usr/share/event-system/monitoring/alerts.yml \
	/usr/share/event-system/sql/schema.sql /usr/share/event-system/sql/init_data.sql \
	/usr/share/event-system/sql/migrations/0001_initial.sql; do
	echo "$files" | grep -qx "$f" || fail "$f missing from $(basename "$main")"
done
echo "$files" | grep -q '\.la$' && fail "libtool archives packaged"
# the output read whole first: with pipefail, `rpm ... | grep -q` fails
# when grep exits at its match while rpm is still writing (SIGPIPE)
configs=$(rpm -qp --configfiles "$main")
grep -qx /etc/event-system/config.yaml <<< "$configs" || fail "config.yaml is not %config"
flags=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$main")
grep -q '^cn /etc/event-system/config.yaml$' <<< "$flags" ||
	fail "config.yaml is not %config(noreplace)"
dfiles=$(rpm -qpl "$devel")
for f in /usr/include/event-system/plugin.h /usr/share/doc/event-system/plugin-guide.md \
	/usr/share/doc/event-system/examples/example.c /usr/share/doc/event-system/examples/Makefile.standalone; do
	echo "$dfiles" | grep -qx "$f" || fail "$f missing from $(basename "$devel")"
done
echo "$dfiles" | grep -q 'pkgconfig/event-system-sdk.pc$' || fail "no event-system-sdk.pc in -devel"
pass "file lists: daemon, plugins, %config(noreplace) config, unit, sysusers, logrotate; SDK in -devel"

scripts=$(rpm -qp --scripts "$main")
for s in preinstall postinstall preuninstall postuninstall; do
	echo "$scripts" | grep -q "^$s scriptlet" || fail "no $s scriptlet"
done
echo "$scripts" | grep -q 'useradd -r -g event-system' || fail "the service user is not created"
echo "$scripts" | grep -q 'systemctl try-restart event-system.service' || fail "no restart on upgrade"
echo "$scripts" | grep -q 'disable --now event-system.service' || fail "no stop on removal"
pass "scriptlets: user created, service preset on install, restarted on upgrade, stopped on removal"

deps=$(rpm -qpR "$main")
for d in logrotate 'libevent' 'libyaml' 'libcjson' 'libltdl'; do
	echo "$deps" | grep -q "$d" || fail "no dependency on $d"
done
pass "dependencies include logrotate and the libraries it links"

if command -v rpmlint >/dev/null; then
	chmod -R a+rX "$build/rpmbuild"
	report=$(su nobody -s /bin/sh -c "rpmlint '$main' '$devel'" 2>&1 || true)
	left=$(echo "$report" | grep -E ': [EW]: ' | grep -v -E -f <(grep -v '^#' "$top/rpm/rpmlint-filters") || true)
	[ -z "$left" ] || fail "rpmlint: $left"
	pass "rpmlint: nothing beyond the findings accepted in rpm/rpmlint-filters"
fi
