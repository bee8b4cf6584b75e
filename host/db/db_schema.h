/*
 * The database schema's version and its forward migrations.  The
 * migrations are sql/migrations/NNNN_name.sql, compiled into the binary
 * (db_migrations.c is generated from them), so a binary always knows the
 * schema it needs and how to get there; sql/schema.sql is all of them
 * applied.
 */
#ifndef ES_DB_SCHEMA_H
#define ES_DB_SCHEMA_H

#include <stddef.h>

#include "db/db_conn.h"

typedef struct db_migration {
	unsigned version;
	const char *name;
	const char *sql; /* statements separated by ';' at the end of a line */
} db_migration;

extern const db_migration db_migrations[];
extern const size_t db_migration_count;

/* The version this build needs: the last migration's. */
unsigned db_schema_wanted(void);
/* The database's version (0: no schema at all); -1 on error. */
int db_schema_version(db_conn *conn);
/* Apply every migration newer than the database's version, in order,
 * recording each; `progress` (may be NULL) is told of each one.  0 on
 * success; -1 with the failing migration and error in err. */
int db_schema_migrate(db_conn *conn, void (*progress)(const db_migration *m, void *arg), void *arg, char *err,
                      size_t err_size);
/* Whether the schema can be used by this build: 0 yes; -1 with the reason
 * (and what to do) in err.  A newer schema is accepted (migrations only add). */
int db_schema_check(db_conn *conn, char *err, size_t err_size);

#endif
