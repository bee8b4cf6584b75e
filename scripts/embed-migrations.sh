#!/bin/sh
# embed-migrations.sh OUT FILE...: write C source holding the migrations
# (sql/migrations/NNNN_name.sql) as db_migrations[], in the order given.
set -eu
out=$1
shift
{
	echo '/* Generated from sql/migrations/ by scripts/embed-migrations.sh: do not edit. */'
	echo '#include "config.h"'
	echo '#include "db/db_schema.h"'
	echo 'const db_migration db_migrations[] = {'
	for f in "$@"; do
		base=$(basename "$f" .sql)
		version=$(expr "${base%%_*}" + 0)
		printf '\t{%s, "%s",\n' "$version" "${base#*_}"
		sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t "/' -e 's/$/\\n"/' "$f"
		printf '\t},\n'
	done
	echo '};'
	echo 'const size_t db_migration_count = sizeof db_migrations / sizeof db_migrations[0];'
} > "$out.tmp"
mv "$out.tmp" "$out"
