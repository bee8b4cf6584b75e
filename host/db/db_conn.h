/*
 * One MySQL/MariaDB connection, as every database thread opens it: from a
 * parsed DSN, with connect/read/write timeouts, utf8mb4 and UTC session
 * time, plus the SQL text builder they share.
 *
 * Ownership: a db_conn belongs to the one thread that opened it (the
 * client library is not safe for concurrent use of one connection).
 * Error messages are the server's or the client's text; neither ever
 * contains the password.
 */
#ifndef ES_DB_CONN_H
#define ES_DB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mysql.h>

#include "util/dsn.h"

typedef struct db_conn {
	MYSQL *mysql;      /* NULL when not connected */
	char error[512];   /* the last failure, for logs and /health */
	unsigned error_code;
	size_t max_packet; /* the server's max_allowed_packet: no statement may be larger */
} db_conn;

typedef struct db_timeouts {
	uint32_t connect_ms;
	uint32_t query_ms; /* read and write */
} db_timeouts;

/* 0 connected; -1 with conn->error set. */
int db_connect(db_conn *conn, const dsn *where, const db_timeouts *timeouts);
void db_close(db_conn *conn);
/* Run one statement (results, if any, are discarded).  0 or -1. */
int db_exec(db_conn *conn, const char *sql, size_t len);
static inline int db_execs(db_conn *conn, const char *sql)
{
	return db_exec(conn, sql, __builtin_strlen(sql));
}
/* Run a query and keep its result (NULL with conn->error on failure, or
 * when it returned no result set). */
MYSQL_RES *db_query(db_conn *conn, const char *sql, size_t len);
/* Whether the last error means the connection is gone (reconnect) rather
 * than that the statement was wrong. */
bool db_error_is_connection(const db_conn *conn);
/* Whether the last error means the server takes no writes for now, from
 * anyone: read-only (a failover), the schema or the user's privileges
 * changed under us, out of space, a storage engine or statement timeout.
 * Every record would fail alike, so none is to blame: the records wait, as
 * for a lost connection, until the server takes writes again. */
bool db_error_refuses_writes(const db_conn *conn);
/* Whether the last error was a lock conflict with another transaction
 * (deadlock, lock wait timeout): the same round may pass when run again. */
bool db_error_is_lock_conflict(const db_conn *conn);

/* A growing SQL text. */
typedef struct sqlbuf {
	char *data;
	size_t len, cap;
	bool failed; /* out of memory: the text is incomplete */
} sqlbuf;

void sqlbuf_reset(sqlbuf *b);
void sqlbuf_free(sqlbuf *b);
void sqlbuf_add(sqlbuf *b, const char *text, size_t len);
void sqlbuf_adds(sqlbuf *b, const char *text);
void sqlbuf_addf(sqlbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A quoted, escaped string literal ('...'), or NULL for a NULL text. */
void sqlbuf_add_string(sqlbuf *b, db_conn *conn, const char *text, size_t len);
/* A DATETIME(6) literal ('YYYY-MM-DD HH:MM:SS.ffffff', UTC) of a realtime
 * in microseconds. */
void sqlbuf_add_time(sqlbuf *b, int64_t realtime_us);

/* Parse 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC) into microseconds; 0 if bad. */
int64_t db_parse_time(const char *text);
/* ISO 8601 UTC text of a DATETIME column value, into out[40]. */
void db_format_iso(const char *datetime, char out[40]);

#endif
