#!/bin/bash
# `make abi-check` passes on the committed baseline and fails when a public
# struct changes incompatibly (here: a field inserted in the descriptor).
set -eu
. "$(dirname "$0")/lib.sh"
: "${ES_TOP_BUILDDIR:?}" "${ES_TOP_SRCDIR:?}"
command -v abidiff >/dev/null || { echo "abidiff not installed (abigail-tools): skipped"; exit 77; }

${MAKE:-make} -s -C "$ES_TOP_BUILDDIR" abi-check > "$TMP/ok.txt" 2>&1 || { cat "$TMP/ok.txt"; fail "abi-check fails on the unchanged SDK"; }
pass "make abi-check passes on the unchanged SDK"

# The same check on a copy of the header with a field inserted mid-struct.
mkdir -p "$TMP/sdk/event-system"
sed 's/^\tconst char \*version;  /\tint inserted_field;\n&/' "$ES_TOP_SRCDIR/sdk/include/event-system/plugin.h" \
	> "$TMP/sdk/event-system/plugin.h"
grep -q inserted_field "$TMP/sdk/event-system/plugin.h" || fail "could not modify the header copy"
cc -g -O0 -fPIC -shared -I"$TMP/sdk" -o "$TMP/ref.so" "$ES_TOP_SRCDIR/sdk/abi/abi_reference.c"
abidw --headers-dir "$TMP/sdk/event-system" --no-corpus-path --no-comp-dir-path --out-file "$TMP/changed.xml" "$TMP/ref.so"
rc=0
abidiff --no-show-locs "$ES_TOP_SRCDIR/sdk/abi/event-system-sdk.abi.xml" "$TMP/changed.xml" > "$TMP/diff.txt" || rc=$?
[ $rc -ne 0 ] || fail "abidiff did not notice a field inserted into es_plugin_descriptor"
grep -q "inserted_field" "$TMP/diff.txt" || fail "the report does not name the change: $(cat "$TMP/diff.txt")"
pass "a field inserted into es_plugin_descriptor makes the check fail (abidiff status $rc)"
