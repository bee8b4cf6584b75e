/*
 * Connections and SQL text: see db_conn.h.
 */
#include "config.h"

#include "db/db_conn.h"

#include "model/es_event.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void take_error(db_conn *conn)
{
	conn->error_code = conn->mysql ? mysql_errno(conn->mysql) : CR_OUT_OF_MEMORY;
	snprintf(conn->error, sizeof conn->error, "%s", conn->mysql ? mysql_error(conn->mysql) : "out of memory");
}

int db_connect(db_conn *conn, const dsn *where, const db_timeouts *t)
{
	db_close(conn);
	conn->mysql = mysql_init(NULL);
	if (!conn->mysql) {
		take_error(conn);
		return -1;
	}
	/* The client library counts these in whole seconds. */
	unsigned connect_s = (t->connect_ms + 999) / 1000, query_s = (t->query_ms + 999) / 1000;
	mysql_options(conn->mysql, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
	mysql_options(conn->mysql, MYSQL_OPT_READ_TIMEOUT, &query_s);
	mysql_options(conn->mysql, MYSQL_OPT_WRITE_TIMEOUT, &query_s);
	mysql_options(conn->mysql, MYSQL_SET_CHARSET_NAME, where->charset[0] ? where->charset : "utf8mb4");
	/* Automatic reconnection stays off (the default): the threads reconnect
	 * themselves, so they know the session was lost. */
	const char *host = where->socket_path[0] ? "localhost" : where->host;
	if (!mysql_real_connect(conn->mysql, host, where->user, where->password, where->database, where->port,
	                        where->socket_path[0] ? where->socket_path : NULL, 0)) {
		take_error(conn);
		mysql_close(conn->mysql);
		conn->mysql = NULL;
		return -1;
	}
	/* Times are written and read as UTC, whatever the server's zone. */
	if (db_execs(conn, "SET time_zone = '+00:00'") != 0) {
		mysql_close(conn->mysql);
		conn->mysql = NULL;
		return -1;
	}
	/* A statement over max_allowed_packet makes the server drop the
	 * connection: the writers keep under it. */
	static const char q[] = "SELECT @@max_allowed_packet";
	MYSQL_RES *res = db_query(conn, q, sizeof q - 1);
	MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
	conn->max_packet = row && row[0] ? (size_t)strtoull(row[0], NULL, 10) : 1u << 20;
	if (res)
		mysql_free_result(res);
	conn->error[0] = '\0';
	conn->error_code = 0;
	return 0;
}

void db_close(db_conn *conn)
{
	if (conn->mysql)
		mysql_close(conn->mysql);
	conn->mysql = NULL;
}

int db_exec(db_conn *conn, const char *sql, size_t len)
{
	if (!conn->mysql) {
		conn->error_code = CR_SERVER_GONE_ERROR;
		snprintf(conn->error, sizeof conn->error, "not connected");
		return -1;
	}
	if (mysql_real_query(conn->mysql, sql, len) != 0) {
		take_error(conn);
		return -1;
	}
	/* Drain every result (a statement may return one). */
	do {
		MYSQL_RES *res = mysql_store_result(conn->mysql);
		if (res)
			mysql_free_result(res);
	} while (mysql_next_result(conn->mysql) == 0);
	return 0;
}

MYSQL_RES *db_query(db_conn *conn, const char *sql, size_t len)
{
	if (!conn->mysql) {
		conn->error_code = CR_SERVER_GONE_ERROR;
		snprintf(conn->error, sizeof conn->error, "not connected");
		return NULL;
	}
	if (mysql_real_query(conn->mysql, sql, len) != 0) {
		take_error(conn);
		return NULL;
	}
	MYSQL_RES *res = mysql_store_result(conn->mysql);
	if (!res && mysql_errno(conn->mysql) != 0)
		take_error(conn);
	return res;
}

bool db_error_is_connection(const db_conn *conn)
{
	unsigned e = conn->error_code;
	if (!conn->mysql)
		return true;
	/* Client-side errors (20xx) are about the link; these server errors
	 * mean the server is going away or dropped us. */
	return (e >= 2000 && e < 3000) || e == ER_SERVER_SHUTDOWN || e == ER_CON_COUNT_ERROR || e == 1927 /* connection killed */ ||
	       e == 4031 /* disconnected for inactivity (MySQL 8) */ || e == ER_QUERY_INTERRUPTED;
}

bool db_error_refuses_writes(const db_conn *conn)
{
	switch (conn->error_code) {
	case ER_OPTION_PREVENTS_STATEMENT: /* read_only, super_read_only */
	case ER_READ_ONLY_MODE:
	case ER_NO_SUCH_TABLE:
	case ER_BAD_FIELD_ERROR:
	case ER_TABLEACCESS_DENIED_ERROR:
	case ER_COLUMNACCESS_DENIED_ERROR:
	case ER_DBACCESS_DENIED_ERROR:
	case ER_SPECIFIC_ACCESS_DENIED_ERROR:
	case ER_RECORD_FILE_FULL:
	case ER_DISK_FULL:
	case ER_LOCK_TABLE_FULL:
	case ER_GET_ERRNO:
	case ER_ERROR_ON_WRITE:
	case ER_ERROR_DURING_COMMIT:
	case ER_STATEMENT_TIMEOUT: /* MariaDB's max_statement_time */
	case 3024:                 /* MySQL's max_execution_time */
		return true;
	default:
		return false;
	}
}

bool db_error_is_lock_conflict(const db_conn *conn)
{
	return conn->error_code == ER_LOCK_DEADLOCK || conn->error_code == ER_LOCK_WAIT_TIMEOUT;
}

/* ---- SQL text ---- */

static bool reserve(sqlbuf *b, size_t more)
{
	if (b->failed)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void sqlbuf_reset(sqlbuf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->data)
		b->data[0] = '\0';
}

void sqlbuf_free(sqlbuf *b)
{
	free(b->data);
	*b = (sqlbuf){0};
}

void sqlbuf_add(sqlbuf *b, const char *text, size_t len)
{
	if (!reserve(b, len))
		return;
	memcpy(b->data + b->len, text, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void sqlbuf_adds(sqlbuf *b, const char *text)
{
	sqlbuf_add(b, text, strlen(text));
}

void sqlbuf_addf(sqlbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char small[256];
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		sqlbuf_add(b, small, (size_t)n);
		return;
	}
	if (!reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sqlbuf_add_string(sqlbuf *b, db_conn *conn, const char *text, size_t len)
{
	if (!text) {
		sqlbuf_adds(b, "NULL");
		return;
	}
	if (!reserve(b, len * 2 + 3))
		return;
	b->data[b->len++] = '\'';
	b->len += mysql_real_escape_string(conn->mysql, b->data + b->len, text, (unsigned long)len);
	b->data[b->len++] = '\'';
	b->data[b->len] = '\0';
}

void sqlbuf_add_time(sqlbuf *b, int64_t us)
{
	/* '2026-11-26 10:00:00.000000': the RFC 3339 text without T and Z */
	char text[40];
	es_event_format_time(us, text);
	text[10] = ' ';
	text[strlen(text) - 1] = '\'';
	sqlbuf_add(b, "'", 1);
	sqlbuf_adds(b, text);
}

int64_t db_parse_time(const char *text)
{
	struct tm tm = {0};
	unsigned long frac = 0;
	int consumed = 0;
	if (!text || sscanf(text, "%d-%d-%d %d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	                    &tm.tm_sec, &consumed) != 6)
		return 0;
	if (text[consumed] == '.') {
		const char *p = text + consumed + 1;
		int digits = 0;
		while (*p >= '0' && *p <= '9' && digits < 6) {
			frac = frac * 10 + (unsigned long)(*p++ - '0');
			digits++;
		}
		while (digits++ < 6)
			frac *= 10;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000000 + (int64_t)frac;
}

void db_format_iso(const char *datetime, char out[40])
{
	es_event_format_time(db_parse_time(datetime), out);
}
