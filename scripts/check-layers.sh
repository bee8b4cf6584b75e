#!/bin/sh
# The layer rule of host/ (host/LAYERS): a file may include and call only its
# own folder and the folders listed above it.  Two checks:
#   1. every #include "..." in host/<layer>/ names its own folder, a lower
#      layer ("db/database.h"), the build's config.h, or something outside
#      host/ (the SDK's headers);
#   2. with a build directory: every symbol a layer's library leaves
#      undefined (nm) and another layer defines is defined by a lower one.
#   3. inside each folder, the files' graph (a file's includes of its own
#      folder, and with a build directory the calls between its objects)
#      has no cycle: a folder is layered within, too (tsort).
# The first catches a header reached by accident, the second a call made
# through a hand-written prototype, the third two files that need each
# other.  Exit status 1 names each back edge and each cycle.
#
# Usage: check-layers.sh SRCDIR [BUILDDIR]
#   SRCDIR/host/LAYERS lists the layers, lowest first ("." is host/ itself);
#   BUILDDIR/host/<layer>/.libs/libes_<layer>.a are the layers' libraries
#   and BUILDDIR/host/*.o the objects of host/ itself.
set -u
src=${1:?usage: check-layers.sh SRCDIR [BUILDDIR]}
build=${2:-}
layers_file="$src/host/LAYERS"
[ -r "$layers_file" ] || { echo "check-layers: no $layers_file" >&2; exit 2; }
layers=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$layers_file")
NM=${NM:-nm}

# rank LAYER: its position in LAYERS (1 = lowest), empty when not a layer.
rank() {
	echo "$layers" | awk -v l="$1" '$1 == l { print NR; exit }'
}

status=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-layers-XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# ---- 1. includes ----
for layer in $layers; do
	dir="$src/host/$layer"
	[ "$layer" = . ] && dir="$src/host"
	r=$(rank "$layer")
	for file in "$dir"/*.c "$dir"/*.h; do
		[ -f "$file" ] || continue
		sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file" | while read -r inc; do
			case $inc in
			config.h) continue ;; # the build's, from configure
			*/*)
				target=${inc%%/*}
				tr=$(rank "$target")
				if [ -z "$tr" ]; then
					continue # not a layer of host/ (the SDK's event-system/...)
				fi
				if [ "$tr" -gt "$r" ]; then
					echo "back edge: ${file#"$src"/} includes \"$inc\" (layer $target is above $layer)"
					echo x >>"$tmp/failed"
				fi
				;;
			*)
				if [ ! -f "$dir/$inc" ]; then
					echo "bad include: ${file#"$src"/} includes \"$inc\", which is not in its folder (name the layer: \"layer/$inc\")"
					echo x >>"$tmp/failed"
				fi
				;;
			esac
		done
	done
done

# ---- 2. symbols ----
if [ -n "$build" ]; then
	for layer in $layers; do
		if [ "$layer" = . ]; then
			set -- "$build"/host/*.o
		else
			set -- "$build/host/$layer/.libs/libes_$layer.a"
		fi
		[ -f "$1" ] || { echo "check-layers: $1 not built" >&2; exit 2; }
		# defined: "layer symbol"; undefined: "layer symbol"
		"$NM" -P -g --defined-only "$@" 2>/dev/null | awk -v l="$layer" 'NF >= 2 && $1 !~ /:$/ { print l, $1 }' >>"$tmp/defined"
		"$NM" -P -g --undefined-only "$@" 2>/dev/null | awk -v l="$layer" 'NF >= 2 && $1 !~ /:$/ { print l, $1 }' >>"$tmp/undefined"
	done
	ranks=$(echo "$layers" | awk '{ printf "%s%s=%d", (NR > 1 ? " " : ""), $1, NR }')
	awk -v ranks="$ranks" '
		BEGIN { n = split(ranks, a, " "); for (i = 1; i <= n; i++) { split(a[i], kv, "="); rank[kv[1]] = kv[2] } }
		FNR == NR { if (!($2 in owner)) owner[$2] = $1; next }
		($2 in owner) && rank[owner[$2]] > rank[$1] {
			printf "back edge: layer %s calls %s, defined in layer %s above it\n", $1, $2, owner[$2]
			bad = 1
		}
		END { exit bad }' "$tmp/defined" "$tmp/undefined" || echo x >>"$tmp/failed"
fi

# ---- 3. no cycle between the files of one folder ----
# An edge "a b": file a (a.c or a.h) needs file b.  Two folders still have
# cycles, written down here until they are broken: db/ (database.c and the
# writer and reader threads call each other through db_internal.h) and
# http/ (http_api.c dispatches to the handlers, which call its helpers in
# http_api_internal.h).
cycles_known=${CHECK_LAYERS_CYCLES_KNOWN-"db http"}
for layer in $layers; do
	[ "$layer" = . ] && continue
	case " $cycles_known " in *" $layer "*) continue ;; esac
	dir="$src/host/$layer"
	: >"$tmp/edges"
	for file in "$dir"/*.c "$dir"/*.h; do
		[ -f "$file" ] || continue
		from=$(basename "$file")
		from=${from%.*}
		sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file" | while read -r inc; do
			case $inc in
			"$layer"/*) to=${inc#"$layer"/} ;;
			*/* | config.h) continue ;;
			*) to=$inc ;;
			esac
			to=${to%.h}
			[ "$to" != "$from" ] && echo "$from $to" >>"$tmp/edges"
		done
	done
	lib="$build/host/$layer/.libs/libes_$layer.a"
	if [ -n "$build" ] && [ -f "$lib" ]; then
		# "object symbol" for what each object defines and leaves undefined
		"$NM" -A -P -g --defined-only "$lib" 2>/dev/null |
			sed -n 's/^.*\[\(.*\)\.o\]: \([^ ]*\) .*/\1 \2/p' | sed 's/^[^ ]*_la-//' >"$tmp/obj_defined"
		"$NM" -A -P -g --undefined-only "$lib" 2>/dev/null |
			sed -n 's/^.*\[\(.*\)\.o\]: \([^ ]*\) .*/\1 \2/p' | sed 's/^[^ ]*_la-//' >"$tmp/obj_undefined"
		awk 'FNR == NR { owner[$2] = $1; next } ($2 in owner) && owner[$2] != $1 { print $1, owner[$2] }' \
			"$tmp/obj_defined" "$tmp/obj_undefined" >>"$tmp/edges"
	fi
	sort -u "$tmp/edges" -o "$tmp/edges"
	if ! tsort "$tmp/edges" >/dev/null 2>"$tmp/loop"; then
		loop=$(sed -n 's/^tsort: \([^ ]*\)$/\1/p' "$tmp/loop" | sort -u | tr '\n' ' ')
		echo "cycle in host/$layer/: ${loop% } need each other (break it with a function pointer from the owner)"
		echo x >>"$tmp/failed"
	fi
done

if [ -f "$tmp/failed" ]; then
	echo "check-layers: the layer rule of host/LAYERS is broken (see docs/internals.md)"
	status=1
fi
exit $status
