/*
 * DSN parsing.  Unknown query parameters are accepted and ignored except
 * `charset`, so DSNs written for other MySQL clients keep working.
 */
#include "config.h"

#include "util/dsn.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copy [start, start+len) into dst (of dst_size); -1 when it does not fit. */
static int copy_part(char *dst, size_t dst_size, const char *start, size_t len)
{
	if (len >= dst_size)
		return -1;
	memcpy(dst, start, len);
	dst[len] = '\0';
	return 0;
}

static int parse_port(const char *s, size_t len, uint16_t *out)
{
	if (len == 0 || len > 5)
		return -1;
	unsigned v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* host[:port] */
static int parse_host_port(const char *s, size_t len, dsn *out)
{
	const char *colon = memchr(s, ':', len);
	size_t host_len = colon ? (size_t)(colon - s) : len;
	if (host_len == 0 || copy_part(out->host, sizeof out->host, s, host_len))
		return -1;
	if (colon && parse_port(colon + 1, len - host_len - 1, &out->port))
		return -1;
	return 0;
}

static int parse_query(const char *q, dsn *out)
{
	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		if (len > 8 && strncmp(q, "charset=", 8) == 0 && copy_part(out->charset, sizeof out->charset, q + 8, len - 8))
			return -1;
		q = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* Where the credentials end: the '@' before the address.  A password may
 * contain any character, '@', '/', '(' and ':' included, so this is the
 * LAST "@tcp(" or "@unix(" (Go form) or the last '@' before the query
 * (URL form); NULL when there are no credentials.  Parsing and redaction
 * both use it, so whatever is parsed as the password is what is hidden. */
static const char *credentials_end(const char *p, bool url_form)
{
	const char *at = NULL;
	if (url_form) {
		const char *query = strchr(p, '?');
		for (const char *s = p; *s && (!query || s < query); s++)
			if (*s == '@')
				at = s;
		return at;
	}
	for (const char *s = p; (s = strchr(s, '@')) != NULL; s++)
		if (strncmp(s, "@tcp(", 5) == 0 || strncmp(s, "@unix(", 6) == 0)
			at = s;
	return at;
}

int dsn_parse(const char *text, dsn *out, char *err, size_t err_size)
{
	memset(out, 0, sizeof *out);
	out->port = 3306;
	strcpy(out->charset, "utf8mb4");
	if (!text || !*text) {
		snprintf(err, err_size, "empty DSN");
		return -1;
	}

	bool url_form = strncmp(text, "mysql://", 8) == 0;
	const char *p = url_form ? text + 8 : text;
	const char *at = credentials_end(p, url_form);
	if (!url_form && !at) {
		snprintf(err, err_size, "expected user:password@tcp(host:port)/database, "
		                        "user:password@unix(/path)/database or mysql://user:password@host:port/database");
		return -1;
	}
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		size_t user_len = colon ? (size_t)(colon - p) : (size_t)(at - p);
		if (copy_part(out->user, sizeof out->user, p, user_len) ||
		    (colon && copy_part(out->password, sizeof out->password, colon + 1, (size_t)(at - colon - 1)))) {
			snprintf(err, err_size, "user name or password too long");
			return -1;
		}
		p = at + 1;
	}

	const char *slash;
	if (url_form) {
		slash = strchr(p, '/');
		if (parse_host_port(p, slash ? (size_t)(slash - p) : strlen(p), out)) {
			snprintf(err, err_size, "invalid host or port in DSN");
			return -1;
		}
	} else {
		bool is_unix = strncmp(p, "unix(", 5) == 0;
		const char *open = p + (is_unix ? 5 : 4);
		const char *close = strchr(open, ')');
		if (!close) {
			snprintf(err, err_size, "missing ')' after the address in DSN");
			return -1;
		}
		if (is_unix) {
			if (close == open || copy_part(out->socket_path, sizeof out->socket_path, open, (size_t)(close - open))) {
				snprintf(err, err_size, "invalid socket path in DSN");
				return -1;
			}
		} else if (parse_host_port(open, (size_t)(close - open), out)) {
			snprintf(err, err_size, "invalid host or port in DSN");
			return -1;
		}
		slash = close[1] == '/' ? close + 1 : NULL;
	}
	if (!slash || !slash[1] || slash[1] == '?') {
		snprintf(err, err_size, "no database name in DSN (expected .../event_system)");
		return -1;
	}
	const char *db = slash + 1;
	const char *q = strchr(db, '?');
	if (copy_part(out->database, sizeof out->database, db, q ? (size_t)(q - db) : strlen(db))) {
		snprintf(err, err_size, "database name too long");
		return -1;
	}
	if (parse_query(q ? q + 1 : NULL, out)) {
		snprintf(err, err_size, "invalid charset in DSN");
		return -1;
	}
	return 0;
}

void dsn_redact(const char *text, char *out, size_t out_size)
{
	if (!out_size)
		return;
	out[0] = '\0';
	if (!text)
		return;
	bool url_form = strncmp(text, "mysql://", 8) == 0;
	const char *start = url_form ? text + 8 : text;
	const char *at = credentials_end(start, url_form);
	const char *colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
	if (!colon) {
		snprintf(out, out_size, "%s", text);
		return;
	}
	snprintf(out, out_size, "%.*s:***%s", (int)(colon - text), text, at);
}
