/*
 * Logging to stderr in text or JSON lines.  Level and format live in atomics
 * so a reload can change them while worker threads log.
 */
#include "config.h"

#include "util/log.h"

#include "util/json_strict.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int current_level = LOG_LEVEL_INFO;
static _Atomic int current_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_configure(log_level level, log_format format)
{
	atomic_store(&current_level, (int)level);
	atomic_store(&current_format, (int)format);
}

log_level log_current_level(void)
{
	return (log_level)atomic_load_explicit(&current_level, memory_order_relaxed);
}

log_format log_current_format(void)
{
	return (log_format)atomic_load_explicit(&current_format, memory_order_relaxed);
}

bool log_enabled(log_level level)
{
	return (int)level <= atomic_load_explicit(&current_level, memory_order_relaxed);
}

const char *log_level_name(log_level level)
{
	return (unsigned)level < 4 ? level_names[level] : "?";
}

bool log_level_parse(const char *text, log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(text, level_names[i]) == 0) {
			*out = (log_level)i;
			return true;
		}
	}
	if (strcasecmp(text, "warning") == 0) {
		*out = LOG_LEVEL_WARN;
		return true;
	}
	return false;
}

bool log_format_parse(const char *text, log_format *out)
{
	if (strcasecmp(text, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcasecmp(text, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return false;
	return true;
}

static const char hex_digits[] = "0123456789abcdef";

/* Bytes that are not part of valid UTF-8 (a request path, a header value)
 * are written as the text \xNN, so every line is valid UTF-8. */
static size_t append_byte_text(char *buf, size_t len, unsigned char c, bool json)
{
	buf[len++] = '\\';
	if (json)
		buf[len++] = '\\'; /* the JSON string holds a backslash */
	buf[len++] = 'x';
	buf[len++] = hex_digits[c >> 4];
	buf[len++] = hex_digits[c & 15];
	return len;
}

/* Append `s` to buf as the inside of a JSON string; returns new length. */
static size_t append_json_escaped(char *buf, size_t len, size_t cap, const char *s)
{
	size_t left = strlen(s);
	while (left && len + 7 < cap) {
		unsigned char c = (unsigned char)*s;
		size_t n = 1;
		if (c == '"' || c == '\\') {
			buf[len++] = '\\';
			buf[len++] = (char)c;
		} else if (c == '\n') {
			buf[len++] = '\\';
			buf[len++] = 'n';
		} else if (c < 0x20) {
			len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
		} else if (c < 0x80) {
			buf[len++] = (char)c;
		} else if ((n = utf8_sequence_length(s, left)) == 0) {
			n = 1;
			len = append_byte_text(buf, len, c, true);
		} else {
			memcpy(buf + len, s, n); /* n <= 4: room is kept */
			len += n;
		}
		s += n;
		left -= n;
	}
	return len;
}

/* Append `s` to buf for a text line: control bytes (and DEL) and bytes
 * that are not valid UTF-8 become \xNN, so text from clients (request
 * paths, event names, header values) cannot end the line, forge another
 * one or drive a terminal.  Returns new length. */
static size_t append_text_escaped(char *buf, size_t len, size_t cap, const char *s)
{
	size_t left = strlen(s);
	while (left && len + 5 < cap) {
		unsigned char c = (unsigned char)*s;
		size_t n = 1;
		if (c < 0x20 || c == 0x7f) {
			len = append_byte_text(buf, len, c, false);
		} else if (c < 0x80) {
			buf[len++] = (char)c;
		} else if ((n = utf8_sequence_length(s, left)) == 0) {
			n = 1;
			len = append_byte_text(buf, len, c, false);
		} else {
			if (len + n + 1 >= cap)
				break;
			memcpy(buf + len, s, n);
			len += n;
		}
		s += n;
		left -= n;
	}
	return len;
}

static size_t format_line(char *line, size_t cap, log_level level, const char *subsystem, const char *fmt,
                          va_list ap) __attribute__((format(printf, 4, 0)));

static size_t format_line(char *line, size_t cap, log_level level, const char *subsystem, const char *fmt,
                          va_list ap)
{
	char message[2048];
	vsnprintf(message, sizeof message, fmt, ap);

	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	char stamp[40];
	size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

	size_t len;
	if (atomic_load_explicit(&current_format, memory_order_relaxed) == LOG_FORMAT_JSON) {
		len = (size_t)snprintf(line, cap, "{\"time\":\"%s\",\"level\":\"%s\",\"component\":\"", stamp,
		                       log_level_name(level));
		len = append_json_escaped(line, len, cap, subsystem);
		len += (size_t)snprintf(line + len, cap - len, "\",\"msg\":\"");
		len = append_json_escaped(line, len, cap, message);
		if (len + 3 > cap)
			len = cap - 3;
		line[len++] = '"';
		line[len++] = '}';
		line[len++] = '\n';
	} else {
		len = (size_t)snprintf(line, cap, "%s %-5s [", stamp, log_level_name(level));
		len = append_text_escaped(line, len, cap, subsystem);
		len += (size_t)snprintf(line + len, cap - len, "] ");
		len = append_text_escaped(line, len, cap, message);
		if (len > cap - 2)
			len = cap - 2;
		line[len++] = '\n';
	}
	return len;
}

size_t log_format_line(char *out, size_t out_size, log_level level, const char *subsystem, const char *fmt, ...)
{
	if (!log_enabled(level) || out_size < 64)
		return 0;
	va_list ap;
	va_start(ap, fmt);
	size_t len = format_line(out, out_size, level, subsystem, fmt, ap);
	va_end(ap);
	return len;
}

void log_vwrite(log_level level, const char *subsystem, const char *fmt, va_list ap)
{
	if (!log_enabled(level))
		return;
	char line[4096];
	size_t len = format_line(line, sizeof line, level, subsystem, fmt, ap);
	/* One write: lines from different threads do not interleave. */
	ssize_t ignored = write(STDERR_FILENO, line, len);
	(void)ignored;
}

void log_write(log_level level, const char *subsystem, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(level, subsystem, fmt, ap);
	va_end(ap);
}
