#!/bin/bash
# The whole test suite, as CI runs it: installs what is missing, then
#  1. a normal build with warnings as errors: unit + runtime tests, valgrind
#  2. an ASan + UBSan build: the same tests
#  2b. a ThreadSanitizer build (ASan and TSan exclude each other): the same
#     unit and runtime tests, with every TSan report failing its test
#  3. make abi-check, static analysis (cppcheck, clang-tidy)
#  4. the fuzz targets for a bounded time (FUZZ_SECONDS each, default 20)
#  5. (as root) the Debian packages: build, install, run, remove, purge
#  6. (as root) those packages under a real systemd (systemd-nspawn), and the
#     container image built and run with podman; both keep a Debian root
#     file system in /var/cache/event-system-test between runs
#  7. the RPM packages (rpmbuild, rpmlint)
#  8. make distcheck (VPATH build from the tarball, install, uninstall)
# Ends with one line "N passed, N failed".
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" --test
cd "$top"
./autogen.sh >/dev/null 2>&1
jobs=$(nproc)
# install-deps.sh put a MariaDB server here: the database tests must run
export ES_REQUIRE_DATABASE_TESTS=1
# and a nats-server: the scale-out (JetStream) tests must run
export ES_REQUIRE_NATS_TESTS=1
# and promtool (prometheus): the /metrics lint must run
export ES_REQUIRE_PROMTOOL=1
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
# All of them: under TSan the whole set takes about 1.5 minutes here
# (valgrind.sh skips itself: valgrind cannot run a TSan binary).
run_suite tsan --enable-tsan

# check NAME LOG COMMAND...: one pass or failure; on success show the log's
# "ok:" lines (or its last line), on failure its tail
check() {
	local name=$1 log=$2
	shift 2
	step "$name"
	if "$@" > "$log" 2>&1; then
		passed=$((passed + 1))
		grep '^ok:' "$log" || tail -1 "$log"
	else
		failed=$((failed + 1))
		tail -40 "$log"
	fi
}

check "ABI check" "$out/abi.log" make -s -C "$out/default" abi-check
check "static analysis" "$out/static-analysis.log" scripts/static-analysis.sh "$out/default"
check "fuzzing (bounded)" "$out/fuzz.log" tests/fuzz/run.sh "${FUZZ_SECONDS:-20}" "$out/default"
if [ "$(id -u)" = 0 ] && command -v dpkg-buildpackage >/dev/null; then
	check "Debian packages: build, install, run, out-of-tree plugin, remove, purge" "$out/deb.log" \
		tests/packaging/deb_install.sh "$out/deb"
	check "systemd: the packages under systemd as PID 1: start, reload, plugin, broken config, watchdog, kill -9, stop, journal, security" \
		"$out/systemd.log" tests/packaging/systemd_test.sh "$out/systemd" "$out/deb/src"
else
	step "Debian packages and systemd: skipped (needs root and dpkg-buildpackage; CI runs it)"
fi
if [ "$(id -u)" = 0 ]; then
	check "container: podman build, run with mounted config and plugins, healthcheck, not root, SIGHUP, stop" \
		"$out/container.log" tests/packaging/container_test.sh "$out/container"
else
	step "container: skipped (needs root; CI runs it)"
fi
if command -v rpmbuild >/dev/null; then
	check "RPM packages: build, file lists, scriptlets, dependencies, rpmlint" "$out/rpm.log" \
		tests/packaging/rpm_build.sh "$out/default"
else
	step "RPM packages: skipped (rpmbuild not installed)"
fi
check "make distcheck" "$out/distcheck.log" make -s -C "$out/default" distcheck

# The failing tests' own words again, last, where a reader of the tail of
# this output finds them: each build's failed test logs, shortened (also
# distcheck's, whose build from the tarball stays when it fails).
for trs in $(grep -l -E '^:test-result: (FAIL|ERROR)' "$out"/*/tests/*/*.trs \
	"$out"/default/event-system-*/_build/sub/tests/*/*.trs 2>/dev/null); do
	step "failed: ${trs#"$out"/} (its reason, then the last lines of its log)"
	grep -m5 '^FAIL (' "${trs%.trs}.log" || true
	grep -v '^ok\|^PASS\|^FAIL (' "${trs%.trs}.log" | tail -20
done

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
