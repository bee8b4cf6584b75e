#!/bin/bash
# Prints the path of a Debian 12 (bookworm) root file system made by
# debootstrap (minbase plus the packages given), built once and then kept:
# the packaging tests boot it with systemd-nspawn or import it as the
# container base image, and a warm cache spares them the minute debootstrap
# takes.  The cache is keyed by the package list, so a changed list builds
# a new one; a half-built tree is never used (built beside, then renamed).
#   tests/packaging/debian_rootfs.sh CACHEDIR [PACKAGE...]
# Needs root and debootstrap.  The mirror: $DEBIAN_MIRROR (default
# http://deb.debian.org/debian).
set -euo pipefail
cache=${1:?usage: $0 CACHEDIR [PACKAGE...]}
shift
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
pkgs=$(printf '%s\n' "$@" | sort -u | paste -sd, -)
key=bookworm-$(printf '%s %s' "$mirror" "$pkgs" | sha256sum | cut -c1-16)
root=$cache/$key
mkdir -p "$cache"
exec 9> "$cache/$key.lock" # one builder at a time per key
flock -w 900 9 || { echo "timed out waiting for $cache/$key.lock" >&2; exit 1; }
if [ ! -e "$root/.complete" ]; then
	rm -rf "$root" "$root.new"
	echo "building $root with debootstrap (${pkgs:-minbase})" >&2
	debootstrap --variant=minbase ${pkgs:+--include="$pkgs"} bookworm "$root.new" "$mirror" \
		> "$cache/$key.log" 2>&1 || { tail -20 "$cache/$key.log" >&2; exit 1; }
	rm -rf "$root.new"/var/cache/apt/archives/*.deb
	touch "$root.new/.complete"
	mv "$root.new" "$root"
fi
echo "$root"
