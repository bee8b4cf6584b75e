#!/bin/bash
# Static analysis of host/, sdk/ and plugins/ (section 11.3 of the
# requirements): cppcheck and clang-tidy.  Findings are errors; suppress one
# in place with a comment saying why (cppcheck-suppress / NOLINT).
# Usage: scripts/static-analysis.sh BUILDDIR   (a configured build, for config.h)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: $0 BUILDDIR}
cd "$top"
echo "== cppcheck"
cppcheck --quiet --enable=warning,performance,portability --std=c11 --inline-suppr --error-exitcode=1 \
	-I sdk/include -I host -D__GNUC__ host sdk plugins
echo "== clang-tidy"
# clang-tidy counts the warnings it suppressed in system headers on stderr;
# show only the findings.
report=$(mktemp)
trap 'rm -f "$report"' EXIT
rc=0
clang-tidy --quiet host/*.c host/*/*.c sdk/abi/*.c plugins/*/*.c -- -std=gnu11 -I"$build" -Isdk/include -Ihost \
	$(pkg-config --cflags libcjson yaml-0.1 libevent libmariadb libcurl 2>/dev/null) \
	-DPLUGINDIR='"/usr/lib/event-system/plugins"' -DSYSCONFDIR='"/etc"' > "$report" 2>&1 || rc=$?
grep -v 'warnings generated' "$report" || true
[ $rc -eq 0 ] || { echo "clang-tidy reported findings"; exit 1; }
echo "static analysis: no findings"
