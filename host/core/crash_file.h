/*
 * The crash file and the crash history: what one crash record says and how
 * it is written and read back.
 *
 * The crash file (`<state directory>/crash`) is written by the fatal-signal
 * handler (crash_report.c), so its format is built with async-signal-safe
 * code: one "key value" per line between a magic first line and an end
 * line, every value but numbers and the plugin name escaped (crash_escape):
 * a space or a newline in an event id, a signal or a file identity must
 * neither shift a history line's fields nor break a line.  A file without its end line
 * was cut short (the machine lost power while it was written) and is
 * refused, as is anything else that does not parse: the reader logs it and
 * moves it aside.
 *
 * The crash history (`<state directory>/crash-history`) is the host's own:
 * one line per crash or release, appended and fsync'd.  crash_ledger.c
 * decides quarantines from it.
 */
#ifndef ES_CRASH_FILE_H
#define ES_CRASH_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define CRASH_FILE_MAGIC "event-system-crash 1"
#define CRASH_FILE_END "end"
#define CRASH_FILE_MAX 4096 /* a larger file is not one the handler wrote */

typedef struct crash_record {
	char plugin[65];
	char file_id[96];   /* the plugin file's identity, "" when unknown */
	char event_id[257]; /* "" when unknown */
	uint64_t seq;       /* the event's database key, 0 when none */
	uint32_t attempt;
	char signal[16];    /* "SIGSEGV", ... or "exit" (a child that exited) */
	int64_t at_us;      /* realtime */
} crash_record;

/* "SIGSEGV" and the like; async-signal-safe. */
const char *crash_signal_name(int sig);

/* Append `s` to buf[len..cap) with every byte outside '!'..'~' and '%'
 * written as %XX; "-" for NULL or "".  Returns the new length (always
 * leaves room for a NUL, which it does not write).  Async-signal-safe. */
size_t crash_escape(char *buf, size_t len, size_t cap, const char *s);
/* Undo crash_escape into out (NUL-terminated); false when malformed or too
 * long. */
bool crash_unescape(const char *s, char *out, size_t out_size);

/* The identity of a plugin file: device, inode, size and mtime.  A file
 * replaced by the operator has another one. */
void crash_file_identity(const struct stat *st, char *out, size_t out_size);

/* Parse a crash file's contents (text, len bytes).  0, or -1 with why. */
int crash_file_parse(const char *text, size_t len, crash_record *out, char *why, size_t why_size);

/* One history line (with its newline) for a crash / a release. */
void crash_history_format_crash(const crash_record *r, char *out, size_t out_size);
void crash_history_format_release(int64_t at_us, const char *plugin, const char *by, const char *reason, char *out,
                                  size_t out_size);

typedef enum history_kind { HISTORY_BAD = 0, HISTORY_CRASH, HISTORY_RELEASE } history_kind;
/* Parse one history line (without its newline).  A release fills
 * r->plugin and r->at_us only. */
history_kind crash_history_parse(const char *line, crash_record *r);

#endif
