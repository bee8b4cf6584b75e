#!/bin/sh
# Regenerates the build system from configure.ac and the Makefile.am files.
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf --install --force --warnings=all
# automake does not copy the TAP driver by itself; the cmocka tests use it
cp "$(automake --print-libdir)/tap-driver.sh" build-aux/
