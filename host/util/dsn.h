/*
 * Database DSNs in the forms operators already use:
 *   user:password@tcp(host:3306)/event_system?charset=utf8mb4&parseTime=True&loc=Local
 *   user:password@unix(/run/mysqld/mysqld.sock)/event_system
 *   mysql://user:password@host:3306/event_system?charset=utf8mb4
 * The password may contain any character (`@`, `/`, `(` and `:` included);
 * it ends at the last "@tcp(" / "@unix(", or at the last `@` before the query
 * in the URL form.  The password is a secret: log dsn_redact() output, never
 * the DSN itself.
 */
#ifndef ES_DSN_H
#define ES_DSN_H

#include <stddef.h>
#include <stdint.h>

typedef struct dsn {
	char user[128];
	char password[256];
	char host[256];        /* empty with a unix socket */
	uint16_t port;         /* 3306 when not given */
	char socket_path[256]; /* empty with tcp */
	char database[128];
	char charset[32];      /* "utf8mb4" when not given */
} dsn;

/* 0 on success; otherwise -1 with a message in err (which never contains
 * the password). */
int dsn_parse(const char *text, dsn *out, char *err, size_t err_size);

/* Copy `text` with the password replaced by "***" (whatever its form). */
void dsn_redact(const char *text, char *out, size_t out_size);

#endif
