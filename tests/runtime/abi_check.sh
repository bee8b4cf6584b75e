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

# 1.1 against the 1.0 baseline (kept as it was released): the only changes
# are members appended to es_host_api and es_plugin_descriptor past their
# 1.0 ends; nothing removed, moved or resized in place, so a 1.0 plugin's
# view of either struct holds.
rc=0
abidiff --no-show-locs "$ES_TOP_SRCDIR/sdk/abi/event-system-sdk-1.0.abi.xml" "$ES_TOP_SRCDIR/sdk/abi/event-system-sdk.abi.xml" \
	> "$TMP/since-1.0.txt" || rc=$?
[ $((rc & 8)) = 0 ] || fail "abidiff calls 1.1 incompatible with 1.0: $(cat "$TMP/since-1.0.txt")"
! grep -Eq "deletion|deleted|removed [^0]|offset changed|Removed [^0]|[1-9][0-9]* Removed" "$TMP/since-1.0.txt" ||
	fail "something of 1.0 was removed or moved: $(cat "$TMP/since-1.0.txt")"
grep -q "type size changed from 1152 to" "$TMP/since-1.0.txt" || fail "es_host_api did not grow: $(cat "$TMP/since-1.0.txt")"
grep -q "type size changed from 640 to" "$TMP/since-1.0.txt" || fail "es_plugin_descriptor did not grow: $(cat "$TMP/since-1.0.txt")"
# each member inserted at or past its struct's 1.0 size (the "from" of the
# size change reported just before it)
inside=$(awk '/type size changed from/ { for (i = 1; i <= NF; i++) if ($i == "from") size = $(i + 1) }
	/at offset [0-9]+/ { match($0, /at offset [0-9]+/); o = substr($0, RSTART + 10, RLENGTH - 10) + 0
		n++; if (o < size) print o " < " size }
	END { if (n == 0) print "none appended" }' "$TMP/since-1.0.txt")
[ -z "$inside" ] || fail "a member inserted inside a 1.0 struct: $inside"
offsets=$(grep -o "at offset [0-9]*" "$TMP/since-1.0.txt" | awk '{print $3}')
pass "1.1 only appends to the 1.0 host table and descriptor ($(echo "$offsets" | wc -l) members past their 1.0 ends)"
