#!/bin/bash
# Builds the Debian packages from the committed tree (git ls-files) with
# dpkg-buildpackage, without the build-time test run (the suite runs the
# tests itself).  VERSION other than configure.ac's rewrites the changelog's
# first line, for an older release to upgrade from.
#   tests/packaging/build_debs.sh OUTDIR [VERSION]
# Leaves OUTDIR/event-system_VERSION_ARCH.deb, event-system-dev_..., the
# .changes file and OUTDIR/build.log.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: $0 OUTDIR [VERSION]}
current=$(sed -n '1s/^event-system (\([^)]*\)).*/\1/p' "$top/debian/changelog")
version=${2:-$current}
src=$out/event-system-$version
rm -rf "$src"
mkdir -p "$src"
(cd "$top" && git ls-files -z | xargs -0 tar cf -) | tar xf - -C "$src"
if [ "$version" != "$current" ]; then
	sed -i "1s/($current)/($version)/" "$src/debian/changelog"
fi
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b > "$out/build.log" 2>&1) ||
	{ tail -30 "$out/build.log" >&2; echo "dpkg-buildpackage ($version) failed" >&2; exit 1; }
