/*
 * Schema version and migrations: see db_schema.h.
 */
#include "config.h"

#include "db/db_schema.h"

#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned db_schema_wanted(void)
{
	return db_migration_count ? db_migrations[db_migration_count - 1].version : 0;
}

int db_schema_version(db_conn *conn)
{
	static const char q[] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";
	MYSQL_RES *res = db_query(conn, q, sizeof q - 1);
	if (!res)
		return conn->error_code == ER_NO_SUCH_TABLE ? 0 : -1;
	MYSQL_ROW row = mysql_fetch_row(res);
	int v = row && row[0] ? atoi(row[0]) : 0;
	mysql_free_result(res);
	return v;
}

/* Run a migration's statements one by one: each ends with ';' at the end
 * of a line; lines starting with "--" are comments. */
static int run_statements(db_conn *conn, const char *sql, char *err, size_t err_size)
{
	sqlbuf stmt = {0};
	const char *p = sql;
	int rc = 0;
	while (*p && rc == 0) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *line = p;
		p = eol ? eol + 1 : p + len;
		size_t skip = strspn(line, " \t");
		if (len - (skip < len ? skip : len) == 0 || strncmp(line + skip, "--", 2) == 0)
			continue;
		sqlbuf_add(&stmt, line, len);
		sqlbuf_add(&stmt, "\n", 1);
		while (len && (line[len - 1] == ' ' || line[len - 1] == '\r'))
			len--;
		if (len && line[len - 1] == ';') {
			if (stmt.failed || db_exec(conn, stmt.data, stmt.len) != 0) {
				snprintf(err, err_size, "%s", stmt.failed ? "out of memory" : conn->error);
				rc = -1;
			}
			sqlbuf_reset(&stmt);
		}
	}
	sqlbuf_free(&stmt);
	return rc;
}

int db_schema_migrate(db_conn *conn, void (*progress)(const db_migration *, void *), void *arg, char *err,
                      size_t err_size)
{
	int have = db_schema_version(conn);
	if (have < 0) {
		snprintf(err, err_size, "cannot read the schema version: %s", conn->error);
		return -1;
	}
	for (size_t i = 0; i < db_migration_count; i++) {
		const db_migration *m = &db_migrations[i];
		if (m->version <= (unsigned)have)
			continue;
		char why[600];
		if (run_statements(conn, m->sql, why, sizeof why) != 0) {
			snprintf(err, err_size, "migration %04u_%s failed: %s", m->version, m->name, why);
			return -1;
		}
		sqlbuf b = {0};
		sqlbuf_addf(&b, "INSERT INTO schema_migrations (version, name) VALUES (%u, ", m->version);
		sqlbuf_add_string(&b, conn, m->name, strlen(m->name));
		sqlbuf_adds(&b, ")");
		int rc = b.failed ? -1 : db_exec(conn, b.data, b.len);
		sqlbuf_free(&b);
		if (rc != 0) {
			snprintf(err, err_size, "migration %04u_%s applied but not recorded: %s", m->version, m->name,
			         conn->error);
			return -1;
		}
		if (progress)
			progress(m, arg);
	}
	return 0;
}

int db_schema_check(db_conn *conn, char *err, size_t err_size)
{
	int have = db_schema_version(conn);
	unsigned want = db_schema_wanted();
	if (have < 0) {
		snprintf(err, err_size, "cannot read the schema version: %s", conn->error);
		return -1;
	}
	if (have == 0) {
		snprintf(err, err_size,
		         "the database has no event-system schema: run `event-system --migrate` (or load sql/schema.sql), "
		         "or set database.migrate_on_start");
		return -1;
	}
	if ((unsigned)have < want) {
		snprintf(err, err_size,
		         "the database schema is version %d and this build needs %u: run `event-system --migrate`, "
		         "or set database.migrate_on_start",
		         have, want);
		return -1;
	}
	return 0;
}
