#!/bin/sh
# Quick start: install what is missing, build, and run the daemon in the
# foreground on configs/config.yaml with the bundled plugins (no database).
# Ctrl+C stops it.  Events the `log` plugin writes go to build/run/events.log.
#   scripts/run.sh [extra daemon options]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh"
cd "$top"
[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p build
cd build
[ -f Makefile ] || ../configure --quiet
make -s -j"$(nproc)"
# The plugin directory must be writable by its owner only (the loader checks).
rm -rf run/plugins
mkdir -p run/plugins
chmod 755 run run/plugins
for so in plugins/*/.libs/*.so; do install -m 0644 "$so" run/plugins/; done
cd run
echo "event-system: http://127.0.0.1:8080  (try: curl -s localhost:8080/health)"
exec ../host/event-system -c "$top/configs/config.yaml" -P "$PWD/plugins" "$@"
