#!/bin/sh
# The key reference of the docs lists exactly the config's keys: the keys
# the daemon's table has (a dump from tests/helpers/config_keys, one key a
# line, the path first) against
#   - docs/configuration.md, section "## Keys": the first cell of each table
#     row, every `key` in it; under a "### ..." heading, each key is written
#     relative to the `prefix`es the heading names in backquotes;
#   - man/event-system.yaml.5, section KEYS: each ".TP" item's ".B key",
#     relative to the prefixes its ".SS" heading names (split on ", " and
#     " and "; \fIname\fR is <name>).
# Sections themselves (paths without a dot) are not keys.  Exit status 1
# names each key missing from a document and each one the table lacks.
#
# Usage: check-config-docs.sh DUMP CONFIGURATION_MD MAN_PAGE
set -u
dump=${1:?usage: check-config-docs.sh DUMP CONFIGURATION_MD MAN_PAGE}
md=${2:?usage}
man=${3:?usage}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-config-docs-XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

cut -f1 "$dump" | grep '\.' | sort -u >"$tmp/table"
[ -s "$tmp/table" ] || { echo "check-config-docs: no keys in $dump" >&2; exit 2; }

awk '
	/^## / { in_keys = ($0 ~ /^## Keys/); prefixes = ""; next }
	!in_keys { next }
	/^### / {
		prefixes = ""
		line = $0
		while (match(line, /`[^`]*`/)) {
			prefixes = prefixes " " substr(line, RSTART + 1, RLENGTH - 2)
			line = substr(line, RSTART + RLENGTH)
		}
		next
	}
	/^\| *`/ {
		split($0, cells, "|")
		cell = cells[2]
		while (match(cell, /`[^`]*`/)) {
			key = substr(cell, RSTART + 1, RLENGTH - 2)
			cell = substr(cell, RSTART + RLENGTH)
			if (prefixes == "") { print key; continue }
			n = split(prefixes, p, " ")
			for (i = 1; i <= n; i++) print p[i] "." key
		}
	}
' "$md" | sort -u >"$tmp/md"

awk '
	/^\.SH / { in_keys = ($0 ~ /^\.SH KEYS/); next }
	!in_keys { next }
	/^\.SS / {
		line = substr($0, 5)
		gsub(/"/, "", line)
		gsub(/\\fI/, "<", line); gsub(/\\fR/, ">", line)
		gsub(/ and /, ", ", line)
		np = split(line, p, ", ")
		next
	}
	/^\.TP/ { item = 1; next }
	item && /^\.B / {
		key = substr($0, 4)
		gsub(/"/, "", key)
		for (i = 1; i <= np; i++) print p[i] "." key
		item = 0
		next
	}
	{ item = 0 }
' "$man" | sort -u >"$tmp/man"

status=0
for doc in md man; do
	name=$md
	[ $doc = man ] && name=$man
	comm -23 "$tmp/table" "$tmp/$doc" | while read -r key; do
		echo "missing: $name does not list the key $key"
	done
	comm -13 "$tmp/table" "$tmp/$doc" | while read -r key; do
		echo "unknown: $name lists $key, which is not a key of the config"
	done
	if ! cmp -s "$tmp/table" "$tmp/$doc"; then
		status=1
	fi
done
exit $status
