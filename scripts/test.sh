#!/bin/bash
# The whole test suite, as CI runs it: installs what is missing, then
#  1. a normal build with warnings as errors: unit + runtime tests, valgrind
#  2. an ASan + UBSan build: the same tests
#  3. make abi-check, static analysis (cppcheck, clang-tidy)
#  4. the fuzz targets for a bounded time (FUZZ_SECONDS each, default 20)
#  5. (as root) the Debian packages: build, install, run, remove, purge
#  6. the RPM packages (rpmbuild, rpmlint)
#  7. make distcheck (VPATH build from the tarball, install, uninstall)
# Ends with one line "N passed, N failed".
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" --test
cd "$top"
./autogen.sh >/dev/null 2>&1
jobs=$(nproc)
out=${TEST_BUILD_DIR:-$top/build-test}
rm -rf "$out"
mkdir -p "$out"
passed=0
failed=0

# count_results LOGDIR: add a build's automake test results to the totals
count_results() {
	local summary="$1/test-suite.log" p f e
	p=$(sed -n 's/^# PASS: *//p' "$summary" | head -1)
	f=$(sed -n 's/^# FAIL: *//p' "$summary" | head -1)
	e=$(sed -n 's/^# ERROR: *//p' "$summary" | head -1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${e:-0}))
}

step() { echo; echo "== $*"; }

run_suite() { # NAME CONFIGURE-ARGS...
	local name=$1
	shift
	step "$name build and tests"
	mkdir -p "$out/$name"
	(cd "$out/$name" && "$top/configure" --quiet --enable-werror "$@" && make -s -j"$jobs" >/dev/null)
	local rc=0
	(cd "$out/$name" && make -s -j"$jobs" check) || rc=$?
	count_results "$out/$name"
	if [ $rc -ne 0 ]; then
		grep -h -A30 '^FAIL\|^ERROR' "$out/$name"/tests/*/*.log | head -150 || true
	fi
	return 0
}

run_suite default
run_suite sanitizers --enable-sanitizers

step "ABI check"
if make -s -C "$out/default" abi-check; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

step "static analysis"
if scripts/static-analysis.sh "$out/default" > "$out/static-analysis.log" 2>&1; then
	passed=$((passed + 1)); tail -1 "$out/static-analysis.log"
else
	failed=$((failed + 1)); grep -E "error|warning" "$out/static-analysis.log" | head -40
fi

step "fuzzing (bounded)"
if tests/fuzz/run.sh "${FUZZ_SECONDS:-20}" "$out/default" > "$out/fuzz.log" 2>&1; then
	passed=$((passed + 1)); tail -1 "$out/fuzz.log"
else
	failed=$((failed + 1)); tail -40 "$out/fuzz.log"
fi

step "Debian packages: build, install, run, out-of-tree plugin, remove, purge"
if [ "$(id -u)" = 0 ] && command -v dpkg-buildpackage >/dev/null; then
	if tests/packaging/deb_install.sh "$out/deb" > "$out/deb.log" 2>&1; then
		passed=$((passed + 1)); grep '^ok:' "$out/deb.log"
	else
		failed=$((failed + 1)); tail -40 "$out/deb.log"
	fi
else
	echo "skipped: needs root and dpkg-buildpackage (CI runs it)"
fi

step "RPM packages: build, file lists, scriptlets, dependencies, rpmlint"
if command -v rpmbuild >/dev/null; then
	if tests/packaging/rpm_build.sh "$out/default" > "$out/rpm.log" 2>&1; then
		passed=$((passed + 1)); grep '^ok:' "$out/rpm.log"
	else
		failed=$((failed + 1)); tail -40 "$out/rpm.log"
	fi
else
	echo "skipped: rpmbuild not installed"
fi

step "make distcheck"
if (cd "$out/default" && make -s distcheck > "$out/distcheck.log" 2>&1); then
	passed=$((passed + 1)); grep -A1 "archives ready" "$out/distcheck.log" | tail -1
else
	failed=$((failed + 1)); tail -40 "$out/distcheck.log"
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
