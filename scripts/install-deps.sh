#!/bin/sh
# Installs what building, running and testing event-system needs on
# Debian 12 (or a derivative), using apt.  Safe to run again.
#   scripts/install-deps.sh          build and run
#   scripts/install-deps.sh --test   also what the test suite uses
set -eu
pkgs="build-essential autoconf automake libtool libltdl-dev pkg-config
	libevent-dev libyaml-dev libcjson-dev libmariadb-dev libnats-dev libcurl4-openssl-dev libssl-dev libsystemd-dev curl"
test_pkgs="libcmocka-dev jq openssl valgrind cppcheck clang-tidy clang libclang-rt-14-dev abigail-tools prometheus debhelper lintian fakeroot rpm rpmlint mariadb-server-core mariadb-client-core nats-server
	debootstrap systemd-container podman runc"
[ "${1:-}" = "--test" ] && pkgs="$pkgs $test_pkgs"

missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -n "$missing" ] || exit 0
echo "installing:$missing"
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
