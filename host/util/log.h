/*
 * Logging: one line per message on stderr (journald collects it), as text or
 * JSON, each line naming its subsystem or plugin.  Thread-safe; a message is
 * written with one write(2) so lines from different threads never interleave.
 *
 * Never pass secrets (DSN passwords, tokens) to these functions: redact first
 * (dsn_redact() in dsn.h).
 */
#ifndef ES_LOG_H
#define ES_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
} log_level;

typedef enum log_format {
	LOG_FORMAT_TEXT = 0,
	LOG_FORMAT_JSON = 1,
} log_format;

/* Applied atomically; safe to call while other threads log (reload). */
void log_configure(log_level level, log_format format);
log_level log_current_level(void);
log_format log_current_format(void);
bool log_enabled(log_level level);

/* Parse "error|warn|info|debug" / "text|json"; false when unknown. */
bool log_level_parse(const char *text, log_level *out);
bool log_format_parse(const char *text, log_format *out);
const char *log_level_name(log_level level);

/* `subsystem` names the part of the host ("loader") or the plugin. */
void log_write(log_level level, const char *subsystem, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vwrite(log_level level, const char *subsystem, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Format one complete line (with its newline) into out, as log_write()
 * would write it; returns its length, 0 when the level is disabled.  For
 * callers that batch lines (the access log). */
size_t log_format_line(char *out, size_t out_size, log_level level, const char *subsystem, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define LOG_ERROR(sub, ...) log_write(LOG_LEVEL_ERROR, (sub), __VA_ARGS__)
#define LOG_WARN(sub, ...) log_write(LOG_LEVEL_WARN, (sub), __VA_ARGS__)
#define LOG_INFO(sub, ...) log_write(LOG_LEVEL_INFO, (sub), __VA_ARGS__)
#define LOG_DEBUG(sub, ...)                                       \
	do {                                                      \
		if (log_enabled(LOG_LEVEL_DEBUG))                 \
			log_write(LOG_LEVEL_DEBUG, (sub), __VA_ARGS__); \
	} while (0)

#endif
