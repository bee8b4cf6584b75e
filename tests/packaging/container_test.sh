#!/bin/bash
# The container image as an operator meets it: the project's Dockerfile
# built with podman on a Debian 12 base made here with debootstrap (no
# registry needed; cached, like podman's layers), then run with a config
# and a plugin directory mounted the way docs/install.md says:
#   - /health and a trigger answered through the published port;
#   - the HEALTHCHECK reaches healthy;
#   - the daemon (PID 1) does not run as root;
#   - a plugin copied into the mounted directory + SIGHUP (`podman kill
#     --signal HUP`): the next event reaches it;
#   - `podman stop` ends it with exit status 0 well inside the timeout;
#   - the `-v ./config.yaml:...` form (a relative path) works too.
# Needs root; installs podman, runc and debootstrap with apt if missing.
#   tests/packaging/container_test.sh OUTDIR
# The base's root file system is cached in $EVENT_SYSTEM_TEST_CACHE
# (default /var/cache/event-system-test); images stay in podman's storage.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: $0 OUTDIR}
cache=${EVENT_SYSTEM_TEST_CACHE:-/var/cache/event-system-test}
[ "$(id -u)" = 0 ] || { echo "needs root: skipped"; exit 77; }
image=localhost/event-system:test
name=es-test-$$
fail() {
	echo "FAIL (container): $*" >&2
	podman logs --tail 30 "$name" >&2 2>/dev/null || true
	exit 1
}
pass() { echo "ok: $*"; }
wait_for() { # SECONDS COMMAND...
	local secs=$1
	shift
	for _ in $(seq 1 $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}
cleanup() {
	podman rm --ignore -f -t 0 "$name" >/dev/null 2>&1 || true
	podman rm --ignore -f -t 0 "$name-rel" >/dev/null 2>&1 || true
}
trap cleanup EXIT

missing=
for tool in podman runc debootstrap; do command -v $tool >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		fail "could not install$missing"
fi
rm -rf "$out"
mkdir -p "$out/run/plugins"
# podman 4.3 on a machine without systemd and with a hybrid cgroup setup:
# runc (crun fails there), open-file limits the machine grants, logs and
# events in files (no journal).
cat > "$out/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"
[engine]
runtime = "runc"
events_logger = "file"
EOF
export CONTAINERS_CONF=$out/containers.conf

t=$SECONDS
rootfs=$("$top/tests/packaging/debian_rootfs.sh" "$cache") || fail "debootstrap"
base=localhost/event-system-test-base:$(basename "$rootfs")
if ! podman image exists "$base"; then
	tar -C "$rootfs" --exclude=./.complete -c . | podman import - "$base" > "$out/import.log" 2>&1 ||
		{ cat "$out/import.log"; fail "podman import"; }
fi
pass "base image $base from debootstrap ($((SECONDS - t)) s)"

# The committed tree (what a release tarball or a clone holds), built with
# the Dockerfile as it is; --format docker keeps its HEALTHCHECK.
t=$SECONDS
mkdir -p "$out/src"
(cd "$top" && git ls-files -z | xargs -0 tar cf -) | tar xf - -C "$out/src"
podman build --format docker --build-arg BASE="$base" -t "$image" "$out/src" > "$out/build.log" 2>&1 ||
	{ tail -30 "$out/build.log"; fail "podman build"; }
pass "podman build --build-arg BASE=$base: $image ($((SECONDS - t)) s)"

# The operator's config: reachable from outside, plugins from the mounted
# directory, which starts with the bundled plugins copied out of the image.
sed -e 's/^  host: 127.0.0.1/  host: 0.0.0.0/' \
	-e 's/^  port: 8080/  port: 8080\n  allow_unauthenticated: true/' \
	-e 's|^  # directory: /usr/lib/event-system/plugins|  directory: /plugins|' \
	"$top/configs/config.yaml" > "$out/run/config.yaml"
grep -q '^  directory: /plugins' "$out/run/config.yaml" && grep -q 'allow_unauthenticated: true' "$out/run/config.yaml" ||
	fail "could not write the operator's config"
podman create --name "$name" "$image" > /dev/null
podman cp "$name:/usr/lib/event-system/plugins/." "$out/run/plugins/" || fail "podman cp of the bundled plugins"
podman rm "$name" > /dev/null 2>> "$out/podman.log"
[ -e "$out/run/plugins/log.so" ] || fail "no log.so in the image"

cd "$out/run"
# podman schedules the HEALTHCHECK with systemd timers; without systemd on
# the machine it says so on stderr (kept in podman.log) and the test runs
# the check itself with `podman healthcheck run`.
podman run -d --name "$name" -p 127.0.0.1::8080 \
	-v "$PWD/config.yaml:/etc/event-system/config.yaml:ro" \
	-v "$PWD/plugins:/plugins:ro" "$image" > /dev/null 2>> "$out/podman.log" || { cat "$out/podman.log"; fail "podman run"; }
port=$(podman port "$name" 8080 | sed -n '1s/.*://p')
[ -n "$port" ] || fail "no published port"
url=http://127.0.0.1:$port
wait_for 20 curl -sf -m 2 "$url/ready" || fail "the container did not become ready on $url"
curl -sf -m 5 "$url/health" > "$out/health" || fail "/health"
trigger() { # NAME: POST one event; prints the status, keeps the body in $out/body
	curl -s -m 10 -o "$out/body" -w '%{http_code}' -H 'Content-Type: application/json' -d "{\"name\":\"$1\"}" "$url/api/events/trigger"
}
[ "$(trigger example.container)" = 202 ] || fail "trigger: $(cat "$out/body")"
grep -q '"log"' "$out/body" || fail "the log plugin (from the mounted directory) did not match: $(cat "$out/body")"
wait_for 10 podman exec "$name" grep -q example.container /var/log/event-system/events.log || fail "the log plugin wrote nothing"
pass "podman run with the config and plugins mounted: /health and a trigger (202) answered on $url"

healthy() { podman healthcheck run "$name" && [ "$(podman inspect -f '{{.State.Health.Status}}' "$name")" = healthy ]; }
wait_for 30 healthy || fail "HEALTHCHECK: $(podman inspect -f '{{.State.Health.Status}}' "$name")"
pass "HEALTHCHECK (curl /health): healthy"

user=$(podman top "$name" user pid args | awk '$2 == 1 {print $1}')
[ -n "$user" ] || fail "no PID 1 in podman top"
[ "$user" = event-system ] || fail "the daemon runs as '$user' inside the container, not event-system"
uid=$(podman exec "$name" awk '/^Uid:/ {print $2}' /proc/1/status)
[ "$uid" != 0 ] || fail "the daemon runs as root (uid 0)"
pass "PID 1 runs as event-system (uid $uid), not root"

# A plugin written against the SDK headers, built outside, dropped into the
# mounted directory; SIGHUP reloads.
sed 's/\.name = "example"/.name = "hello"/' "$top/plugins/example/example.c" > "$out/hello.c"
cc -O2 -shared -fPIC -fvisibility=hidden -I"$top/sdk/include" -Wl,-z,defs -o "$out/run/plugins/hello.so" "$out/hello.c" ||
	fail "building hello.so"
podman kill --signal HUP "$name" > /dev/null || fail "podman kill --signal HUP"
# logs_have CONTAINER PATTERN: its output so far matches (read whole, then grep)
logs_have() { podman logs "$1" > "$out/logs" 2>&1 && grep -q -- "$2" "$out/logs"; }
wait_for 10 logs_have "$name" 'reload by signal SIGHUP: ok.*plugins added: hello' || fail "SIGHUP did not add hello"
[ "$(trigger example.after)" = 202 ] && grep -q '"hello"' "$out/body" || fail "hello did not match: $(cat "$out/body")"
wait_for 10 logs_have "$name" '\[hello\] received example.after' || fail "hello did not receive the event"
pass "a plugin copied into the mounted directory + podman kill --signal HUP: the next event reaches it"

t0=$(date +%s%N)
podman stop -t 30 "$name" > /dev/null 2>> "$out/podman.log" || fail "podman stop"
ms=$((($(date +%s%N) - t0) / 1000000))
code=$(podman inspect -f '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || fail "podman stop: exit status $code"
[ "$ms" -lt 10000 ] || fail "podman stop took $ms ms of its 30 s"
logs_have "$name" 'Terminated received: stopping' || fail "the daemon did not log the SIGTERM"
pass "podman stop: SIGTERM handled as PID 1, exit status 0 in $ms ms (timeout 30 s)"

# The short form with a relative path, as in `docker run -v ./config.yaml:...`.
podman run -d --name "$name-rel" -p 127.0.0.1::8080 -v ./config.yaml:/etc/event-system/config.yaml:ro \
	-v ./plugins:/plugins:ro "$image" > /dev/null 2>> "$out/podman.log" || fail "podman run -v ./config.yaml:..."
port=$(podman port "$name-rel" 8080 | sed -n '1s/.*://p')
wait_for 20 curl -sf -m 2 "http://127.0.0.1:$port/health" || fail "-v ./config.yaml: not serving"
logs_have "$name-rel" 'plugins from /plugins' || fail "-v ./config.yaml: the mounted config was not used"
podman stop -t 30 "$name-rel" > /dev/null 2>> "$out/podman.log"
pass "podman run -v ./config.yaml:/etc/event-system/config.yaml:ro (relative paths) works too"
