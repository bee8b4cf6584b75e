#!/bin/sh
# docs/configuration.md and event-system.yaml(5) list exactly the keys of
# the config's table (scripts/check-config-docs.sh), and the check fails on
# a key a document leaves out and on one the table does not have.
set -eu
: "${ES_TOP_SRCDIR:?run through make check}"
: "${ES_TOP_BUILDDIR:?run through make check}"
check="$ES_TOP_SRCDIR/scripts/check-config-docs.sh"
md="$ES_TOP_SRCDIR/docs/configuration.md"
man="$ES_TOP_SRCDIR/man/event-system.yaml.5"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/es-config-keys-XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

"$ES_TOP_BUILDDIR/tests/helpers/config_keys" >"$TMP/keys" || fail "the key dump failed"
grep -q '^server\.port	integer 1-65535	8080	restart	' "$TMP/keys" || fail "the dump lacks server.port: $(head -3 "$TMP/keys")"
out=$(sh "$check" "$TMP/keys" "$md" "$man" 2>&1) || fail "the docs do not list the config's keys: $out"
echo "ok: docs/configuration.md and event-system.yaml(5) list exactly the table's keys"

# A key the reference leaves out is named.
grep -v '^| `event.sync_timeout_ms`' "$md" >"$TMP/configuration.md"
out=$(sh "$check" "$TMP/keys" "$TMP/configuration.md" "$man" 2>&1) && fail "a missing key passed: $out"
echo "$out" | grep -q "missing: .*configuration.md does not list the key event.sync_timeout_ms" ||
	fail "the missing key is not named: $out"
echo "ok: a key missing from configuration.md fails the check"

# A key the table does not have is named (the man page under .SS server).
sed 's/^\.B max_waiters$/.B max_waiterz/' "$man" >"$TMP/event-system.yaml.5"
cmp -s "$man" "$TMP/event-system.yaml.5" && fail "the man page has no .B max_waiters item to alter"
out=$(sh "$check" "$TMP/keys" "$md" "$TMP/event-system.yaml.5" 2>&1) && fail "an unknown key passed: $out"
echo "$out" | grep -q "unknown: .*event-system.yaml.5 lists server.max_waiterz" || fail "the unknown key is not named: $out"
echo "$out" | grep -q "missing: .*event-system.yaml.5 does not list the key server.max_waiters" ||
	fail "the key it replaced is not named: $out"
echo "ok: a key the table lacks fails the check"
